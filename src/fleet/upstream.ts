// The CA's responder: the relay builds its own request from the CertID alone (RFC 5019 §2.1: one
// certificate, no nonce), sends it with only the headers OCSP needs, bounded in time and size,
// verifies the answer with the protocol core, and only then hands it on. Who may call this, and
// how often, is the certificate owner's business (fleet/owner.ts).

import { answerFromVerdict, type CachedAnswer } from "../cache/record.ts";
import { readCapped } from "../http/body.ts";
import { err, ok, type RelayError, type Result } from "../errors.ts";
import { checkResponderUrl } from "../issuers/responder-url.ts";
import { log } from "../log.ts";
import { toBase64 } from "../ocsp/bytes.ts";
import { encodeRequest } from "../ocsp/request.ts";
import { MAX_RESPONSE_BYTES } from "../ocsp/response.ts";
import { MAX_CRL_BYTES } from "../crl/crl.ts";
import { verifyResponse } from "../ocsp/verify.ts";
import { ops } from "../instrumentation.ts";
import type { IssuerRecord } from "../issuers/issuer.ts";
import type { CertificateFacts } from "../ocsp/certificate.ts";
import type { CertId } from "../ocsp/request.ts";

/** What the owner asks the CA about: one CertID of a registered issuer, at `now`. */
export interface UpstreamQuery {
  key: string;
  certId: CertId;
  issuer: IssuerRecord;
  issuerCert: CertificateFacts;
  now: number;
}

export interface UpstreamConfig {
  fetch: typeof fetch;
  /** The clock the fetch is timed with. */
  clock: () => number;
  timeoutMs: number;
  allowPrivate: boolean;
  /** The product, its version and the operator's contact (env.ts userAgent). */
  userAgent: string;
}

/** Fetches the answer for `lookup` from its issuer's responder and verifies it; nothing else. */
export async function fetchVerified(
  lookup: UpstreamQuery,
  config: UpstreamConfig,
  unknownMaxAgeMs: number,
): Promise<Result<CachedAnswer>> {
  const { issuer } = lookup;
  const started = config.clock();
  if (!issuer.responderUrl) {
    return err({
      kind: "unauthorized",
      cause: "crlOnly",
      detail: "the issuer is registered for CRLs only: it has no OCSP responder to relay",
    });
  }
  const body = await fetchResponder(issuer.responderUrl, encodeRequest(lookup.certId), config);
  const fields = { issuer: issuer.id, certId: lookup.key, ms: config.clock() - started };
  if (!body.ok) {
    log("upstream.error", { ...fields, detail: body.error });
    return err({
      kind: "tryLater",
      cause: "upstream",
      detail: `the CA's responder failed: ${body.error}`,
    });
  }
  ops.verifications++;
  const verdict = await verifyResponse({
    response: body.value,
    issuer: lookup.issuerCert,
    certId: lookup.certId,
    now: new Date(lookup.now),
  });
  if (!verdict.ok) {
    log("upstream.rejected", { ...fields, reason: verdict.reason, detail: verdict.detail });
    return err({
      kind: "tryLater",
      cause: "rejected",
      reason: verdict.reason,
      detail: `the CA's answer was rejected: ${verdict.reason}: ${verdict.detail}`,
    });
  }
  log("upstream.fetch", {
    ...fields,
    status: verdict.certStatus.status,
    nextUpdate: verdict.nextUpdate.toISOString(),
  });
  return ok(await answerFromVerdict(verdict, issuer.id, lookup.key, lookup.now, unknownMaxAgeMs));
}

/**
 * One exchange with a responder. RFC 5019 §5: GET when the base64 request is under 255 bytes (so CA
 * CDNs can cache it), POST otherwise. No redirects are followed; no client header is forwarded.
 */
export async function fetchResponder(
  responderUrl: string,
  request: Uint8Array,
  config: UpstreamConfig,
): Promise<Result<Uint8Array, string>> {
  const checked = checkResponderUrl(responderUrl, config.allowPrivate);
  if (!checked.ok) return err(`responder URL refused: ${checked.detail}`);
  const b64 = toBase64(request);
  const headers = { Accept: "application/ocsp-response", "User-Agent": config.userAgent };
  const init: RequestInit =
    b64.length < 255
      ? { method: "GET", headers }
      : {
          method: "POST",
          headers: { ...headers, "Content-Type": "application/ocsp-request" },
          body: request,
        };
  const url =
    b64.length < 255
      ? `${checked.url.replace(/\/+$/, "")}/${encodeURIComponent(b64)}`
      : checked.url;
  return exchange(url, init, config, { cap: MAX_RESPONSE_BYTES, peer: "the responder" });
}

/** Largest CRL fetched: the core's DER cap, and room for the same CRL in PEM. */
export const MAX_CRL_FETCH_BYTES = Math.ceil(MAX_CRL_BYTES * 1.4);

/**
 * One GET of a registered CRL URL (RFC 5280 §4.2.1.13): the same rules as a responder (http or
 * https, no private address unless allowed, no redirect, the relay's own headers only), bounded in
 * time and size. Verification is the owner's (fleet/crl-owner.ts).
 */
export async function fetchCrl(
  crlUrl: string,
  config: UpstreamConfig,
): Promise<Result<Uint8Array, string>> {
  const checked = checkResponderUrl(crlUrl, config.allowPrivate);
  if (!checked.ok) return err(`CRL URL refused: ${checked.detail}`);
  const init = {
    method: "GET",
    headers: { Accept: "application/pkix-crl", "User-Agent": config.userAgent },
  };
  return exchange(checked.url, init, config, { cap: MAX_CRL_FETCH_BYTES, peer: "the CRL server" });
}

/** One bounded exchange with a CA's server: no redirect, a timeout, 200 only, a size cap. */
async function exchange(
  url: string,
  init: RequestInit,
  config: UpstreamConfig,
  o: { cap: number; peer: string },
): Promise<Result<Uint8Array, string>> {
  let response: Response;
  ops.upstreamFetches++;
  try {
    response = await config.fetch(url, {
      ...init,
      redirect: "manual",
      signal: AbortSignal.timeout(config.timeoutMs),
    });
  } catch (e) {
    const name = e instanceof Error ? e.name : "";
    return err(
      name === "TimeoutError" || name === "AbortError"
        ? `no answer within ${config.timeoutMs} ms`
        : `fetch failed: ${e instanceof Error ? e.message : e}`,
    );
  }
  if (response.status !== 200) {
    await response.body?.cancel();
    return err(`HTTP ${response.status} from ${o.peer}`);
  }
  const body = await readCapped(response, o.cap);
  return body.ok ? body : err(`answer: ${body.detail}`);
}
