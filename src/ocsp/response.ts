// OCSPResponse and BasicOCSPResponse (RFC 6960 §4.2.1): decoding that keeps the exact signed bytes
// of tbsResponseData, and the DER of the unsuccessful responses the relay sends. Pure, no I/O.

import type * as asn1js from "asn1js";
import { AsnConvert } from "@peculiar/asn1-schema";
import {
  BasicOCSPResponse,
  OCSPResponse,
  OCSPResponseStatus,
  type SingleResponse,
} from "@peculiar/asn1-ocsp";
import { CRLReasons, type Extension } from "@peculiar/asn1-x509";
import { err, malformed, ok, type Result } from "../errors.ts";
import { u8 } from "./bytes.ts";
import { parseCertificate, type CertificateFacts } from "./certificate.ts";
import { children, childrenRaw, decodeAs, decodeTyped, DER_LIMITS, guarded } from "./der.ts";
import { OID } from "./oids.ts";
import { certIdFacts, type CertId } from "./request.ts";

/** Largest OCSP response accepted from a CA, in bytes (documented in the README). */
export const MAX_RESPONSE_BYTES = DER_LIMITS.response.maxBytes;

export type ResponseStatusName =
  "successful" | "malformedRequest" | "internalError" | "tryLater" | "sigRequired" | "unauthorized";

const STATUS_CODES: Record<ResponseStatusName, number> = {
  successful: 0,
  malformedRequest: 1,
  internalError: 2,
  tryLater: 3,
  sigRequired: 5,
  unauthorized: 6,
};

export type CertStatusFacts =
  | { status: "good" }
  | { status: "revoked"; revocationTime: Date; revocationReason: string | undefined }
  | { status: "unknown" };

export interface SingleResponseFacts {
  certId: CertId;
  certStatus: CertStatusFacts;
  thisUpdate: Date;
  nextUpdate: Date | undefined;
  extensions: Extension[];
}

export type ResponderId = { byName: Uint8Array } | { byKey: Uint8Array };

export interface BasicResponseFacts {
  /** The whole OCSPResponse, byte for byte as received: what is cached and served. */
  der: Uint8Array;
  /** DER of tbsResponseData exactly as signed. */
  tbsResponseData: Uint8Array;
  version: number;
  responderId: ResponderId;
  producedAt: Date;
  responses: SingleResponseFacts[];
  responseExtensions: Extension[];
  signatureAlgorithm: { oid: string; parameters: Uint8Array | undefined };
  signature: Uint8Array;
  certs: CertificateFacts[];
}

export type DecodedResponse =
  | { status: "successful"; responseType: string; basic: BasicResponseFacts | undefined }
  | { status: Exclude<ResponseStatusName, "successful"> };

/**
 * Decodes an OCSPResponse. A successful one of type id-pkix-ocsp-basic is decoded down to its
 * SingleResponses; another responseType is reported with `basic` undefined.
 */
export function decodeResponse(der: Uint8Array): Result<DecodedResponse> {
  return guarded("response", () => decodeChecked(der));
}

function decodeChecked(der: Uint8Array): Result<DecodedResponse> {
  if (der.length > MAX_RESPONSE_BYTES) {
    return err({
      kind: "tooLarge",
      detail: `response of ${der.length} bytes exceeds ${MAX_RESPONSE_BYTES}`,
    });
  }
  const outer = decodeAs(der, OCSPResponse, DER_LIMITS.response);
  if (!outer.ok) return outer;
  const statusName = statusNameOf(outer.value.responseStatus);
  if (!statusName) return malformed(`unknown responseStatus ${outer.value.responseStatus}`);
  if (statusName !== "successful") {
    if (outer.value.responseBytes) return malformed(`${statusName} response carries responseBytes`);
    return ok({ status: statusName });
  }
  const bytes = outer.value.responseBytes;
  if (!bytes) return malformed("successful response without responseBytes");
  if (bytes.responseType !== OID.pkixOcspBasic) {
    return ok({ status: "successful", responseType: bytes.responseType, basic: undefined });
  }
  const basic = decodeTyped(u8(bytes.response.buffer), BasicOCSPResponse, DER_LIMITS.response);
  if (!basic.ok) return basic;
  const b = basic.value.value;
  if (!b.tbsResponseDataRaw) return malformed("BasicOCSPResponse without tbsResponseData");
  const tbs = b.tbsResponseData;
  const responderId: ResponderId | undefined = tbs.responderID.byKey
    ? { byKey: u8(tbs.responderID.byKey.buffer) }
    : tbs.responderID.byName
      ? { byName: responderNameRaw(basic.value.element) }
      : undefined;
  if (!responderId) return malformed("responderID is neither byName nor byKey");
  const certs: CertificateFacts[] = [];
  // certs [0] EXPLICIT SEQUENCE OF Certificate: parsed from their own bytes, as signed.
  const certsField = children(basic.value.element)[3];
  const certsDer = certsField ? children(certsField).flatMap((seq) => childrenRaw(seq)) : [];
  for (const c of certsDer) {
    const cert = parseCertificate(c);
    if (!cert.ok) return malformed(`certificate in response: ${cert.error.detail}`);
    certs.push(cert.value);
  }
  return ok({
    status: "successful",
    responseType: bytes.responseType,
    basic: {
      der,
      tbsResponseData: u8(b.tbsResponseDataRaw),
      version: tbs.version,
      responderId,
      producedAt: tbs.producedAt,
      responses: tbs.responses.map(singleResponseFacts),
      responseExtensions: tbs.responseExtensions ?? [],
      signatureAlgorithm: {
        oid: b.signatureAlgorithm.algorithm,
        parameters: b.signatureAlgorithm.parameters
          ? u8(b.signatureAlgorithm.parameters)
          : undefined,
      },
      signature: u8(b.signature),
      certs,
    },
  });
}

/** DER of an unsuccessful OCSPResponse (RFC 6960 §4.2.1: no responseBytes). */
export function encodeErrorResponse(status: Exclude<ResponseStatusName, "successful">): Uint8Array {
  return ERROR_RESPONSES[status];
}

const ERROR_RESPONSES = Object.fromEntries(
  (["malformedRequest", "internalError", "tryLater", "sigRequired", "unauthorized"] as const).map(
    (name) => [
      name,
      u8(AsnConvert.serialize(new OCSPResponse({ responseStatus: STATUS_CODES[name] }))),
    ],
  ),
) as Record<Exclude<ResponseStatusName, "successful">, Uint8Array>;

function statusNameOf(code: OCSPResponseStatus): ResponseStatusName | undefined {
  return (Object.keys(STATUS_CODES) as ResponseStatusName[]).find((k) => STATUS_CODES[k] === code);
}

function singleResponseFacts(r: SingleResponse): SingleResponseFacts {
  let certStatus: CertStatusFacts;
  if (r.certStatus.revoked) {
    const reason = r.certStatus.revoked.revocationReason?.reason;
    certStatus = {
      status: "revoked",
      revocationTime: r.certStatus.revoked.revocationTime,
      revocationReason: reason === undefined ? undefined : (CRLReasons[reason] ?? String(reason)),
    };
  } else if (r.certStatus.good !== undefined) {
    certStatus = { status: "good" };
  } else {
    certStatus = { status: "unknown" };
  }
  return {
    certId: certIdFacts(r.certID),
    certStatus,
    thisUpdate: r.thisUpdate,
    nextUpdate: r.nextUpdate,
    extensions: r.singleExtensions ?? [],
  };
}

/**
 * The exact DER of the responderID's Name ([1] EXPLICIT Name), to compare byte for byte with a
 * certificate's subject (re-encoding a parsed Name could differ from, or fail on, what was sent).
 */
function responderNameRaw(basicElement: asn1js.AsnType): Uint8Array {
  const tbs = children(basicElement)[0];
  const field = tbs
    ? children(tbs).find((c) => c.idBlock.tagClass === 3 && c.idBlock.tagNumber === 1)
    : undefined;
  const name = field ? children(field)[0] : undefined;
  return name ? new Uint8Array(name.valueBeforeDecodeView) : new Uint8Array();
}
