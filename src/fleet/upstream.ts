// The CA's responder: the relay builds its own request from the CertID alone (RFC 5019 §2.1: one
// certificate, no nonce), sends it with only the headers OCSP needs (GET, or POST to a responder
// that refuses GET: RFC 6960 Appendix A.1), bounded in time and size, verifies the answer with the
// protocol core, and only then hands it on. Who may call this, and how often, is the certificate
// owner's business (fleet/owner.ts).

import { answerFromVerdict, type CachedAnswer } from "../cache/record.ts";
import { readCapped } from "../http/body.ts";
import { err, ok, type RelayError, type Result } from "../errors.ts";
import { checkResponderUrl } from "../issuers/responder-url.ts";
import { log } from "../log.ts";
import { toBase64 } from "../ocsp/bytes.ts";
import { encodeRequest } from "../ocsp/request.ts";
import { decodeResponse, MAX_RESPONSE_BYTES } from "../ocsp/response.ts";
import { MAX_CRL_BYTES } from "../crl/crl.ts";
import { verifyResponse } from "../ocsp/verify.ts";
import { ops } from "../instrumentation.ts";
import type { IssuerRecord } from "../issuers/issuer.ts";
import type { CertificateFacts } from "../ocsp/certificate.ts";
import type { CertId } from "../ocsp/request.ts";
import {
  isolateResponderMethods,
  responderKey,
  type ResponderMethods,
} from "./responder-methods.ts";

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
  /** Which responders refuse GET: the isolate's memory unless given (tests give their own). */
  methods?: ResponderMethods;
}

/**
 * What fetchVerified answers: the verified answer or why not, and `getFallback` when the
 * responder refused the GET and the same request was POSTed at once (the owner's report carries
 * it to the ledger: fleet/ocsp-report.ts). The note rides on the result the owner passes on as is.
 */
export type UpstreamResult = Result<CachedAnswer> & { getFallback?: true };

/** Fetches the answer for `lookup` from its issuer's responder and verifies it; nothing else. */
export async function fetchVerified(
  lookup: UpstreamQuery,
  config: UpstreamConfig,
  unknownMaxAgeMs: number,
): Promise<UpstreamResult> {
  const { issuer } = lookup;
  const started = config.clock();
  if (!issuer.responderUrl) {
    return err({
      kind: "unauthorized",
      cause: "crlOnly",
      detail: "the issuer is registered for CRLs only: it has no OCSP responder to relay",
    });
  }
  const request = encodeRequest(lookup.certId);
  const { body, getRefused } = await fetchResponder(issuer.responderUrl, request, config);
  const fields = {
    issuer: issuer.id,
    certId: lookup.key,
    ms: config.clock() - started,
    ...(getRefused ? { getFallback: true } : {}),
  };
  if (getRefused?.learnt) {
    log("upstream.get_refused", {
      issuer: issuer.id,
      responder: getRefused.responder,
      detail: getRefused.detail,
      retryGetAt: new Date(getRefused.retryGetAt).toISOString(),
    });
  }
  const noted = (r: Result<CachedAnswer>): UpstreamResult =>
    getRefused ? { ...r, getFallback: true } : r;
  if (!body.ok) {
    log("upstream.error", { ...fields, detail: body.error });
    return noted(
      err({
        kind: "tryLater",
        cause: "upstream",
        detail: `the CA's responder failed: ${body.error}`,
      }),
    );
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
    return noted(
      err({
        kind: "tryLater",
        cause: "rejected",
        reason: verdict.reason,
        detail: `the CA's answer was rejected: ${verdict.reason}: ${verdict.detail}`,
      }),
    );
  }
  log("upstream.fetch", {
    ...fields,
    status: verdict.certStatus.status,
    nextUpdate: verdict.nextUpdate.toISOString(),
  });
  return noted(
    ok(await answerFromVerdict(verdict, issuer.id, lookup.key, lookup.now, unknownMaxAgeMs)),
  );
}

/** What one exchange with a responder gave: its bytes or why not, and whether GET was refused. */
export interface ResponderExchange {
  body: Result<Uint8Array, string>;
  /**
   * The responder refused the GET (`detail` says how) and the request was POSTed at once; `learnt`
   * when this isolate did not know it yet (POST only until `retryGetAt`).
   */
  getRefused?: { responder: string; detail: string; learnt: boolean; retryGetAt: number };
}

/**
 * HTTP statuses to a GET that say the responder does not take the request in that form (RFC 9110
 * §15.5.1, .5, .6, .15, §15.6.2): POST is tried at once. Overload (429, 503) and server errors are
 * not about the method: they keep the owner's backoff, and the CA is not asked twice.
 */
const GET_REFUSED_STATUSES: ReadonlySet<number> = new Set([400, 404, 405, 414, 501]);

/**
 * One exchange with a responder, within one UpstreamConfig.timeoutMs for all of it. RFC 5019 §5:
 * GET when the base64 request is under 255 bytes (so CA CDNs can cache it), POST otherwise. A GET
 * refused (a status of GET_REFUSED_STATUSES, a 200 whose body is not an OCSPResponse, or an
 * OCSPResponse saying malformedRequest) is asked again at once with POST, in what is left of the
 * time, and the responder is asked with POST only for a while (fleet/responder-methods.ts). No
 * redirects are followed; no client header is forwarded.
 */
export async function fetchResponder(
  responderUrl: string,
  request: Uint8Array,
  config: UpstreamConfig,
): Promise<ResponderExchange> {
  const checked = checkResponderUrl(responderUrl, config.allowPrivate);
  if (!checked.ok) return { body: err(`responder URL refused: ${checked.detail}`) };
  const b64 = toBase64(request);
  const headers = { Accept: "application/ocsp-response", "User-Agent": config.userAgent };
  // One deadline for the whole exchange: a fallback POST never makes a miss wait longer.
  const o = { cap: MAX_RESPONSE_BYTES, peer: "the responder", signal: timeout(config) };
  const post = async () => ({
    body: failure(
      await exchange(
        checked.url,
        {
          method: "POST",
          headers: { ...headers, "Content-Type": "application/ocsp-request" },
          body: request.slice(), // ArrayBuffer-backed, as DOM's BodyInit types it (Node's lib too)
        },
        config,
        o,
      ),
    ),
  });
  if (b64.length >= 255) return post();
  const methods = config.methods ?? isolateResponderMethods();
  const responder = responderKey(checked.url);
  if (methods.postsOnly(responder, config.clock())) return post();
  const url = `${checked.url.replace(/\/+$/, "")}/${encodeURIComponent(b64)}`;
  const got = await exchange(url, { method: "GET", headers }, config, o);
  const refusal = getRefusal(got);
  if (refusal === undefined) return { body: failure(got) };
  const posted = o.signal.aborted
    ? { body: err(`no answer within ${config.timeoutMs} ms`) }
    : await post();
  // Learnt only when the POST worked (a successful OCSPResponse): a responder failing both ways
  // (overloaded, an error page for everything) is not switched to uncacheable POSTs for a day.
  if (!posted.body.ok || !successful(posted.body.value)) return posted;
  const memory = methods.refusedGet(responder, config.clock());
  return { ...posted, getRefused: { responder, detail: refusal, ...memory } };
}

/** A DER OCSPResponse whose responseStatus is successful. */
function successful(der: Uint8Array): boolean {
  const decoded = decodeResponse(der);
  return decoded.ok && decoded.value.status === "successful";
}

/** Why a GET's outcome says the responder does not take GET; undefined when it does not say so. */
function getRefusal(got: Result<Uint8Array, ExchangeFailure>): string | undefined {
  if (!got.ok) {
    const { status } = got.error;
    if (status === 200) return "GET answered 200 with an empty body";
    return status !== undefined && GET_REFUSED_STATUSES.has(status)
      ? `GET answered HTTP ${status}`
      : undefined;
  }
  const decoded = decodeResponse(got.value);
  if (!decoded.ok) return `GET answered 200 with no OCSPResponse: ${decoded.error.detail}`;
  // Our own request is well formed: malformedRequest to its GET form is the GET refused.
  if (decoded.value.status === "malformedRequest") return "GET answered malformedRequest";
  return undefined;
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
  const o = { cap: MAX_CRL_FETCH_BYTES, peer: "the CRL server", signal: timeout(config) };
  return failure(await exchange(checked.url, init, config, o));
}

/**
 * Why an exchange failed, and the peer's HTTP status when it answered with another than 200, or
 * 200 with nothing in the body.
 */
interface ExchangeFailure {
  detail: string;
  status?: number;
}

const failure = (r: Result<Uint8Array, ExchangeFailure>): Result<Uint8Array, string> =>
  r.ok ? r : err(r.error.detail);

/** The deadline of one exchange with a CA's server, from now. */
const timeout = (config: UpstreamConfig): AbortSignal => AbortSignal.timeout(config.timeoutMs);

/** One bounded request to a CA's server: no redirect, by `signal`'s deadline, 200 only, a cap. */
async function exchange(
  url: string,
  init: RequestInit,
  config: UpstreamConfig,
  o: { cap: number; peer: string; signal: AbortSignal },
): Promise<Result<Uint8Array, ExchangeFailure>> {
  let response: Response;
  ops.upstreamFetches++;
  try {
    response = await config.fetch(url, { ...init, redirect: "manual", signal: o.signal });
  } catch (e) {
    const name = e instanceof Error ? e.name : "";
    return err({
      detail:
        name === "TimeoutError" || name === "AbortError"
          ? `no answer within ${config.timeoutMs} ms`
          : `fetch failed: ${e instanceof Error ? e.message : e}`,
    });
  }
  if (response.status !== 200) {
    await response.body?.cancel();
    return err({ detail: `HTTP ${response.status} from ${o.peer}`, status: response.status });
  }
  if (response.body === null || response.headers.get("Content-Length") === "0") {
    await response.body?.cancel();
    return err({ detail: "answer: empty body", status: 200 });
  }
  const body = await readCapped(response, o.cap);
  return body.ok ? body : err({ detail: `answer: ${body.detail}` });
}
