// The OCSP endpoint (RFC 6960 Appendix A.1, RFC 5019 §5): GET /{base64 request} and POST / with an
// application/ocsp-request body, or the same under /k/<fleet key>/ when OCSP_KEYS closes the
// endpoint. Answers are the exact DER the CA signed, with RFC 5019 caching headers; errors are
// RFC 6960 error responses (see http/errors.ts for HTTP status choices).

import { err, type RelayError, type Result } from "../errors.ts";
import { readCapped } from "../http/body.ts";
import { ocspErrorResponse } from "../http/errors.ts";
import { answerHeaders, matchesIfNoneMatch } from "../http/ocsp-headers.ts";
import { ops } from "../instrumentation.ts";
import { log } from "../log.ts";
import { REQUEST_SERIES } from "../metrics/counters.ts";
import {
  certIdKey,
  decodeGetPath,
  decodeRequest,
  MAX_REQUEST_BYTES,
  type OcspRequestFacts,
} from "../ocsp/request.ts";
import type { Relay } from "../relay.ts";
import type { Lookup, Served } from "../sources/source.ts";

type Background = Lookup["background"];

export async function handleOcspGet(
  relay: Relay,
  request: Request,
  path: string,
  background?: Background,
): Promise<Response> {
  const { key, rest } = splitFleetKey(path);
  if (!(await relay.fleetKeys.accepts(key))) return answer(relay, request, keyRefused, background);
  return answer(relay, request, decodeGetPath(rest), background, request.url);
}

/** POST / or POST /k/<key>/ (`key` from the route, undefined for POST /). */
export async function handleOcspPost(
  relay: Relay,
  request: Request,
  key: string | undefined,
  background?: Background,
): Promise<Response> {
  if (!(await relay.fleetKeys.accepts(key))) return answer(relay, request, keyRefused, background);
  const body = await readCapped(request, MAX_REQUEST_BYTES);
  const parsed: Result<OcspRequestFacts> = body.ok
    ? decodeRequest(body.value)
    : err({
        kind: body.tooLarge ? "tooLarge" : "malformed",
        detail: `request body: ${body.detail}`,
      });
  return answer(relay, request, parsed, background);
}

const keyRefused = err({
  kind: "unauthorized" as const,
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

async function answer(
  relay: Relay,
  request: Request,
  parsed: Result<OcspRequestFacts>,
  background: Background,
  getUrl?: string,
): Promise<Response> {
  const now = relay.now();
  ops.requests++;
  const served = parsed.ok ? await lookup(relay, parsed.value, now, background, getUrl) : parsed;
  relay.counters.inc(
    served.ok ? REQUEST_SERIES.hit[served.value.tier] : REQUEST_SERIES.error[served.error.kind],
  );
  if (background && relay.counters.due(now)) background(relay.flushCounters(now));
  if (!served.ok) {
    if (served.error.kind === "internal") log("request.error", { detail: served.error.detail });
    return ocspErrorResponse(served.error);
  }
  const { answer, tier } = served.value;
  const headers = answerHeaders(answer, now, tier === "upstream" ? "MISS" : "HIT");
  if (matchesIfNoneMatch(request.headers.get("If-None-Match"), answer.etag)) {
    headers.delete("Content-Type");
    return new Response(null, { status: 304, headers });
  }
  return new Response(request.method === "HEAD" ? null : answer.der, { status: 200, headers });
}

async function lookup(
  relay: Relay,
  request: OcspRequestFacts,
  now: number,
  background: Background,
  getUrl: string | undefined,
): Promise<Result<Served, RelayError>> {
  // RFC 5019 §2.1.1: one certificate per request. A nonce is ignored (§2.1.2): cached answers
  // serve every client.
  if (request.certIds.length !== 1) {
    return err({
      kind: "malformed",
      detail: `request asks about ${request.certIds.length} certificates; send one`,
    });
  }
  const certId = request.certIds[0]!;
  const index = await relay.registry.index(now);
  const issuer = index.find(certId);
  if (!issuer)
    return err({ kind: "unauthorized", detail: "the certificate's issuer is not registered" });
  const entry = { key: certIdKey(certId), certId, issuer, issuerCert: index.certificate(issuer) };
  const served = await relay.chain.get({ ...entry, now, ...(background ? { background } : {}) });
  if (served.ok && getUrl) relay.rememberPath(getUrl, entry);
  return served;
}
