// CertificateList decoding (RFC 5280 §5.1) under size, depth and node bounds, in two steps: the
// signed envelope (what the signature check needs), then, once the signature holds, the tbsCertList
// it covers, reduced to one compact fact per revoked certificate. Pure, no I/O.

import * as asn1js from "asn1js";
import {
  AlgorithmIdentifier,
  CRLReason,
  CRLReasons,
  Extensions,
  InvalidityDate,
  Name,
  RevokedCertificate,
  Time,
  type Extension,
} from "@peculiar/asn1-x509";
import { err, malformed, ok, type Result } from "../errors.ts";
import { nameToText } from "../ocsp/certificate.ts";
import { fromBase64, toHex, u8 } from "../ocsp/bytes.ts";
import { decodeAs, decodeElement, guarded, type DerLimits } from "../ocsp/der.ts";
import { OID } from "../ocsp/oids.ts";
import { FieldReader, isSequence, isUniversal, slice, tlvAt, type Tlv } from "./tlv.ts";

/**
 * Largest CRL accepted, in DER bytes: 10 MiB. Real CRLs run from a few hundred bytes (a
 * partitioned Let's Encrypt shard) to a few MB (~36 bytes per entry with a reason code: 50 000
 * entries are 1.8 MB); 10 MiB holds ~290 000 such entries and at most ~520 000 of the smallest
 * possible ones, which bounds both the time to decode and the memory the revoked set takes.
 */
export const MAX_CRL_BYTES = 10 * 1024 * 1024;

/**
 * Bounds for each part decoded on its own. A CertificateList is never decoded as one asn1js tree:
 * measured on a 50 000-entry CRL (1.8 MB), one `fromBER` + `AsnParser` pass over the whole took
 * ~4.7 s and ~390 MB of heap (~9 asn1js nodes per entry, each a few hundred bytes), past a Worker's
 * 128 MB. Instead the outer SEQUENCE headers are read with asn1js's own identifier and length
 * blocks, and every field and every revokedCertificates entry is decoded separately with the
 * bounded DER helpers and the @peculiar/asn1-x509 type for it, then dropped: memory stays at the
 * size of the facts kept, and no single decode exceeds the caps below.
 */
export const CRL_LIMITS = {
  /** version, signature, issuer, thisUpdate, nextUpdate, crlExtensions, signatureAlgorithm. */
  field: { maxBytes: 65_536, maxDepth: 20, maxNodes: 4_000 },
  /** One revokedCertificates entry: serial, date, a few extensions (~40 bytes in practice). */
  entry: { maxBytes: 4_096, maxDepth: 8, maxNodes: 64 },
  /** One extension value inside an entry (reasonCode, invalidityDate). */
  entryExtension: { maxBytes: 64, maxDepth: 2, maxNodes: 4 },
} as const satisfies Record<string, DerLimits>;

export interface RevokedEntry {
  /** Lower-case hex of the serial's INTEGER content octets, as `serialHex(certificate)`. */
  serialHex: string;
  /** revocationDate, in ms since the epoch. */
  revocationTime: number;
  /** CRLReason name (RFC 5280 §5.3.1), as the OCSP core names them; absent when not given. */
  reason?: string;
  invalidityDate?: number;
  /** Entry extensions other than reasonCode and invalidityDate (rare; for the verifier). */
  otherExtensions?: { oid: string; critical: boolean }[];
}

export interface AlgorithmFacts {
  oid: string;
  parameters: Uint8Array | undefined;
}

/**
 * What is read of a CertificateList before its signature is checked: the exact bytes signed, both
 * signature algorithms, the signature value and the issuer Name that chooses the key. Finding them
 * reads element headers and these few small fields only: a forged CRL costs a hash over its bytes,
 * never a decode of up to 10 MiB of revokedCertificates.
 */
export interface SignedCrl {
  /** The whole CertificateList, byte for byte as received. */
  der: Uint8Array;
  /** DER of tbsCertList exactly as signed (a view into `der`). */
  tbsCertList: Uint8Array;
  /** 1 for v1 (no version field), 2 for v2. */
  version: 1 | 2;
  /** tbsCertList.signature and the outer signatureAlgorithm, with their exact encodings. */
  innerSignatureAlgorithm: AlgorithmFacts & { der: Uint8Array };
  signatureAlgorithm: AlgorithmFacts & { der: Uint8Array };
  signature: Uint8Array;
  /** DER of the issuer Name exactly as in the CRL. */
  issuer: Uint8Array;
  issuerText: string;
}

/** A CertificateList read whole: the envelope and the rest of its tbsCertList. */
export interface ParsedCrl extends SignedCrl {
  thisUpdate: Date;
  nextUpdate: Date | undefined;
  revoked: RevokedEntry[];
  extensions: Extension[];
}

/**
 * Decodes a DER CertificateList, or PEM "X509 CRL" text holding one, up to its signed envelope;
 * `parseTbsCertList` reads the rest once the signature over `tbsCertList` is known to hold.
 */
export function parseCertificateList(bytes: Uint8Array): Result<SignedCrl> {
  const der = pemToDer(bytes);
  if (!der.ok) return der;
  return guarded("CRL", () => readCertificateList(der.value));
}

/** Both steps at once, for callers that check no signature (and for tests). */
export function parseCrl(bytes: Uint8Array): Result<ParsedCrl> {
  const signed = parseCertificateList(bytes);
  return signed.ok ? parseTbsCertList(signed.value) : signed;
}

const PEM_CRL = /^\s*-----BEGIN X509 CRL-----([A-Za-z0-9+/=\s]*)-----END X509 CRL-----\s*$/;
/** base64 of MAX_CRL_BYTES with line breaks fits in 1.4 times as many bytes. */
const MAX_PEM_BYTES = Math.ceil(MAX_CRL_BYTES * 1.4) + 128;

function pemToDer(bytes: Uint8Array): Result<Uint8Array> {
  const head = new TextDecoder().decode(bytes.subarray(0, 64)).trimStart();
  if (!head.startsWith("-----BEGIN")) return ok(bytes);
  if (bytes.length > MAX_PEM_BYTES) return tooLarge(bytes.length);
  const match = PEM_CRL.exec(new TextDecoder().decode(bytes));
  if (!match) return malformed("not a single PEM X509 CRL block");
  const der = fromBase64((match[1] ?? "").replace(/\s+/g, ""));
  return der ? ok(der) : malformed("PEM X509 CRL is not valid base64");
}

function tooLarge(size: number) {
  return err({
    kind: "tooLarge" as const,
    detail: `CRL of ${size} bytes exceeds the ${MAX_CRL_BYTES}-byte cap`,
  });
}

function readCertificateList(der: Uint8Array): Result<SignedCrl> {
  if (der.length > MAX_CRL_BYTES) return tooLarge(der.length);
  if (der.length === 0) return malformed("empty CRL");
  // CertificateList ::= SEQUENCE { tbsCertList, signatureAlgorithm, signatureValue BIT STRING }
  const outer = tlvAt(der, 0, der.length);
  if (!outer.ok) return outer;
  if (!isSequence(outer.value)) return malformed("CRL is not a SEQUENCE");
  if (outer.value.end !== der.length) {
    return malformed(`${der.length - outer.value.end} trailing bytes after the CRL`);
  }
  const tbs = tlvAt(der, outer.value.contentStart, outer.value.end);
  if (!tbs.ok) return tbs;
  if (!isSequence(tbs.value)) return malformed("tbsCertList is not a SEQUENCE");
  // Only its first fields, up to the issuer: the rest waits for the signature.
  const head = readTbsHead(new FieldReader(der, tbs.value));
  if (!head.ok) return head;

  const sigAlgTlv = tlvAt(der, tbs.value.end, outer.value.end);
  if (!sigAlgTlv.ok) return sigAlgTlv;
  const signatureAlgorithm = algorithm(slice(der, sigAlgTlv.value));
  if (!signatureAlgorithm.ok) return signatureAlgorithm;
  const sigTlv = tlvAt(der, sigAlgTlv.value.end, outer.value.end);
  if (!sigTlv.ok) return sigTlv;
  if (sigTlv.value.end !== outer.value.end) {
    return malformed("CertificateList has fields after signatureValue");
  }
  const sig = decodeElement(slice(der, sigTlv.value), CRL_LIMITS.field);
  if (!sig.ok) return sig;
  if (!(sig.value instanceof asn1js.BitString) || sig.value.valueBlock.unusedBits !== 0) {
    return malformed("signatureValue is not a whole-octet BIT STRING");
  }
  return ok({
    der,
    tbsCertList: slice(der, tbs.value),
    ...head.value,
    signatureAlgorithm: signatureAlgorithm.value,
    signature: u8(sig.value.valueBlock.valueHexView),
  });
}

type TbsHead = Pick<SignedCrl, "version" | "innerSignatureAlgorithm" | "issuer" | "issuerText">;

/**
 * TBSCertList ::= SEQUENCE { version INTEGER OPTIONAL (v2), signature, issuer, thisUpdate,
 * nextUpdate Time OPTIONAL, revokedCertificates SEQUENCE OF SEQUENCE {...} OPTIONAL,
 * crlExtensions [0] EXPLICIT Extensions OPTIONAL }
 *
 * Its head, read with the envelope: version, signature and issuer, what choosing and using the
 * issuer's key needs.
 */
function readTbsHead(fields: FieldReader): Result<TbsHead> {
  let version: 1 | 2 = 1;
  let next = fields.peek();
  if (!next.ok) return next;
  if (isUniversal(next.value, 2)) {
    const v = decodeElement(fields.take(), CRL_LIMITS.field);
    if (!v.ok) return v;
    if (!(v.value instanceof asn1js.Integer) || v.value.valueBlock.valueDec !== 1) {
      return malformed("CRL version is not v2 (1)");
    }
    version = 2;
  }

  next = fields.peek();
  if (!next.ok) return next;
  const inner = algorithm(fields.take());
  if (!inner.ok) return inner;

  next = fields.peek();
  if (!next.ok) return next;
  const issuer = fields.take();
  const name = decodeAs(issuer, Name, CRL_LIMITS.field);
  if (!name.ok) return name;
  return ok({
    version,
    innerSignatureAlgorithm: inner.value,
    issuer,
    issuerText: nameToText(name.value),
  });
}

/**
 * The rest of tbsCertList, read from its signed bytes alone: thisUpdate, nextUpdate, each revoked
 * certificate and crlExtensions. Only for a CRL whose signature was checked (or that needs none).
 */
export function parseTbsCertList(crl: SignedCrl): Result<ParsedCrl> {
  return guarded("CRL", () => readTbsBody(crl));
}

function readTbsBody(crl: SignedCrl): Result<ParsedCrl> {
  const der = crl.tbsCertList;
  const tbs = tlvAt(der, 0, der.length);
  if (!tbs.ok) return tbs;
  const fields = new FieldReader(der, tbs.value);
  const { version } = crl;
  // Step past the head readTbsHead decoded (version only in a v2 CRL, signature, issuer).
  for (let n = version === 2 ? 3 : 2; n > 0; n--) {
    const field = fields.peek();
    if (!field.ok) return field;
    fields.takeTlv();
  }

  let next = fields.peek();
  if (!next.ok) return next;
  const thisUpdate = decodeAs(fields.take(), Time, CRL_LIMITS.field);
  if (!thisUpdate.ok) return thisUpdate;

  let nextUpdate: Date | undefined;
  let revoked: RevokedEntry[] = [];
  let extensions: Extension[] = [];
  if (fields.more()) {
    next = fields.peek();
    if (!next.ok) return next;
    if (isUniversal(next.value, 23) || isUniversal(next.value, 24)) {
      const t = decodeAs(fields.take(), Time, CRL_LIMITS.field);
      if (!t.ok) return t;
      nextUpdate = t.value.getTime();
    }
  }
  if (fields.more()) {
    next = fields.peek();
    if (!next.ok) return next;
    if (isSequence(next.value)) {
      const list = fields.takeTlv();
      const entries = parseRevokedCertificates(der, list);
      if (!entries.ok) return entries;
      if (entries.value.length === 0) {
        // RFC 5280 §5.1.2.6: absent when empty; DER also forbids an empty SEQUENCE OF here.
        return malformed("revokedCertificates is present but empty");
      }
      revoked = entries.value;
    }
  }
  if (fields.more()) {
    next = fields.peek();
    if (!next.ok) return next;
    const t = next.value;
    if (t.tagClass !== 3 || t.tagNumber !== 0 || !t.constructed) {
      return malformed("unexpected field in tbsCertList");
    }
    const exts = decodeElement(fields.take(), CRL_LIMITS.field);
    if (!exts.ok) return exts;
    const seq = (exts.value as asn1js.Constructed).valueBlock.value;
    if (seq.length !== 1 || !(seq[0] instanceof asn1js.Sequence)) {
      return malformed("crlExtensions is not [0] EXPLICIT Extensions");
    }
    const parsed = decodeAs(
      new Uint8Array(seq[0].valueBeforeDecodeView),
      Extensions,
      CRL_LIMITS.field,
    );
    if (!parsed.ok) return parsed;
    extensions = [...parsed.value];
    if (extensions.length === 0) return malformed("crlExtensions is empty");
    if (version !== 2) return malformed("a v1 CRL carries crlExtensions");
  }
  if (fields.more()) return malformed("unexpected field at the end of tbsCertList");
  if (version !== 2 && revoked.some((r) => r.otherExtensions || r.reason || r.invalidityDate)) {
    return malformed("a v1 CRL carries entry extensions");
  }
  return ok({
    ...crl,
    thisUpdate: thisUpdate.value.getTime(),
    nextUpdate,
    revoked,
    extensions,
  });
}

/** Each entry decoded on its own, bounded, and reduced to a RevokedEntry before the next. */
function parseRevokedCertificates(der: Uint8Array, list: Tlv): Result<RevokedEntry[]> {
  const out: RevokedEntry[] = [];
  const entries = new FieldReader(der, list);
  while (entries.more()) {
    const at = entries.peek();
    if (!at.ok) return at;
    const entry = decodeAs(entries.take(), RevokedCertificate, CRL_LIMITS.entry);
    if (!entry.ok) {
      return malformed(`revoked entry ${out.length + 1}: ${entry.error.detail}`);
    }
    const facts = revokedEntry(entry.value);
    if (!facts.ok) return malformed(`revoked entry ${out.length + 1}: ${facts.error.detail}`);
    out.push(facts.value);
  }
  return ok(out);
}

function revokedEntry(entry: RevokedCertificate): Result<RevokedEntry> {
  const serial = u8(entry.userCertificate);
  if (serial.length === 0) return malformed("empty serial number");
  const facts: RevokedEntry = {
    serialHex: toHex(serial),
    revocationTime: entry.revocationDate.getTime().getTime(),
  };
  for (const ext of entry.crlEntryExtensions ?? []) {
    const value = u8(ext.extnValue.buffer);
    switch (ext.extnID) {
      case OID.crlReason: {
        const r = decodeAs(value, CRLReason, CRL_LIMITS.entryExtension);
        if (!r.ok) return malformed(`reasonCode: ${r.error.detail}`);
        const code = r.value.reason;
        facts.reason = CRLReasons[code] ?? String(code);
        break;
      }
      case OID.invalidityDate: {
        const d = decodeAs(value, InvalidityDate, CRL_LIMITS.entryExtension);
        if (!d.ok) return malformed(`invalidityDate: ${d.error.detail}`);
        facts.invalidityDate = d.value.value.getTime();
        break;
      }
      default:
        (facts.otherExtensions ??= []).push({ oid: ext.extnID, critical: ext.critical });
    }
  }
  return ok(facts);
}

function algorithm(der: Uint8Array): Result<AlgorithmFacts & { der: Uint8Array }> {
  const alg = decodeAs(der, AlgorithmIdentifier, CRL_LIMITS.field);
  if (!alg.ok) return alg;
  return ok({
    oid: alg.value.algorithm,
    parameters: alg.value.parameters ? u8(alg.value.parameters) : undefined,
    der,
  });
}
