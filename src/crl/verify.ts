// The verdict on a CRL from one issuer (RFC 5280 §6.3.3, §5.2, §5.3): issuer name, signature with an
// allowlisted algorithm, times, CRL number, extensions and scope. WebCrypto only. Pure: `now` is an argument.

import { AsnConvert } from "@peculiar/asn1-schema";
import {
  IssuingDistributionPoint,
  KeyUsage,
  KeyUsageFlags,
  type Extension,
} from "@peculiar/asn1-x509";
import * as asn1js from "asn1js";
import type { CertificateFacts } from "../ocsp/certificate.ts";
import { bytesEqual, u8 } from "../ocsp/bytes.ts";
import { decodeAs, decodeElement } from "../ocsp/der.ts";
import { OID } from "../ocsp/oids.ts";
import { verifySignature } from "../ocsp/signature.ts";
import { CLOCK_SKEW_MS } from "../ocsp/validate.ts";
import { CRL_LIMITS, parseCertificateList, parseTbsCertList, type ParsedCrl } from "./crl.ts";

export type CrlRejectReason =
  | "malformed"
  | "tooLarge"
  | "unsupportedAlgorithm"
  | "badSignature"
  | "wrongIssuer"
  | "issuerNotCrlSigner"
  | "notYetValid"
  | "invalidTimes"
  | "expired"
  | "noNextUpdate"
  | "numberWentBackwards"
  | "unknownCriticalExtension"
  | "deltaCrl"
  | "indirectCrl"
  | "partialCrl"
  | "idpMismatch";

export const CRL_REJECT_REASONS: readonly CrlRejectReason[] = [
  "malformed",
  "tooLarge",
  "unsupportedAlgorithm",
  "badSignature",
  "wrongIssuer",
  "issuerNotCrlSigner",
  "notYetValid",
  "invalidTimes",
  "expired",
  "noNextUpdate",
  "numberWentBackwards",
  "unknownCriticalExtension",
  "deltaCrl",
  "indirectCrl",
  "partialCrl",
  "idpMismatch",
];

export interface RevocationFacts {
  /** revocationDate, ms since the epoch. */
  revocationTime: number;
  /** CRLReason name (the OCSP core's names: keyCompromise, superseded, ...); absent if none given. */
  reason?: string;
}

export interface CrlAccepted {
  ok: true;
  thisUpdate: Date;
  nextUpdate: Date;
  /** cRLNumber (RFC 5280 §5.2.3), when the CRL carries one. */
  number: bigint | undefined;
  /** Revoked serials, keyed by lower-case hex of the INTEGER content octets (`serialHex`). */
  revoked: Map<string, RevocationFacts>;
  /** fullName URIs of the issuing distribution point, when present. */
  idpUrls: string[];
  signatureAlgorithm: string;
  issuerText: string;
  /** Size of the CRL as verified, in bytes. */
  size: number;
}

export interface CrlRejected {
  ok: false;
  reason: CrlRejectReason;
  detail: string;
}

export type CrlVerdict = CrlAccepted | CrlRejected;

export interface VerifyCrlInput {
  /** The CRL as fetched: DER, or PEM "X509 CRL". */
  crl: Uint8Array;
  /** The CA whose certificates this CRL is trusted for: it must have signed the CRL itself. */
  issuer: CertificateFacts;
  now: Date;
  /** cRLNumber of the last CRL accepted from this URL: a smaller one is refused. */
  previousNumber?: bigint;
  /** The URL the CRL was fetched from (the certificate's CRL distribution point). */
  expectedUrl?: string;
}

/** CRL extensions understood well enough to accept when critical (others refuse the CRL). */
const KNOWN_CRL_EXTENSIONS = new Set<string>([
  OID.crlNumber,
  OID.authorityKeyIdentifier,
  OID.issuingDistributionPoint,
]);

const reject = (reason: CrlRejectReason, detail: string): CrlRejected => ({
  ok: false,
  reason,
  detail,
});

export async function verifyCrl(input: VerifyCrlInput): Promise<CrlVerdict> {
  try {
    return await verifyChecked(input);
  } catch (e) {
    // Every check returns a value; this only catches a library throwing on input it should
    // have refused. Whatever it was, the CRL is not believed.
    return reject("malformed", `unreadable CRL (${e instanceof Error ? e.message : String(e)})`);
  }
}

async function verifyChecked(input: VerifyCrlInput): Promise<CrlVerdict> {
  const { issuer, now } = input;
  // 1. The signed envelope, under the size and DER bounds: tbsCertList's bytes, the algorithms,
  // the signature value and the issuer name. Nothing after the issuer is decoded yet.
  const envelope = parseCertificateList(input.crl);
  if (!envelope.ok) {
    const { kind, detail } = envelope.error;
    return reject(kind === "tooLarge" ? "tooLarge" : "malformed", detail);
  }
  const signed = envelope.value;

  // 2. Who signed it (§6.3.3 (f)): the issuer's own name, key and keyUsage; a direct CRL only.
  if (!bytesEqual(signed.issuer, issuer.subject)) {
    return reject(
      "wrongIssuer",
      `CRL issuer "${signed.issuerText}" is not the certificate issuer "${issuer.subjectText}"`,
    );
  }
  const usage = crlSignAllowed(issuer);
  if (usage) return usage;
  if (!bytesEqual(signed.innerSignatureAlgorithm.der, signed.signatureAlgorithm.der)) {
    // RFC 5280 §5.1.1.2: the two MUST be identical.
    return reject("malformed", "tbsCertList.signature differs from signatureAlgorithm");
  }
  const signature = await verifySignature(
    {
      signed: signed.tbsCertList,
      signatureAlgorithm: signed.signatureAlgorithm,
      signature: signed.signature,
    },
    issuer,
  );
  if (!signature.ok) return reject(signature.reason, signature.detail);

  // The rest of tbsCertList, revokedCertificates included, only now that its signature holds:
  // anyone on the path of an http:// CRL URL can send 10 MiB of entries, and refusing a forgery
  // must cost one hash over it, not a decode of every entry (seconds of CPU, at every retry).
  const parsed = parseTbsCertList(signed);
  if (!parsed.ok) return reject("malformed", parsed.error.detail);
  const crl = parsed.value;

  // 3. Extensions and scope: a complete, direct, base CRL for end-entity certificates.
  const scope = checkExtensions(crl, input.expectedUrl);
  if (!scope.ok) return scope;

  // 4. Times (§6.3.3 (a)(2)): a CRL without nextUpdate gives no bound on how stale it may be.
  if (crl.thisUpdate.getTime() > now.getTime() + CLOCK_SKEW_MS) {
    return reject("notYetValid", `thisUpdate ${crl.thisUpdate.toISOString()} is in the future`);
  }
  if (!crl.nextUpdate) return reject("noNextUpdate", "the CRL has no nextUpdate");
  if (crl.nextUpdate.getTime() <= crl.thisUpdate.getTime()) {
    return reject(
      "invalidTimes",
      `nextUpdate ${crl.nextUpdate.toISOString()} is not after thisUpdate`,
    );
  }
  if (crl.nextUpdate.getTime() <= now.getTime()) {
    return reject("expired", `nextUpdate ${crl.nextUpdate.toISOString()} has passed`);
  }

  // 5. cRLNumber never goes backwards (§5.2.3). Once a number was seen, one is required.
  const { number } = scope;
  if (input.previousNumber !== undefined) {
    if (number === undefined) {
      return reject(
        "numberWentBackwards",
        `the CRL has no cRLNumber; the previous one had ${input.previousNumber}`,
      );
    }
    if (number < input.previousNumber) {
      return reject(
        "numberWentBackwards",
        `cRLNumber ${number} is below the previous ${input.previousNumber}`,
      );
    }
  }

  // 6. The revoked serials (entry extensions already checked in step 3).
  const revoked = new Map<string, RevocationFacts>();
  for (const entry of crl.revoked) {
    const seen = revoked.get(entry.serialHex);
    // The same serial twice: the earliest revocation is the one that counts.
    if (seen && seen.revocationTime <= entry.revocationTime) continue;
    revoked.set(
      entry.serialHex,
      entry.reason === undefined
        ? { revocationTime: entry.revocationTime }
        : { revocationTime: entry.revocationTime, reason: entry.reason },
    );
  }

  return {
    ok: true,
    thisUpdate: crl.thisUpdate,
    nextUpdate: crl.nextUpdate,
    number,
    revoked,
    idpUrls: scope.idpUrls,
    signatureAlgorithm: signature.algorithm,
    issuerText: crl.issuerText,
    size: crl.der.length,
  };
}

/** §6.3.3 (f): when the issuer has a keyUsage extension, it must assert cRLSign. */
function crlSignAllowed(issuer: CertificateFacts): CrlRejected | undefined {
  const ext = issuer.extensions.find((e) => e.extnID === OID.keyUsage);
  if (!ext) return undefined;
  const usage = decodeAs(u8(ext.extnValue.buffer), KeyUsage, CRL_LIMITS.entryExtension);
  if (!usage.ok) return reject("issuerNotCrlSigner", `unreadable issuer keyUsage`);
  return usage.value.toNumber() & KeyUsageFlags.cRLSign
    ? undefined
    : reject("issuerNotCrlSigner", `issuer "${issuer.subjectText}" lacks the cRLSign key usage`);
}

function checkExtensions(
  crl: ParsedCrl,
  expectedUrl: string | undefined,
): { ok: true; number: bigint | undefined; idpUrls: string[] } | CrlRejected {
  let number: bigint | undefined;
  let idpUrls: string[] = [];
  const seen = new Set<string>();
  for (const ext of crl.extensions) {
    if (seen.has(ext.extnID)) return reject("malformed", `extension ${ext.extnID} appears twice`);
    seen.add(ext.extnID);
    switch (ext.extnID) {
      case OID.deltaCrlIndicator:
        // A delta CRL is only meaningful on top of a base CRL; we keep complete CRLs only.
        return reject("deltaCrl", "the CRL is a delta CRL (deltaCRLIndicator)");
      case OID.crlNumber: {
        const n = crlNumber(ext);
        if (n === undefined) return reject("malformed", "cRLNumber is not a non-negative INTEGER");
        number = n;
        break;
      }
      case OID.issuingDistributionPoint: {
        const idp = checkIdp(ext, expectedUrl);
        if (!idp.ok) return idp;
        idpUrls = idp.urls;
        break;
      }
      default:
        if (ext.critical && !KNOWN_CRL_EXTENSIONS.has(ext.extnID)) {
          return reject("unknownCriticalExtension", `unknown critical CRL extension ${ext.extnID}`);
        }
    }
  }
  for (const entry of crl.revoked) {
    for (const other of entry.otherExtensions ?? []) {
      if (other.oid === OID.certificateIssuer) {
        return reject(
          "indirectCrl",
          `entry ${entry.serialHex} names another certificate issuer (indirect CRL)`,
        );
      }
      if (other.critical) {
        return reject(
          "unknownCriticalExtension",
          `unknown critical extension ${other.oid} on entry ${entry.serialHex}`,
        );
      }
    }
    if (entry.reason === "removeFromCRL") {
      // §5.3.1: removeFromCRL only appears in delta CRLs.
      return reject("deltaCrl", `entry ${entry.serialHex} has reason removeFromCRL`);
    }
  }
  return { ok: true, number, idpUrls };
}

/** CRLNumber ::= INTEGER (0..MAX), up to 20 octets: read as a bigint (no float rounding). */
function crlNumber(ext: Extension): bigint | undefined {
  const el = decodeElement(u8(ext.extnValue.buffer), { maxBytes: 32, maxDepth: 1, maxNodes: 2 });
  if (!el.ok || !(el.value instanceof asn1js.Integer)) return undefined;
  const n = el.value.toBigInt();
  return n < 0n ? undefined : n;
}

/**
 * issuingDistributionPoint (§5.2.5, §6.3.3 (b)(2)): a CRL limited to CA or attribute
 * certificates, to some reasons, or covering other issuers is not the complete list an
 * end-entity certificate needs; its distribution point must name the URL the CRL came from.
 */
function checkIdp(
  ext: Extension,
  expectedUrl: string | undefined,
): { ok: true; urls: string[] } | CrlRejected {
  const idp = decodeAs(u8(ext.extnValue.buffer), IssuingDistributionPoint, CRL_LIMITS.field);
  if (!idp.ok) return reject("malformed", `issuingDistributionPoint: ${idp.error.detail}`);
  const v = idp.value;
  if (v.indirectCRL) return reject("indirectCrl", "issuingDistributionPoint says indirectCRL");
  if (v.onlyContainsCACerts) {
    return reject("partialCrl", "the CRL covers CA certificates only (onlyContainsCACerts)");
  }
  if (v.onlyContainsAttributeCerts) {
    return reject("partialCrl", "the CRL covers attribute certificates only");
  }
  if (v.onlySomeReasons) {
    return reject("partialCrl", "the CRL covers some revocation reasons only (onlySomeReasons)");
  }
  const urls = (v.distributionPoint?.fullName ?? []).flatMap((n) =>
    n.uniformResourceIdentifier ? [n.uniformResourceIdentifier] : [],
  );
  if (expectedUrl !== undefined && v.distributionPoint && !urls.includes(expectedUrl)) {
    return reject(
      "idpMismatch",
      `issuingDistributionPoint names ${urls.length ? urls.join(", ") : "no URI"}, not ${expectedUrl}`,
    );
  }
  return { ok: true, urls };
}

// --- the stored form -----------------------------------------------------------------------

/**
 * What a Durable Object keeps of a verified CRL: plain JSON (no Map, no bigint), revoked serials
 * sorted by serialHex so a lookup is a binary search and never re-parses the CRL.
 */
export interface CrlFacts {
  version: 1;
  thisUpdate: number;
  nextUpdate: number;
  /** cRLNumber in decimal, or null. */
  number: string | null;
  signatureAlgorithm: string;
  idpUrls: string[];
  /** [serialHex, revocationTime (ms), reason?], sorted by serialHex (code-unit order). */
  revoked: RevokedTuple[];
}

export type RevokedTuple = [serialHex: string, revocationTime: number, reason?: string];

export function crlFacts(verdict: CrlAccepted): CrlFacts {
  const revoked: RevokedTuple[] = [];
  for (const [serial, r] of verdict.revoked) {
    revoked.push(
      r.reason === undefined ? [serial, r.revocationTime] : [serial, r.revocationTime, r.reason],
    );
  }
  revoked.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return {
    version: 1,
    thisUpdate: verdict.thisUpdate.getTime(),
    nextUpdate: verdict.nextUpdate.getTime(),
    number: verdict.number === undefined ? null : verdict.number.toString(),
    signatureAlgorithm: verdict.signatureAlgorithm,
    idpUrls: verdict.idpUrls,
    revoked,
  };
}

/** The revocation of `serialHex` (as `serialHex(certificate)`), or undefined when not listed. */
export function lookupSerial(
  facts: Pick<CrlFacts, "revoked">,
  serialHex: string,
): RevocationFacts | undefined {
  const key = serialHex.toLowerCase();
  let lo = 0;
  let hi = facts.revoked.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const entry = facts.revoked[mid]!;
    if (entry[0] === key) {
      return entry[2] === undefined
        ? { revocationTime: entry[1] }
        : { revocationTime: entry[1], reason: entry[2] };
    }
    if (entry[0] < key) lo = mid + 1;
    else hi = mid - 1;
  }
  return undefined;
}
