// X.509 certificates as the OCSP core needs them (RFC 5280 §4.1): the exact bytes of the subject,
// issuer, public key and signed part, plus the extensions OCSP depends on. Pure, no I/O.

import * as asn1js from "asn1js";
import { AsnConvert } from "@peculiar/asn1-schema";
import {
  AuthorityInfoAccessSyntax,
  BasicConstraints,
  Certificate,
  CRLDistributionPoints,
  ExtendedKeyUsage,
  type Extension,
  id_ce_cRLDistributionPoints,
  type Name,
} from "@peculiar/asn1-x509";
import { err, malformed, ok, type Result } from "../errors.ts";
import { fromBase64, toHex, u8 } from "./bytes.ts";
import { children, childrenRaw, decodeElement, decodeTyped, DER_LIMITS, guarded } from "./der.ts";
import { OID } from "./oids.ts";

export interface CertificateFacts {
  der: Uint8Array;
  /** DER of tbsCertificate, as signed. */
  tbsCertificate: Uint8Array;
  /** DER of the subject and issuer Names, exactly as in the certificate. */
  subject: Uint8Array;
  issuer: Uint8Array;
  subjectText: string;
  issuerText: string;
  /** DER of SubjectPublicKeyInfo (importable by WebCrypto as "spki"). */
  spki: Uint8Array;
  spkiAlgorithm: string;
  /** OID of the EC curve when spkiAlgorithm is id-ecPublicKey. */
  spkiCurve: string | undefined;
  /** The subjectPublicKey BIT STRING value, without the unused-bits octet (RFC 6960 §4.1.1 key hash). */
  subjectPublicKey: Uint8Array;
  /** The serial number's INTEGER content octets, exactly as encoded. */
  serialNumber: Uint8Array;
  notBefore: Date;
  notAfter: Date;
  signatureAlgorithm: { oid: string; parameters: Uint8Array | undefined };
  signature: Uint8Array;
  isCA: boolean;
  extKeyUsage: string[];
  ocspUrls: string[];
  /**
   * The http, https and ldap fullName URIs of the CRL distribution points (RFC 5280 §4.2.1.13), in
   * certificate order. Points named relative to the CRL issuer, or by other name forms, are left out.
   */
  crlUrls: string[];
  /** RFC 7633 TLS Feature with status_request (5): "Must-Staple". */
  mustStaple: boolean;
  extensions: Extension[];
}

export function parseCertificate(der: Uint8Array): Result<CertificateFacts> {
  return guarded("certificate", () => parseChecked(der));
}

function parseChecked(der: Uint8Array): Result<CertificateFacts> {
  const cert = decodeTyped(der, Certificate, DER_LIMITS.certificate);
  if (!cert.ok) return cert;
  const c = cert.value.value;
  const tbsElement = children(cert.value.element)[0];
  if (!tbsElement) return malformed("certificate without tbsCertificate");
  // TBSCertificate ::= SEQUENCE { [0] version OPTIONAL, serial, signature, issuer, validity, subject, spki, ... }
  const parts = childrenRaw(tbsElement);
  const first = children(tbsElement)[0];
  const base = first && first.idBlock.tagClass === 3 && first.idBlock.tagNumber === 0 ? 1 : 0;
  const issuer = parts[base + 2];
  const subject = parts[base + 4];
  const spki = parts[base + 5];
  if (!issuer || !subject || !spki) return malformed("certificate is missing its names or key");

  const tbs = c.tbsCertificate;
  const extensions = tbs.extensions ?? [];
  const facts: CertificateFacts = {
    der,
    tbsCertificate: new Uint8Array(tbsElement.valueBeforeDecodeView),
    subject,
    issuer,
    subjectText: nameToText(tbs.subject),
    issuerText: nameToText(tbs.issuer),
    spki,
    spkiAlgorithm: tbs.subjectPublicKeyInfo.algorithm.algorithm,
    spkiCurve: curveOf(tbs.subjectPublicKeyInfo.algorithm.parameters),
    subjectPublicKey: u8(tbs.subjectPublicKeyInfo.subjectPublicKey),
    serialNumber: u8(tbs.serialNumber),
    notBefore: tbs.validity.notBefore.getTime(),
    notAfter: tbs.validity.notAfter.getTime(),
    signatureAlgorithm: {
      oid: c.signatureAlgorithm.algorithm,
      parameters: c.signatureAlgorithm.parameters ? u8(c.signatureAlgorithm.parameters) : undefined,
    },
    signature: u8(c.signatureValue),
    isCA: false,
    extKeyUsage: [],
    ocspUrls: [],
    crlUrls: [],
    mustStaple: false,
    extensions,
  };
  try {
    for (const ext of extensions) {
      const value = u8(ext.extnValue.buffer);
      switch (ext.extnID) {
        case OID.basicConstraints:
          facts.isCA = AsnConvert.parse(value, BasicConstraints).cA;
          break;
        case OID.extKeyUsage:
          facts.extKeyUsage = [...AsnConvert.parse(value, ExtendedKeyUsage)];
          break;
        case OID.authorityInfoAccess:
          for (const ad of AsnConvert.parse(value, AuthorityInfoAccessSyntax)) {
            const uri = ad.accessLocation.uniformResourceIdentifier;
            if (ad.accessMethod === OID.adOcsp && uri) facts.ocspUrls.push(uri);
          }
          break;
        case id_ce_cRLDistributionPoints:
          for (const dp of AsnConvert.parse(value, CRLDistributionPoints)) {
            for (const name of dp.distributionPoint?.fullName ?? []) {
              const uri = name.uniformResourceIdentifier;
              if (uri && CRL_URL_SCHEMES.test(uri)) facts.crlUrls.push(uri);
            }
          }
          break;
        case OID.tlsFeature:
          facts.mustStaple = tlsFeatures(value).includes(5);
          break;
      }
    }
  } catch (e) {
    return malformed(`unreadable certificate extension (${e instanceof Error ? e.message : e})`);
  }
  return ok(facts);
}

/** The URI schemes of distribution points a CRL can be fetched from (RFC 5280 §4.2.1.13). */
const CRL_URL_SCHEMES = /^(https?|ldap):/i;

const PEM_BEGIN = "-----BEGIN CERTIFICATE-----";
const PEM_END = "-----END CERTIFICATE-----";

/**
 * The base64 bodies (whitespace removed) of the CERTIFICATE blocks of PEM text, in order (RFC 7468
 * §2: anything between blocks is ignored). One forward scan: a block's END is looked for once, from
 * its BEGIN, so any text costs time linear in its length (a lazy regex searched to the end again
 * from every BEGIN without an END: quadratic, issue 16).
 */
export function pemCertificateBodies(text: string): string[] {
  const bodies: string[] = [];
  for (let at = 0; ;) {
    const begin = text.indexOf(PEM_BEGIN, at);
    if (begin < 0) break;
    const body = begin + PEM_BEGIN.length;
    const end = text.indexOf(PEM_END, body);
    // No END after this BEGIN: none after any later BEGIN either, so no more blocks.
    if (end < 0) break;
    at = end + PEM_END.length;
    bodies.push(text.slice(body, end).replace(/\s+/g, ""));
  }
  return bodies;
}

/** Certificates from PEM text: every CERTIFICATE block, in order (pemCertificateBodies). */
export function parsePemCertificates(text: string): Result<CertificateFacts[]> {
  const certs: CertificateFacts[] = [];
  for (const body of pemCertificateBodies(text)) {
    const n = certs.length + 1;
    const der = fromBase64(body);
    if (!der) return malformed(`PEM block ${n} is not valid base64`);
    const cert = parseCertificate(der);
    if (!cert.ok)
      return err({ kind: "malformed", detail: `certificate ${n}: ${cert.error.detail}` });
    certs.push(cert.value);
  }
  if (certs.length === 0) return malformed("no PEM CERTIFICATE block found");
  return ok(certs);
}

/** A certificate from PEM or DER bytes (the first one if PEM holds several). */
export function parseCertificateFile(bytes: Uint8Array): Result<CertificateFacts> {
  const text = new TextDecoder().decode(bytes.subarray(0, 64));
  if (text.includes("-----BEGIN")) {
    const certs = parsePemCertificates(new TextDecoder().decode(bytes));
    return certs.ok ? ok(certs.value[0]!) : certs;
  }
  return parseCertificate(bytes);
}

export function serialHex(cert: CertificateFacts): string {
  return toHex(cert.serialNumber);
}

const ATTRIBUTE_NAMES: Record<string, string> = {
  "2.5.4.3": "CN",
  "2.5.4.6": "C",
  "2.5.4.7": "L",
  "2.5.4.8": "ST",
  "2.5.4.10": "O",
  "2.5.4.11": "OU",
  "2.5.4.5": "serialNumber",
  "1.2.840.113549.1.9.1": "emailAddress",
};

/** A readable one-line form of a Name, most significant RDN first (as `openssl -nameopt oneline`). */
export function nameToText(name: Name): string {
  return name
    .map((rdn) =>
      rdn
        .map((atv) => `${ATTRIBUTE_NAMES[atv.type] ?? atv.type}=${atv.value.toString()}`)
        .join("+"),
    )
    .join(", ");
}

function curveOf(parameters: ArrayBuffer | null | undefined): string | undefined {
  if (!parameters) return undefined;
  const el = decodeElement(u8(parameters), DER_LIMITS.certificate);
  return el.ok && el.value instanceof asn1js.ObjectIdentifier
    ? el.value.valueBlock.toString()
    : undefined;
}

function tlsFeatures(value: Uint8Array): number[] {
  const el = decodeElement(value, DER_LIMITS.certificate);
  if (!el.ok || !(el.value instanceof asn1js.Sequence)) return [];
  return el.value.valueBlock.value.flatMap((v) =>
    v instanceof asn1js.Integer ? [v.valueBlock.valueDec] : [],
  );
}
