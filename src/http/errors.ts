// The one mapping from RelayError to what the client sees (STYLE habit 3): an RFC 6960 error
// response on the OCSP endpoint, a JSON error elsewhere. No stack trace ever leaves the worker.
//
// HTTP status on the OCSP endpoint: malformed input gets 400 (the HTTP request itself is bad; the
// body still carries malformedRequest for OCSP clients, as Boulder and CFSSL do). unauthorized,
// tryLater and internalError are OCSP-level answers to a well-formed request and go out as 200, so
// that nginx, openssl and curl log the OCSP status ("tryLater") instead of an opaque HTTP code.

import type { RelayError } from "../errors.ts";
import { encodeErrorResponse, type ResponseStatusName } from "../ocsp/response.ts";
import { OCSP_RESPONSE_TYPE } from "./ocsp-headers.ts";

export function ocspStatusOf(error: RelayError): Exclude<ResponseStatusName, "successful"> {
  switch (error.kind) {
    case "malformed":
    case "tooLarge":
      return "malformedRequest";
    case "unauthorized":
      return "unauthorized";
    case "tryLater":
      return "tryLater";
    case "internal":
      return "internalError";
  }
}

export function httpStatusOf(error: RelayError): 200 | 400 | 401 | 403 | 404 | 413 | 500 | 503 {
  switch (error.kind) {
    case "malformed":
      return 400;
    case "tooLarge":
      return 413;
    case "unauthorized":
    case "tryLater":
    case "internal":
      return 200;
  }
}

export function ocspErrorResponse(error: RelayError): Response {
  return new Response(encodeErrorResponse(ocspStatusOf(error)), {
    status: httpStatusOf(error),
    headers: {
      "Content-Type": OCSP_RESPONSE_TYPE,
      "Cache-Control": "max-age=0, no-cache, no-store",
      "X-OCSP-Relay-Error": error.kind,
    },
  });
}

/** JSON errors of the admin and check endpoints. */
export function jsonError(
  status: 400 | 401 | 403 | 404 | 405 | 413 | 500 | 502 | 503,
  error: string,
  detail?: string,
): Response {
  return Response.json(
    { error, ...(detail ? { detail } : {}) },
    { status, headers: { "Cache-Control": "no-store" } },
  );
}
