// The one error union and its two surfaces (src/http/errors.ts): every kind has an RFC 6960 error
// response for the OCSP endpoint and a JSON error for the admin API, /check and the operator
// pages; neither ever carries more than the detail a route chose to give.

import { describe, expect, it } from "vitest";
import type { RelayError } from "../../src/errors.ts";
import { jsonErrorResponse, ocspErrorResponse } from "../../src/http/errors.ts";
import { decodeResponse } from "../../src/ocsp/response.ts";

const cases: [RelayError, number, string, number, string][] = [
  // error, OCSP HTTP status, OCSP responseStatus, JSON status, JSON `error`
  [{ kind: "malformed", detail: "d" }, 400, "malformedRequest", 400, "bad request"],
  [{ kind: "malformed", title: "bad PEM", detail: "d" }, 400, "malformedRequest", 400, "bad PEM"],
  [{ kind: "tooLarge", detail: "d" }, 413, "malformedRequest", 413, "body too large"],
  [
    { kind: "unauthorized", cause: "issuerNotRegistered", detail: "d" },
    200,
    "unauthorized",
    404,
    "issuer not registered",
  ],
  [
    { kind: "unauthorized", cause: "crlOnly", detail: "d" },
    200,
    "unauthorized",
    404,
    "issuer registered for CRLs only",
  ],
  [
    { kind: "unauthorized", cause: "fleetKey", detail: "d" },
    200,
    "unauthorized",
    403,
    "fleet key refused",
  ],
  [
    { kind: "unauthorized", cause: "registeredOnly", detail: "d" },
    200,
    "unauthorized",
    403,
    "certificate not registered",
  ],
  [
    { kind: "notFound", title: "no such issuer", detail: "d" },
    400,
    "malformedRequest",
    404,
    "no such issuer",
  ],
  [{ kind: "unauthenticated", detail: "d" }, 200, "unauthorized", 401, "unauthorized"],
  [
    { kind: "forbidden", title: "admin API disabled", detail: "d" },
    200,
    "unauthorized",
    403,
    "admin API disabled",
  ],
  [{ kind: "methodNotAllowed", detail: "d" }, 400, "malformedRequest", 405, "method not allowed"],
  [{ kind: "tryLater", detail: "d" }, 200, "tryLater", 503, "try later"],
  [{ kind: "tryLater", cause: "budget", detail: "d" }, 200, "tryLater", 503, "try later"],
  [{ kind: "internal", detail: "stack-ish detail" }, 200, "internalError", 500, "internal error"],
];

describe("every error kind on both surfaces", () => {
  it.each(cases)("%o", async (error, ocspHttp, ocspStatus, jsonHttp, title) => {
    const ocsp = ocspErrorResponse(error);
    expect(ocsp.status).toBe(ocspHttp);
    expect(ocsp.headers.get("Cache-Control")).toContain("no-store");
    const decoded = decodeResponse(new Uint8Array(await ocsp.arrayBuffer()));
    expect(decoded.ok && decoded.value.status).toBe(ocspStatus);
    // RFC 6960 has one `unauthorized`: the header names the relay's cause, never the detail.
    expect(ocsp.headers.get("X-OCSP-Relay-Error")).toBe(error.kind);
    expect(ocsp.headers.get("X-OCSP-Relay-Cause")).toBe(
      error.kind === "unauthorized" || error.kind === "tryLater" ? (error.cause ?? null) : null,
    );

    const json = jsonErrorResponse(error);
    expect(json.status).toBe(jsonHttp);
    expect(json.headers.get("Cache-Control")).toBe("no-store");
    const body = (await json.json()) as { error: string; detail?: string };
    expect(body.error).toBe(title);
    // An internal error says nothing of where it happened.
    expect(body.detail).toBe(error.kind === "internal" ? undefined : "d");
    expect(json.headers.get("WWW-Authenticate")).toBe(
      error.kind === "unauthenticated" ? 'Bearer realm="ocsp-relay admin"' : null,
    );
  });
});
