// Object identifiers the protocol core understands (RFC 6960, RFC 5280, RFC 8017, RFC 5758, RFC 8410).

export const OID = {
  // OCSP (RFC 6960 §4.4)
  pkixOcspBasic: "1.3.6.1.5.5.7.48.1.1",
  pkixOcspNonce: "1.3.6.1.5.5.7.48.1.2",
  pkixOcspCrl: "1.3.6.1.5.5.7.48.1.3",
  pkixOcspResponse: "1.3.6.1.5.5.7.48.1.4",
  pkixOcspNocheck: "1.3.6.1.5.5.7.48.1.5",
  pkixOcspArchiveCutoff: "1.3.6.1.5.5.7.48.1.6",
  pkixOcspPrefSigAlgs: "1.3.6.1.5.5.7.48.1.8",
  pkixOcspExtendedRevoke: "1.3.6.1.5.5.7.48.1.9",
  adOcsp: "1.3.6.1.5.5.7.48.1",
  kpOcspSigning: "1.3.6.1.5.5.7.3.9",
  // X.509 extensions (RFC 5280 §4.2, RFC 7633)
  basicConstraints: "2.5.29.19",
  keyUsage: "2.5.29.15",
  extKeyUsage: "2.5.29.37",
  authorityInfoAccess: "1.3.6.1.5.5.7.1.1",
  tlsFeature: "1.3.6.1.5.5.7.1.24",
  crlReason: "2.5.29.21",
  invalidityDate: "2.5.29.24",
  certificateIssuer: "2.5.29.29",
  // CRL and CRL entry extensions (RFC 5280 §5.2, §5.3)
  authorityKeyIdentifier: "2.5.29.35",
  crlNumber: "2.5.29.20",
  deltaCrlIndicator: "2.5.29.27",
  issuingDistributionPoint: "2.5.29.28",
  freshestCrl: "2.5.29.46",
  holdInstructionCode: "2.5.29.23",
  // Hashes
  sha1: "1.3.14.3.2.26",
  sha256: "2.16.840.1.101.3.4.2.1",
  sha384: "2.16.840.1.101.3.4.2.2",
  sha512: "2.16.840.1.101.3.4.2.3",
  // Key and signature algorithms
  rsaEncryption: "1.2.840.113549.1.1.1",
  md5WithRSA: "1.2.840.113549.1.1.4",
  sha1WithRSA: "1.2.840.113549.1.1.5",
  rsassaPss: "1.2.840.113549.1.1.10",
  sha256WithRSA: "1.2.840.113549.1.1.11",
  sha384WithRSA: "1.2.840.113549.1.1.12",
  sha512WithRSA: "1.2.840.113549.1.1.13",
  mgf1: "1.2.840.113549.1.1.8",
  ecPublicKey: "1.2.840.10045.2.1",
  ecdsaWithSha256: "1.2.840.10045.4.3.2",
  ecdsaWithSha384: "1.2.840.10045.4.3.3",
  ecdsaWithSha512: "1.2.840.10045.4.3.4",
  p256: "1.2.840.10045.3.1.7",
  p384: "1.3.132.0.34",
  ed25519: "1.3.101.112",
} as const;

/** The CertID hash algorithms the relay can match issuers by (RFC 6960 §4.1.1; RFC 5019 §2.1.1). */
export type HashName = "SHA-1" | "SHA-256" | "SHA-384" | "SHA-512";
export const HASH_NAMES: readonly HashName[] = ["SHA-1", "SHA-256", "SHA-384", "SHA-512"];

const HASH_BY_OID: Record<string, HashName> = {
  [OID.sha1]: "SHA-1",
  [OID.sha256]: "SHA-256",
  [OID.sha384]: "SHA-384",
  [OID.sha512]: "SHA-512",
};
export const HASH_OID: Record<HashName, string> = {
  "SHA-1": OID.sha1,
  "SHA-256": OID.sha256,
  "SHA-384": OID.sha384,
  "SHA-512": OID.sha512,
};

export function hashNameOf(oid: string): HashName | undefined {
  return HASH_BY_OID[oid];
}
