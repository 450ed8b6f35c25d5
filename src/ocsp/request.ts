// OCSPRequest (RFC 6960 §4.1) and its GET form (RFC 6960 Appendix A.1, RFC 5019 §5):
// decode from DER or from a URL path, extract the CertID and nonce, and build requests. Pure.

import { AsnConvert, OctetString } from "@peculiar/asn1-schema";
import { CertID } from "@peculiar/asn1-ocsp";
import { AlgorithmIdentifier, Extension } from "@peculiar/asn1-x509";
import { err, malformed, ok, type Result } from "../errors.ts";
import { bytesEqual, digest, fromBase64, toHex, u8 } from "./bytes.ts";
import type { CertificateFacts } from "./certificate.ts";
import { checkCanonical, decodeAs, decodeTyped, DER_LIMITS, guarded } from "./der.ts";
import { OcspRequest, SingleRequest, TbsRequest } from "./request-schema.ts";
import { HASH_OID, hashNameOf, OID, type HashName } from "./oids.ts";

/** Largest OCSP request accepted, in DER bytes (documented in the README). */
export const MAX_REQUEST_BYTES = DER_LIMITS.request.maxBytes;
/** Longest GET path accepted: base64 of MAX_REQUEST_BYTES with every character %-escaped. */
export const MAX_GET_PATH_CHARS = Math.ceil(MAX_REQUEST_BYTES / 3) * 4 * 3 + 16;

export interface CertId {
  /** The hash algorithm's OID, and its name when the relay supports it. */
  hashAlgorithm: string;
  hashName: HashName | undefined;
  issuerNameHash: Uint8Array;
  issuerKeyHash: Uint8Array;
  /** INTEGER content octets of the serial, exactly as encoded. */
  serialNumber: Uint8Array;
}

export interface OcspRequestFacts {
  der: Uint8Array;
  certIds: CertId[];
  nonce: Uint8Array | undefined;
  /** Extensions of the request and of its single requests (the nonce among them). */
  extensions: number;
  signed: boolean;
}

/**
 * The longest serial number a request may name: RFC 5280 §4.1.2.2 caps conforming CAs at 20
 * octets; this leaves room for non-conforming ones and keeps cache keys within KV's 512 bytes.
 */
export const MAX_SERIAL_OCTETS = 64;

/** How strict a decode is beyond RFC 6960: the relay's endpoint takes one certificate a request. */
export interface DecodeOptions {
  /** RFC 5019 §2.1.1: exactly one CertID, checked before the (costlier) DER re-encoding. */
  single?: boolean;
}

/** Decodes a DER OCSPRequest (the body of POST, RFC 6960 Appendix A.1). */
export function decodeRequest(der: Uint8Array, o: DecodeOptions = {}): Result<OcspRequestFacts> {
  return guarded("request", () => decodeChecked(der, o));
}

function decodeChecked(der: Uint8Array, o: DecodeOptions): Result<OcspRequestFacts> {
  if (der.length > MAX_REQUEST_BYTES) {
    return err({
      kind: "tooLarge",
      detail: `request of ${der.length} bytes exceeds ${MAX_REQUEST_BYTES}`,
    });
  }
  // Appendix A.1: the request is DER. The CA gets the CertID as the client encoded it, and a CA
  // answers a BER one with an HTTP error, not an OCSP response (issue 16).
  const parsed = decodeTyped(der, OcspRequest, DER_LIMITS.request);
  if (!parsed.ok) return parsed;
  const request = parsed.value.value;
  const tbs = request.tbsRequest;
  if (tbs.requestList.length === 0) return malformed("request lists no certificate");
  if (o.single && tbs.requestList.length !== 1)
    return malformed(`request asks about ${tbs.requestList.length} certificates; send one`);
  const canonical = checkCanonical(parsed.value, der, "OCSPRequest");
  if (!canonical.ok) return canonical;
  if (tbs.version !== 0) return malformed(`unsupported request version ${tbs.version}`);
  const certIds = tbs.requestList.map((r) => certIdFacts(r.reqCert));
  const long = certIds.find((id) => id.serialNumber.length > MAX_SERIAL_OCTETS);
  if (long) {
    return malformed(
      `serialNumber of ${long.serialNumber.length} octets exceeds ${MAX_SERIAL_OCTETS} (RFC 5280 §4.1.2.2 allows 20)`,
    );
  }
  for (const id of certIds) {
    const problem = nonMinimal(id.serialNumber);
    if (problem) return malformed(`serialNumber ${problem}`);
  }
  const nonceExt = tbs.requestExtensions?.find((e) => e.extnID === OID.pkixOcspNonce);
  return ok({
    der,
    certIds,
    nonce: nonceExt ? nonceValue(u8(nonceExt.extnValue.buffer)) : undefined,
    extensions:
      (tbs.requestExtensions?.length ?? 0) +
      tbs.requestList.reduce((n, r) => n + (r.singleRequestExtensions?.length ?? 0), 0),
    signed: request.optionalSignature !== undefined,
  });
}

/**
 * Why an INTEGER's content octets are not DER (X.690 §8.3): empty, or a first octet that only
 * repeats the sign of the next one. Any sign passes: RFC 5280 §4.1.2.2 wants serials positive, but
 * CAs have issued certificates with negative or zero serials, and their holders still need the
 * CA's answer. (The schema keeps a serial as raw octets, so the re-encoding cannot see this.)
 */
function nonMinimal(integer: Uint8Array): string | undefined {
  if (integer.length === 0) return "INTEGER has no content octets (X.690 §8.3.1)";
  const [first, next] = [integer[0]!, integer[1]];
  if (next === undefined) return undefined;
  if ((first === 0x00 && next < 0x80) || (first === 0xff && next >= 0x80)) {
    return (
      `INTEGER ${toHex(integer)} is not minimally encoded: a leading ${toHex(integer.subarray(0, 1))} ` +
      `before ${toHex(integer.subarray(1, 2))} is redundant in DER (X.690 §8.3.2)`
    );
  }
  return undefined;
}

/**
 * Decodes the GET form: `/{url-encoding of base64 encoding of DER}`. Also accepts what real
 * clients send: raw base64 with `/` and `+`, a `+` turned into a space, base64url, missing
 * padding, and the leading `//` nginx produces when its responder URL ends in `/`.
 */
export function decodeGetPath(path: string, o: DecodeOptions = {}): Result<OcspRequestFacts> {
  if (path.length > MAX_GET_PATH_CHARS) {
    return err({ kind: "tooLarge", detail: `GET path of ${path.length} characters is too long` });
  }
  let text: string;
  try {
    text = decodeURIComponent(path.replace(/^\/+/, ""));
  } catch {
    return malformed("GET path is not valid percent-encoding");
  }
  text = text.replace(/ /g, "+").replace(/-/g, "+").replace(/_/g, "/").replace(/\s+/g, "");
  if (text.length === 0) return malformed("empty GET request");
  const der = fromBase64(text);
  if (!der) return malformed("GET path is not base64");
  return decodeRequest(der, o);
}

/** RFC 6960 §4.1.1 CertID for `cert` issued by `issuer`, built with the given hash. */
export async function certIdFor(
  issuer: Pick<CertificateFacts, "subject" | "subjectPublicKey">,
  cert: Pick<CertificateFacts, "serialNumber">,
  hash: HashName = "SHA-1",
): Promise<CertId> {
  const [nameHash, keyHash] = await Promise.all([
    digest(hash, issuer.subject),
    digest(hash, issuer.subjectPublicKey),
  ]);
  return {
    hashAlgorithm: HASH_OID[hash],
    hashName: hash,
    issuerNameHash: nameHash,
    issuerKeyHash: keyHash,
    serialNumber: cert.serialNumber,
  };
}

/** A DER OCSPRequest for one CertID, RFC 5019 style: unsigned, and a nonce only if given. */
export function encodeRequest(certId: CertId, nonce?: Uint8Array): Uint8Array {
  const tbsRequest = new TbsRequest();
  const single = new SingleRequest();
  single.reqCert = new CertID({
    // NULL parameters, as OpenSSL and most CAs encode the hash AlgorithmIdentifier.
    hashAlgorithm: new AlgorithmIdentifier({
      algorithm: certId.hashAlgorithm,
      parameters: new Uint8Array([0x05, 0x00]).buffer,
    }),
    issuerNameHash: new OctetString(certId.issuerNameHash),
    issuerKeyHash: new OctetString(certId.issuerKeyHash),
    // A copy: a Node Buffer's slice() is a view into a shared pool, and .buffer would be all of it.
    serialNumber: Uint8Array.from(certId.serialNumber).buffer,
  });
  tbsRequest.requestList = [single];
  if (nonce) {
    tbsRequest.requestExtensions = [
      // RFC 8954 §2.1: extnValue holds the DER of Nonce ::= OCTET STRING.
      new Extension({
        extnID: OID.pkixOcspNonce,
        extnValue: new OctetString(AsnConvert.serialize(new OctetString(nonce))),
      }),
    ];
  }
  const request = new OcspRequest();
  request.tbsRequest = tbsRequest;
  return u8(AsnConvert.serialize(request));
}

/** The canonical string form of a CertID: the relay's cache key body. */
export function certIdKey(id: CertId): string {
  const alg = id.hashName ?? id.hashAlgorithm;
  return `${alg}:${toHex(id.issuerNameHash)}:${toHex(id.issuerKeyHash)}:${toHex(id.serialNumber)}`;
}

export function certIdEqual(a: CertId, b: CertId): boolean {
  return (
    a.hashAlgorithm === b.hashAlgorithm &&
    bytesEqual(a.issuerNameHash, b.issuerNameHash) &&
    bytesEqual(a.issuerKeyHash, b.issuerKeyHash) &&
    bytesEqual(a.serialNumber, b.serialNumber)
  );
}

export function certIdFacts(id: CertID): CertId {
  return {
    hashAlgorithm: id.hashAlgorithm.algorithm,
    hashName: hashNameOf(id.hashAlgorithm.algorithm),
    issuerNameHash: u8(id.issuerNameHash.buffer),
    issuerKeyHash: u8(id.issuerKeyHash.buffer),
    serialNumber: u8(id.serialNumber),
  };
}

/** The nonce inside extnValue (RFC 8954 §2.1), or the raw bytes from clients that skip the wrapper. */
function nonceValue(extnValue: Uint8Array): Uint8Array {
  const inner = decodeAs(extnValue, OctetString, DER_LIMITS.request);
  return inner.ok ? u8(inner.value.buffer) : extnValue;
}
