// The non-cryptographic checks of an OCSP answer: finding the SingleResponse for a CertID by exact
// match (RFC 6960 §4.2.2.1, §4.2.2.3), the time window (§4.2.2.1, §2.4; RFC 5019 §2.2.4) and critical
// extensions (RFC 5280 §4.2). Pure: `now` is an argument.

import type { Extension } from "@peculiar/asn1-x509";
import { OID } from "./oids.ts";
import { certIdEqual, type CertId } from "./request.ts";
import type { SingleResponseFacts } from "./response.ts";

/** Clock skew tolerated on thisUpdate (a responder's clock slightly ahead of ours). */
export const CLOCK_SKEW_MS = 5 * 60 * 1000;
/**
 * Lifetime given to a response without nextUpdate. RFC 6960 §4.2.2.1 says such a responder always
 * has newer information; RFC 5019 requires nextUpdate. We serve such an answer for at most one hour
 * after its thisUpdate, then fetch again.
 */
export const NO_NEXT_UPDATE_LIFETIME_MS = 60 * 60 * 1000;

export type ValidationFailure =
  | { reason: "certIdMismatch"; detail: string }
  | { reason: "conflictingResponses"; detail: string }
  | { reason: "notYetValid"; detail: string }
  | { reason: "invalidTimes"; detail: string }
  | { reason: "expired"; detail: string }
  | { reason: "unknownCriticalExtension"; detail: string };

/** Extensions we understand well enough to accept when marked critical. */
const KNOWN_RESPONSE_EXTENSIONS = new Set<string>([
  OID.pkixOcspNonce,
  OID.pkixOcspCrl,
  OID.pkixOcspArchiveCutoff,
  OID.pkixOcspExtendedRevoke,
]);
const KNOWN_SINGLE_EXTENSIONS = new Set<string>([
  OID.pkixOcspCrl,
  OID.pkixOcspArchiveCutoff,
  OID.crlReason,
  OID.invalidityDate,
]);

/** The one SingleResponse for `certId`; duplicates must agree, others are ignored. */
export function findSingleResponse(
  responses: SingleResponseFacts[],
  certId: CertId,
): { ok: true; value: SingleResponseFacts } | { ok: false; failure: ValidationFailure } {
  const matches = responses.filter((r) => certIdEqual(r.certId, certId));
  const first = matches[0];
  if (!first) {
    return {
      ok: false,
      failure: {
        reason: "certIdMismatch",
        detail: `none of ${responses.length} answers is for the requested CertID`,
      },
    };
  }
  for (const other of matches.slice(1)) {
    if (!sameAnswer(first, other)) {
      return {
        ok: false,
        failure: {
          reason: "conflictingResponses",
          detail: "the response holds conflicting answers for the CertID",
        },
      };
    }
  }
  return { ok: true, value: first };
}

/** The time at which the answer stops being servable: nextUpdate, or the documented default. */
export function effectiveNextUpdate(single: SingleResponseFacts): Date {
  return single.nextUpdate ?? new Date(single.thisUpdate.getTime() + NO_NEXT_UPDATE_LIFETIME_MS);
}

export function checkTimes(single: SingleResponseFacts, now: Date): ValidationFailure | undefined {
  const thisUpdate = single.thisUpdate.getTime();
  if (thisUpdate > now.getTime() + CLOCK_SKEW_MS) {
    return {
      reason: "notYetValid",
      detail: `thisUpdate ${single.thisUpdate.toISOString()} is in the future`,
    };
  }
  if (single.nextUpdate && single.nextUpdate.getTime() <= thisUpdate) {
    return {
      reason: "invalidTimes",
      detail: `nextUpdate ${single.nextUpdate.toISOString()} is not after thisUpdate`,
    };
  }
  const expiry = effectiveNextUpdate(single);
  if (expiry.getTime() <= now.getTime()) {
    return {
      reason: "expired",
      detail: `${single.nextUpdate ? "nextUpdate" : "thisUpdate + 1h"} ${expiry.toISOString()} has passed`,
    };
  }
  return undefined;
}

export function checkCriticalExtensions(
  responseExtensions: Extension[],
  single: SingleResponseFacts,
): ValidationFailure | undefined {
  const unknown =
    responseExtensions.find((e) => e.critical && !KNOWN_RESPONSE_EXTENSIONS.has(e.extnID)) ??
    single.extensions.find((e) => e.critical && !KNOWN_SINGLE_EXTENSIONS.has(e.extnID));
  return unknown
    ? { reason: "unknownCriticalExtension", detail: `unknown critical extension ${unknown.extnID}` }
    : undefined;
}

function sameAnswer(a: SingleResponseFacts, b: SingleResponseFacts): boolean {
  const sa = a.certStatus;
  const sb = b.certStatus;
  if (sa.status !== sb.status) return false;
  if (sa.status === "revoked" && sb.status === "revoked") {
    return sa.revocationTime.getTime() === sb.revocationTime.getTime();
  }
  return true;
}
