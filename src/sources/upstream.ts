// The CA's responder: the relay builds its own request from the CertID alone (RFC 5019 §2.1: one
// certificate, no nonce), sends it with only the headers OCSP needs, bounded in time and size,
// verifies the answer with the protocol core, and only then hands it on. Concurrent misses for the
// same CertID share one fetch; a failure is remembered for a few seconds so a struggling CA is not
// hammered, and not longer, so a CA that recovers is asked again promptly.

import { answerFromVerdict } from "../cache/record.ts";
import { readCapped } from "../http/body.ts";
import { err, ok, type RelayError, type Result } from "../errors.ts";
import { checkResponderUrl } from "../issuers/responder-url.ts";
import { log } from "../log.ts";
import { toBase64 } from "../ocsp/bytes.ts";
import { encodeRequest } from "../ocsp/request.ts";
import { MAX_RESPONSE_BYTES } from "../ocsp/response.ts";
import { verifyResponse } from "../ocsp/verify.ts";
import type { Lookup, Served, Source } from "./source.ts";

export const USER_AGENT = "ocsp-relay/0.1 (+https://github.com/ocsp-relay)";

export interface UpstreamConfig {
  fetch: typeof fetch;
  timeoutMs: number;
  allowPrivate: boolean;
  /** How long a failure is remembered for a CertID with nothing cached (≤ 5 s). */
  failureMemoryMs: number;
}

export class UpstreamSource implements Source {
  private readonly inflight = new Map<string, Promise<Result<Served>>>();
  private readonly failures = new Map<string, { until: number; error: RelayError }>();

  constructor(private readonly config: UpstreamConfig) {}

  get(lookup: Lookup): Promise<Result<Served>> {
    const failed = this.failures.get(lookup.key);
    if (failed && failed.until > lookup.now) return Promise.resolve(err(failed.error));
    let pending = this.inflight.get(lookup.key);
    if (!pending) {
      pending = this.fetchAndVerify(lookup).finally(() => this.inflight.delete(lookup.key));
      this.inflight.set(lookup.key, pending);
    }
    return pending;
  }

  private async fetchAndVerify(lookup: Lookup): Promise<Result<Served>> {
    const result = await this.fetchOnce(lookup);
    if (result.ok) {
      this.failures.delete(lookup.key);
    } else {
      this.failures.set(lookup.key, {
        until: lookup.now + this.config.failureMemoryMs,
        error: result.error,
      });
    }
    return result;
  }

  private async fetchOnce(lookup: Lookup): Promise<Result<Served>> {
    const { issuer } = lookup;
    const started = Date.now();
    const body = await fetchResponder(
      issuer.responderUrl,
      encodeRequest(lookup.certId),
      this.config,
    );
    const fields = { issuer: issuer.id, certId: lookup.key, ms: Date.now() - started };
    if (!body.ok) {
      log("upstream.error", { ...fields, detail: body.error });
      return err({ kind: "tryLater", detail: `the CA's responder failed: ${body.error}` });
    }
    const verdict = await verifyResponse({
      response: body.value,
      issuer: lookup.issuerCert,
      certId: lookup.certId,
      now: new Date(lookup.now),
    });
    if (!verdict.ok) {
      log("upstream.rejected", { ...fields, reason: verdict.reason, detail: verdict.detail });
      return err({ kind: "tryLater", detail: `the CA's answer was rejected: ${verdict.reason}` });
    }
    log("upstream.fetch", {
      ...fields,
      status: verdict.certStatus.status,
      nextUpdate: verdict.nextUpdate.toISOString(),
    });
    const answer = await answerFromVerdict(verdict, issuer.id, lookup.key, lookup.now);
    return ok({ answer, tier: "upstream" });
  }
}

/**
 * One exchange with a responder. RFC 5019 §5: GET when the base64 request is under 255 bytes (so CA
 * CDNs can cache it), POST otherwise. No redirects are followed; no client header is forwarded.
 */
export async function fetchResponder(
  responderUrl: string,
  request: Uint8Array,
  config: Pick<UpstreamConfig, "fetch" | "timeoutMs" | "allowPrivate">,
): Promise<Result<Uint8Array, string>> {
  const checked = checkResponderUrl(responderUrl, config.allowPrivate);
  if (!checked.ok) return err(`responder URL refused: ${checked.detail}`);
  const b64 = toBase64(request);
  const headers = { Accept: "application/ocsp-response", "User-Agent": USER_AGENT };
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
  let response: Response;
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
    return err(`HTTP ${response.status} from the responder`);
  }
  const body = await readCapped(response, MAX_RESPONSE_BYTES);
  return body.ok ? body : err(`answer: ${body.detail}`);
}
