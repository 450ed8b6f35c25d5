// CRLs (RFC 5280 §5.1) and end-entity certificates (§4.1) issued by the fixture CA crl-ca, for
// tests that need what test/fixtures does not hold. WebCrypto only; sha256WithRSAEncryption (RFC 8017 §8.2).

import { AsnConvert, OctetString } from "@peculiar/asn1-schema";
import {
  AccessDescription,
  AlgorithmIdentifier,
  AttributeTypeAndValue,
  AttributeValue,
  AuthorityInfoAccessSyntax,
  AuthorityKeyIdentifier,
  BasicConstraints,
  Certificate,
  CertificateList,
  CRLDistributionPoints,
  CRLReason,
  DistributionPoint,
  DistributionPointName,
  ExtendedKeyUsage,
  Extension,
  Extensions,
  GeneralName,
  id_ad_ocsp,
  id_ce_authorityKeyIdentifier,
  id_ce_basicConstraints,
  id_ce_cRLDistributionPoints,
  id_ce_cRLNumber,
  id_ce_cRLReasons,
  id_ce_extKeyUsage,
  id_ce_issuingDistributionPoint,
  id_ce_keyUsage,
  id_ce_subjectAltName,
  id_ce_subjectKeyIdentifier,
  id_kp_serverAuth,
  id_pe_authorityInfoAccess,
  IssuingDistributionPoint,
  KeyIdentifier,
  KeyUsage,
  KeyUsageFlags,
  Name,
  RelativeDistinguishedName,
  RevokedCertificate,
  SubjectAlternativeName,
  SubjectKeyIdentifier,
  SubjectPublicKeyInfo,
  TBSCertificate,
  TBSCertList,
  Time,
  Validity,
  Version,
} from "@peculiar/asn1-x509";
import * as asn1js from "asn1js";
import { bytesEqual, fromBase64, fromHex, toBase64, u8 } from "../../src/ocsp/bytes.ts";
import { certificate, fixture, text } from "./files.ts";

export interface ForgedRevocation {
  /** The serial's INTEGER content octets in hex, as `serialHex(certificate)` gives them. */
  serial: string;
  time: Date;
  /** CRLReason code (RFC 5280 §5.3.1); no reasonCode entry extension when absent. */
  reason?: number;
}

export interface ForgeCrlOptions {
  /** fullName URI of a critical issuingDistributionPoint (a partitioned CRL); none when absent. */
  idpUrl?: string;
  revoked?: ForgedRevocation[];
  thisUpdate: Date;
  nextUpdate: Date;
  /** cRLNumber (§5.2.3). */
  number: bigint | number;
  /** "other": a key generated here, not crl-ca's (a forged CRL under crl-ca's name). */
  signWith?: "ca" | "other";
}

export interface ForgeLeafOptions {
  /** The serial's INTEGER content octets in hex, as `serialHex(certificate)` gives them. */
  serial: string;
  /** fullName URIs of one CRL distribution point each (§4.2.1.13), in order. */
  crlUrls: string[];
  /** id-ad-ocsp URIs of an authorityInfoAccess (§4.2.2.1); none when absent. */
  ocspUrls?: string[];
  notBefore: Date;
  notAfter: Date;
  subjectCn: string;
}

export interface ForgedLeaf {
  der: Uint8Array;
  pem: string;
}

const CA_CERT = "crls/pki/crl-ca.pem";
const CA_KEY = "crls/pki/crl-ca.key";
const RSA_SHA256 = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" } as const;
/** sha256WithRSAEncryption with its NULL parameters (RFC 4055 §5). */
const SHA256_WITH_RSA = "1.2.840.113549.1.1.11";
const ATTR = { C: "2.5.4.6", O: "2.5.4.10", CN: "2.5.4.3" } as const;

interface IssuingCa {
  /** crl-ca's subject, decoded; it re-encodes to the certificate's exact bytes (checked). */
  name: Name;
  subjectKeyIdentifier: ArrayBuffer;
  key: CryptoKey;
}

let issuingCa: Promise<IssuingCa> | undefined;
let otherKey: Promise<CryptoKey> | undefined;

/** A v2 CRL under crl-ca's name with authorityKeyIdentifier and cRLNumber, signed as asked. */
export async function forgeCrl(o: ForgeCrlOptions): Promise<Uint8Array> {
  const ca = await crlCa();
  const extensions = [
    extension(
      id_ce_authorityKeyIdentifier,
      new AuthorityKeyIdentifier({ keyIdentifier: new KeyIdentifier(ca.subjectKeyIdentifier) }),
    ),
    // CRLNumber ::= INTEGER (0..MAX), up to 20 octets: asn1-x509's CRLNumber holds a JS number,
    // so the INTEGER is encoded from the bigint by asn1js itself.
    new Extension({
      extnID: id_ce_cRLNumber,
      critical: false,
      extnValue: new OctetString(asn1js.Integer.fromBigInt(BigInt(o.number)).toBER()),
    }),
  ];
  if (o.idpUrl !== undefined) {
    const idp = new IssuingDistributionPoint({ distributionPoint: fullName([o.idpUrl]) });
    // §5.2.5: the extension is critical.
    extensions.push(extension(id_ce_issuingDistributionPoint, idp, true));
  }
  const revoked = (o.revoked ?? []).map(
    (r) =>
      new RevokedCertificate({
        userCertificate: serialNumber(r.serial),
        revocationDate: new Time(r.time),
        ...(r.reason === undefined
          ? {}
          : { crlEntryExtensions: [extension(id_ce_cRLReasons, new CRLReason(r.reason))] }),
      }),
  );
  const tbsCertList = new TBSCertList({
    version: Version.v2,
    signature: sha256WithRsa(),
    issuer: ca.name,
    thisUpdate: new Time(o.thisUpdate),
    nextUpdate: new Time(o.nextUpdate),
    ...(revoked.length ? { revokedCertificates: revoked } : {}),
    crlExtensions: extensions,
  });
  const key = o.signWith === "other" ? await forgerKey() : ca.key;
  const signature = await sign(AsnConvert.serialize(tbsCertList), key);
  return u8(
    AsnConvert.serialize(
      new CertificateList({ tbsCertList, signatureAlgorithm: sha256WithRsa(), signature }),
    ),
  );
}

/** An end-entity certificate (TLS server) for a fresh P-256 key, issued and signed by crl-ca. */
export async function forgeLeaf(o: ForgeLeafOptions): Promise<ForgedLeaf> {
  const ca = await crlCa();
  const pair = (await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, [
    "sign",
    "verify",
  ])) as CryptoKeyPair;
  const spki = AsnConvert.parse(
    (await crypto.subtle.exportKey("spki", pair.publicKey)) as ArrayBuffer,
    SubjectPublicKeyInfo,
  );
  // §4.2.1.2 method (1): SHA-1 of the subjectPublicKey BIT STRING value.
  const keyId = await crypto.subtle.digest("SHA-1", spki.subjectPublicKey);

  const extensions = [
    extension(id_ce_basicConstraints, new BasicConstraints({ cA: false }), true),
    extension(id_ce_keyUsage, new KeyUsage(KeyUsageFlags.digitalSignature), true),
    extension(id_ce_extKeyUsage, new ExtendedKeyUsage([id_kp_serverAuth])),
  ];
  if (/^[a-z0-9-]+(\.[a-z0-9-]+)+$/i.test(o.subjectCn)) {
    const san = new SubjectAlternativeName([new GeneralName({ dNSName: o.subjectCn })]);
    extensions.push(extension(id_ce_subjectAltName, san));
  }
  const points = o.crlUrls.map(
    (url) => new DistributionPoint({ distributionPoint: fullName([url]) }),
  );
  extensions.push(extension(id_ce_cRLDistributionPoints, new CRLDistributionPoints(points)));
  if (o.ocspUrls?.length) {
    const aia = o.ocspUrls.map(
      (url) =>
        new AccessDescription({
          accessMethod: id_ad_ocsp,
          accessLocation: new GeneralName({ uniformResourceIdentifier: url }),
        }),
    );
    extensions.push(extension(id_pe_authorityInfoAccess, new AuthorityInfoAccessSyntax(aia)));
  }
  extensions.push(
    extension(id_ce_subjectKeyIdentifier, new SubjectKeyIdentifier(keyId)),
    extension(
      id_ce_authorityKeyIdentifier,
      new AuthorityKeyIdentifier({ keyIdentifier: new KeyIdentifier(ca.subjectKeyIdentifier) }),
    ),
  );

  const tbsCertificate = new TBSCertificate({
    version: Version.v3,
    serialNumber: serialNumber(o.serial),
    signature: sha256WithRsa(),
    issuer: ca.name,
    validity: new Validity({ notBefore: o.notBefore, notAfter: o.notAfter }),
    subject: subjectName(o.subjectCn),
    subjectPublicKeyInfo: spki,
    extensions: new Extensions(extensions),
  });
  const signatureValue = await sign(AsnConvert.serialize(tbsCertificate), ca.key);
  const der = u8(
    AsnConvert.serialize(
      new Certificate({ tbsCertificate, signatureAlgorithm: sha256WithRsa(), signatureValue }),
    ),
  );
  const lines = toBase64(der).match(/.{1,64}/g) ?? [];
  return {
    der,
    pem: `-----BEGIN CERTIFICATE-----\n${lines.join("\n")}\n-----END CERTIFICATE-----\n`,
  };
}

/** crl-ca's signing key (test/support/ocsp-forge.ts signs OCSP answers as crl-ca with it). */
export async function crlCaKey(): Promise<CryptoKey> {
  return (await crlCa()).key;
}

function crlCa(): Promise<IssuingCa> {
  issuingCa ??= loadCrlCa();
  return issuingCa;
}

async function loadCrlCa(): Promise<IssuingCa> {
  const cert = certificate(fixture(CA_CERT));
  // The issuer of what is forged here must be crl-ca's subject byte for byte (§6.3.3 (f) and
  // §6.1.3 (a)(4) compare the DER): refuse a Name that would not re-encode to the same bytes.
  const name = AsnConvert.parse(cert.subject, Name);
  if (!bytesEqual(u8(AsnConvert.serialize(name)), cert.subject)) {
    throw new Error(`${CA_CERT}: the subject Name does not re-encode to its own DER`);
  }
  const ski = cert.extensions.find((e) => e.extnID === id_ce_subjectKeyIdentifier);
  if (!ski) throw new Error(`${CA_CERT} has no subjectKeyIdentifier`);
  const subjectKeyIdentifier = AsnConvert.parse(ski.extnValue.buffer, SubjectKeyIdentifier).buffer;

  // scripts/fixtures/crls.sh makes the key with `openssl genpkey`, which writes PKCS#8, the one
  // private-key form WebCrypto imports.
  const pem = text(fixture(CA_KEY));
  const body = /-----BEGIN PRIVATE KEY-----([\s\S]*?)-----END PRIVATE KEY-----/.exec(pem)?.[1];
  const pkcs8 = body === undefined ? undefined : fromBase64(body.replace(/\s+/g, ""));
  if (!pkcs8) throw new Error(`${CA_KEY} is not a PEM PKCS#8 "PRIVATE KEY"`);
  const key = await crypto.subtle.importKey("pkcs8", pkcs8, RSA_SHA256, false, ["sign"]);
  return { name, subjectKeyIdentifier, key };
}

/** One RSA key per test module for forgeries: generating a 2048-bit key takes a while. */
function forgerKey(): Promise<CryptoKey> {
  otherKey ??= (async () => {
    const pair = (await crypto.subtle.generateKey(
      { ...RSA_SHA256, modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]) },
      false,
      ["sign", "verify"],
    )) as CryptoKeyPair;
    return pair.privateKey;
  })();
  return otherKey;
}

async function sign(tbs: ArrayBuffer, key: CryptoKey): Promise<ArrayBuffer> {
  return crypto.subtle.sign(RSA_SHA256, key, tbs);
}

const sha256WithRsa = () =>
  new AlgorithmIdentifier({ algorithm: SHA256_WITH_RSA, parameters: null });

function extension(extnID: string, value: object, critical = false): Extension {
  return new Extension({
    extnID,
    critical,
    extnValue: new OctetString(AsnConvert.serialize(value)),
  });
}

function fullName(urls: string[]): DistributionPointName {
  return new DistributionPointName({
    fullName: urls.map((uri) => new GeneralName({ uniformResourceIdentifier: uri })),
  });
}

/**
 * CertificateSerialNumber content octets from hex, kept exactly so that `serialHex` of what is
 * forged is the hex given; it must already be a positive, minimally encoded INTEGER (§4.1.2.2).
 */
function serialNumber(hex: string): ArrayBuffer {
  const bytes = fromHex(hex);
  if (!bytes || bytes.length === 0 || bytes.length > 20) {
    throw new Error(`serial ${hex}: not 1 to 20 octets of hex`);
  }
  if (bytes[0]! >= 0x80) throw new Error(`serial ${hex} is negative: write 00${hex}`);
  if (bytes.length > 1 && bytes[0] === 0 && bytes[1]! < 0x80) {
    throw new Error(`serial ${hex} is not minimally encoded`);
  }
  return bytes.slice().buffer;
}

/** C=XX, O=ocsp-relay test PKI, CN=<cn>: the fixture leaves' subject form. */
function subjectName(cn: string): Name {
  const rdn = (type: string, value: AttributeValue) =>
    new RelativeDistinguishedName([new AttributeTypeAndValue({ type, value })]);
  return new Name([
    rdn(ATTR.C, new AttributeValue({ printableString: "XX" })),
    rdn(ATTR.O, new AttributeValue({ utf8String: "ocsp-relay test PKI" })),
    rdn(ATTR.CN, new AttributeValue({ utf8String: cn })),
  ]);
}
