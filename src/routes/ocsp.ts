// The OCSP endpoint (RFC 6960 Appendix A.1, RFC 5019 §5): GET /{base64 request} and POST / with an
// application/ocsp-request body, or the same under /k/<fleet key>/ when OCSP_KEYS closes the
// endpoint. Answers are the exact DER the CA signed, with RFC 5019 caching headers; errors are
// RFC 6960 error responses (see http/errors.ts for HTTP status choices), thrown ones included.

import type { Context, Hono } from "hono";
import { err, ok, type Result } from "../errors.ts";
import { readCapped } from "../http/body.ts";
import { jsonErrorResponse } from "../http/errors.ts";
import { relaysOcsp } from "../issuers/revocation.ts";
import { toBase64 } from "../ocsp/bytes.ts";
import {
  certIdKey,
  decodeGetPath,
  decodeRequest,
  MAX_REQUEST_BYTES,
  type OcspRequestFacts,
} from "../ocsp/request.ts";
import type { CertLookup, Relay } from "../relay.ts";
import type { Lookup } from "../sources/source.ts";
import type { AppEnv } from "./context.ts";
import { surfaceApp } from "./surface.ts";

type Background = Lookup["background"];

/** The OCSP endpoint, mounted last at `/`: its GET takes every path the other surfaces do not. */
export function ocspRoutes(): Hono<AppEnv> {
  const routes = surfaceApp("ocsp");
  routes.get("/", (c) =>
    c.text(
      "ocsp-relay: send OCSP requests as GET /<base64 DER> or POST / (application/ocsp-request)\n",
    ),
  );
  routes.on(["GET", "HEAD"], "*", (c) =>
    handleOcspGet(c.get("relay"), c.req.raw, new URL(c.req.url).pathname, backgroundOf(c)),
  );
  routes.post("/", (c) => handleOcspPost(c.get("relay"), c.req.raw, undefined, backgroundOf(c)));
  // POST /k/<key>/ (or /k/<key>): the OCSP endpoint under a fleet key.
  routes.post("/k/*", (c, next) => {
    const { key, rest } = splitFleetKey(new URL(c.req.url).pathname);
    if (rest !== "/") return next();
    return handleOcspPost(c.get("relay"), c.req.raw, key, backgroundOf(c));
  });
  routes.all("*", () =>
    jsonErrorResponse({
      kind: "methodNotAllowed",
      detail: "the OCSP endpoint takes GET /<base64> and POST /",
    }),
  );
  return routes;
}

/** ExecutionContext.waitUntil when there is one (not under app.request() without a context). */
function backgroundOf(c: Context<AppEnv>): Background {
  try {
    const ctx = c.executionCtx;
    return (work) => ctx.waitUntil(work);
  } catch {
    return undefined;
  }
}

export async function handleOcspGet(
  relay: Relay,
  request: Request,
  path: string,
  background?: Background,
): Promise<Response> {
  const { key, rest } = splitFleetKey(path);
  if (!(await relay.fleetKeys.accepts(key)))
    return relay.respondTo(request, keyRefused, background);
  const parsed = decodeGetPath(rest, ONE_CERTIFICATE);
  const asked = parsed.ok ? await certLookup(relay, parsed.value) : parsed;
  // Only a canonical request's URL may be remembered by the hot path (relay.ts, sources/urls.ts):
  // a nonce or any other extension, another encoding of the same bytes, or a /k/ prefix the
  // endpoint does not check (OCSP_KEYS unset) would make new URLs at will, and only fill the map.
  const remember =
    parsed.ok &&
    isCanonical(parsed.value) &&
    (key === undefined || relay.fleetKeys.closed) &&
    isCanonicalPath(rest, parsed.value.der);
  return relay.respondTo(request, asked, background, remember ? request.url : undefined);
}

/**
 * The GET path as nginx writes it: `/` (or `//`, when its responder URL ends in `/`) and the
 * base64 of the DER with `+`, `/` and `=` percent-escaped (RFC 6960 Appendix A.1).
 */
export function isCanonicalPath(path: string, der: Uint8Array): boolean {
  const encoded = encodeURIComponent(toBase64(der));
  const start = path.startsWith("//") ? 2 : 1;
  return path.length === start + encoded.length && path.endsWith(encoded);
}

/** One CertID, no extension (no nonce), unsigned: the request nginx sends, the same every time. */
export function isCanonical(request: OcspRequestFacts): boolean {
  return (
    request.certIds.length === 1 &&
    request.nonce === undefined &&
    request.extensions === 0 &&
    !request.signed
  );
}

/** POST / or POST /k/<key>/ (`key` from the route, undefined for POST /). */
export async function handleOcspPost(
  relay: Relay,
  request: Request,
  key: string | undefined,
  background?: Background,
): Promise<Response> {
  if (!(await relay.fleetKeys.accepts(key)))
    return relay.respondTo(request, keyRefused, background);
  const body = await readCapped(request, MAX_REQUEST_BYTES);
  const parsed: Result<OcspRequestFacts> = body.ok
    ? decodeRequest(body.value, ONE_CERTIFICATE)
    : err({
        kind: body.tooLarge ? "tooLarge" : "malformed",
        detail: `request body: ${body.detail}`,
      });
  const asked = parsed.ok ? await certLookup(relay, parsed.value) : parsed;
  return relay.respondTo(request, asked, background);
}

/** RFC 5019 §2.1.1: one certificate per request, refused before anything costlier is done. */
const ONE_CERTIFICATE = { single: true } as const;

const keyRefused = err({
  kind: "unauthorized" as const,
  cause: "fleetKey" as const,
  detail: "this relay's OCSP endpoint answers only under /k/<fleet key>/",
});

/** `/k/<key>/<rest>` → the key and `/<rest>`; any other path has no key. */
export function splitFleetKey(path: string): { key: string | undefined; rest: string } {
  if (!path.startsWith("/k/")) return { key: undefined, rest: path };
  const end = path.indexOf("/", 3);
  return end < 0
    ? { key: path.slice(3), rest: "/" }
    : { key: path.slice(3, end), rest: path.slice(end) };
}

/** The one certificate a request asks about, and its registered issuer. */
async function certLookup(relay: Relay, request: OcspRequestFacts): Promise<Result<CertLookup>> {
  // One certificate per request (decoded with ONE_CERTIFICATE). A nonce is ignored (§2.1.2):
  // cached answers serve every client.
  const certId = request.certIds[0]!;
  const now = relay.now();
  let index = await relay.registry.index(now);
  let issuer = index.find(certId);
  // Not in the copy: perhaps registered through another location since (a KV read, rate-limited).
  if (!issuer) {
    const fresher = await relay.registry.recheck(now);
    if (fresher) issuer = (index = fresher).find(certId);
  }
  if (!issuer)
    return err({
      kind: "unauthorized",
      cause: "issuerNotRegistered",
      detail: "the certificate's issuer is not registered",
    });
  // The relay never invents an OCSP answer: an issuer registered for CRLs only has none to relay.
  if (!relaysOcsp(issuer))
    return err({
      kind: "unauthorized",
      cause: "crlOnly",
      detail: "the issuer is registered for CRLs only: it has no OCSP responder",
    });
  return ok({ key: certIdKey(certId), certId, issuer, issuerCert: index.certificate(issuer) });
}
