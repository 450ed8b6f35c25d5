// The one mapping from RelayError to what the client sees (STYLE habit 3): an RFC 6960 error
// response on the OCSP endpoint, a JSON error elsewhere. No stack trace ever leaves the worker.
//
// HTTP status on the OCSP endpoint: malformed input gets 400 (the HTTP request itself is bad; the
// body still carries malformedRequest for OCSP clients, as Boulder and CFSSL do). unauthorized,
// tryLater and internalError are OCSP-level answers to a well-formed request and go out as 200, so
// that nginx, openssl and curl log the OCSP status ("tryLater") instead of an opaque HTTP code.

import type { RelayError, UnauthorizedCause } from "../errors.ts";
import { encodeErrorResponse, type ResponseStatusName } from "../ocsp/response.ts";
import type { ErrorJson } from "../wire.ts";
import { OCSP_RESPONSE_TYPE } from "./ocsp-headers.ts";

export function ocspStatusOf(error: RelayError): Exclude<ResponseStatusName, "successful"> {
  switch (error.kind) {
    case "malformed":
    case "tooLarge":
    case "notFound":
    case "methodNotAllowed":
      return "malformedRequest";
    case "unauthorized":
    case "unauthenticated":
    case "forbidden":
      return "unauthorized";
    case "tryLater":
      return "tryLater";
    case "internal":
      return "internalError";
  }
}

/** HTTP status of an OCSP error response. */
export function httpStatusOf(error: RelayError): 200 | 400 | 413 {
  switch (error.kind) {
    case "malformed":
    case "notFound":
    case "methodNotAllowed":
      return 400;
    case "tooLarge":
      return 413;
    case "unauthorized":
    case "unauthenticated":
    case "forbidden":
    case "tryLater":
    case "internal":
      return 200;
  }
}

/**
 * RFC 6960 has one `unauthorized` and one `tryLater` for several causes: `X-OCSP-Relay-Cause`
 * names the relay's (a word from the error union, never the detail), for whoever reads the headers
 * (`curl -i`, the CLI) when nginx logs only "unauthorized".
 */
export function ocspErrorResponse(error: RelayError): Response {
  const headers: Record<string, string> = {
    "Content-Type": OCSP_RESPONSE_TYPE,
    "Cache-Control": "max-age=0, no-cache, no-store",
    "X-OCSP-Relay-Error": error.kind,
  };
  const cause = causeOf(error);
  if (cause) headers["X-OCSP-Relay-Cause"] = cause;
  return new Response(encodeErrorResponse(ocspStatusOf(error)), {
    status: httpStatusOf(error),
    headers,
  });
}

function causeOf(error: RelayError): string | undefined {
  return error.kind === "unauthorized" || error.kind === "tryLater" ? error.cause : undefined;
}

/** HTTP status and `error` field of a JSON error. */
function jsonShapeOf(error: RelayError): {
  status: 400 | 401 | 403 | 404 | 405 | 413 | 500 | 503;
  title: string;
} {
  switch (error.kind) {
    case "malformed":
      return { status: 400, title: error.title ?? "bad request" };
    case "tooLarge":
      return { status: 413, title: "body too large" };
    case "unauthorized":
      return UNAUTHORIZED[error.cause];
    case "notFound":
      return { status: 404, title: error.title };
    case "unauthenticated":
      return { status: 401, title: "unauthorized" };
    case "forbidden":
      return { status: 403, title: error.title };
    case "methodNotAllowed":
      return { status: 405, title: "method not allowed" };
    case "tryLater":
      return { status: 503, title: "try later" };
    case "internal":
      return { status: 500, title: "internal error" };
  }
}

/** Each cause of `unauthorized` as the JSON surface says it. */
const UNAUTHORIZED = {
  issuerNotRegistered: { status: 404, title: "issuer not registered" },
  crlOnly: { status: 404, title: "issuer registered for CRLs only" },
  fleetKey: { status: 403, title: "fleet key refused" },
  registeredOnly: { status: 403, title: "certificate not registered" },
} as const satisfies Record<UnauthorizedCause, { status: 403 | 404; title: string }>;

/** A RelayError as the JSON error of the admin API, /check and the operator pages. */
export function jsonErrorResponse(error: RelayError): Response {
  const { status, title } = jsonShapeOf(error);
  const headers: Record<string, string> = { "Cache-Control": "no-store" };
  if (error.kind === "unauthenticated")
    headers["WWW-Authenticate"] = 'Bearer realm="ocsp-relay admin"';
  // internal errors say nothing of where they happened.
  const detail = error.kind === "internal" ? "" : error.detail;
  // An empty detail is left out of the JSON (undefined).
  return Response.json({ error: title, detail: detail || undefined } satisfies ErrorJson, {
    status,
    headers,
  });
}
