// One certificate's staple: ask the relay (RFC 6960 Appendix A.1 GET, SHA-1 CertID as nginx and
// HAProxy ask), verify the answer with the core against the issuer, and write it atomically only
// when it is valid (for --min-validity), verified, different and not older than what the file
// holds. A failure never touches the file.

import { readFileSync } from "node:fs";
import type { UnauthorizedCause } from "../errors.ts";
import { toBase64 } from "../ocsp/bytes.ts";
import { certIdFor, encodeRequest, type CertId } from "../ocsp/request.ts";
import { decodeResponse, MAX_RESPONSE_BYTES } from "../ocsp/response.ts";
import { verifyResponse, type Accepted } from "../ocsp/verify.ts";
import { formatDuration, networkError, ocspBase, readBodyCapped, writeFileAtomic } from "./args.ts";
import { replaces, usable, type AnswerTimes, type FileState, type Outcome } from "./staple-plan.ts";
import type { Target } from "./staple-targets.ts";

export interface FetchContext {
  relay: string;
  fleetKey: string | undefined;
  timeoutMs: number;
  minValidityMs: number;
  /** "--min-validity 1h", as given, for messages. */
  minValidityText: string | undefined;
  /** Aborted on SIGTERM: in-flight requests stop and nothing more is written. */
  signal: AbortSignal;
  now: () => Date;
}

/** An outcome with what to tell the operator: a result line (stdout) or a refusal and its fix. */
export type Refreshed = Outcome & {
  target: Pick<Target, "cert" | "out">;
  /** The bytes written (updated only), for HAProxy's runtime API. */
  written?: Uint8Array;
  line?: string;
  next?: string;
  /** Said loudly: the certificate is revoked (the answer is written all the same). */
  warning?: string;
};

const timesOf = (v: Accepted): AnswerTimes => ({
  thisUpdate: v.thisUpdate.getTime(),
  nextUpdate: v.nextUpdate.getTime(),
});

const describe = (v: Accepted, now: Date) =>
  `${v.certStatus.status}, thisUpdate ${v.thisUpdate.toISOString()}, nextUpdate ${v.nextUpdate.toISOString()} (${formatDuration(v.nextUpdate.getTime() - now.getTime())} left)`;

/** What the staple file holds now, judged as a client would (and against --min-validity). */
export async function readStapleFile(
  target: Target,
  certId: CertId,
  now: Date,
  minValidityMs: number,
): Promise<{ bytes: Uint8Array; state: FileState } | undefined> {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(readFileSync(target.out));
  } catch {
    return undefined;
  }
  const v = await verifyResponse({ response: bytes, issuer: target.issuer, certId, now });
  if (!v.ok) return { bytes, state: { kind: "unusable", why: `${v.reason}: ${v.detail}` } };
  if (v.certStatus.status === "unknown")
    return { bytes, state: { kind: "unusable", why: 'the CA answered "unknown"' } };
  if (!usable(timesOf(v), now.getTime(), minValidityMs))
    return { bytes, state: { kind: "expiring", times: timesOf(v) } };
  return { bytes, state: { kind: "valid", status: v.certStatus.status, times: timesOf(v) } };
}

/** What the relay said to a certificate's GET: the answer's bytes, or why there are none. */
export type Asked = { cause: string | null } & (
  | { ok: true; bytes: Uint8Array }
  | { ok: false; status?: number; error?: string | null; over?: number; network?: string }
);

/**
 * Asks the relay for `certId`'s answer as nginx does (GET, SHA-1 CertID), no redirect followed,
 * the body read to at most MAX_RESPONSE_BYTES (staple, and h2o's fetch-ocsp-response).
 */
export async function askRelay(
  relay: string,
  key: string | undefined,
  certId: CertId,
  signal: AbortSignal | undefined,
  timeoutMs: number,
): Promise<Asked> {
  const url = `${ocspBase(relay, key)}/${encodeURIComponent(toBase64(encodeRequest(certId)))}`;
  let cause: string | null = null;
  try {
    const timeout = AbortSignal.timeout(timeoutMs);
    const res = await fetch(url, {
      headers: { Accept: "application/ocsp-response" },
      redirect: "error",
      signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
    });
    cause = res.headers.get("x-ocsp-relay-cause");
    if (res.status !== 200) {
      await res.body?.cancel().catch(() => {});
      return { ok: false, cause, status: res.status, error: res.headers.get("x-ocsp-relay-error") };
    }
    const body = await readBodyCapped(res, MAX_RESPONSE_BYTES);
    return body.ok ? { ok: true, cause, bytes: body.bytes } : { ok: false, cause, over: body.over };
  } catch (e) {
    return { ok: false, cause, network: networkError(e) };
  }
}

export async function refreshOne(target: Target, ctx: FetchContext): Promise<Refreshed> {
  const certId = await certIdFor(target.issuer, target.leaf, "SHA-1");
  const before = await readStapleFile(target, certId, ctx.now(), ctx.minValidityMs);
  const kept: FileState = before?.state ?? { kind: "missing" };
  const fail = (why: string, next: string): Refreshed => ({
    kind: "failed",
    why,
    next,
    file: kept,
    target,
  });

  const asked = await askRelay(ctx.relay, ctx.fleetKey, certId, ctx.signal, ctx.timeoutMs);
  /** Why the relay answered with an error (X-OCSP-Relay-Cause, src/http/errors.ts). */
  const cause = asked.cause;
  if (!asked.ok) {
    if (asked.status !== undefined)
      return fail(
        `the relay answered HTTP ${asked.status}${asked.error ? ` (${asked.error})` : ""}; nothing written`,
        asked.status === 400
          ? "it found the request malformed: is --relay the relay's base URL?"
          : "check --relay and the relay's logs, then retry",
      );
    if (asked.over !== undefined)
      return fail(
        `the answer is over ${MAX_RESPONSE_BYTES} bytes (refused after ${asked.over}); nothing written`,
        "is --relay the relay? Report it if it is",
      );
    return fail(
      `cannot reach the relay at ${ctx.relay}: ${ctx.signal.aborted ? "stopped" : asked.network}; nothing written`,
      "check --relay and the network; the current staple file, if any, is left as it was",
    );
  }
  const response = asked.bytes;

  const now = ctx.now();
  const verdict = await verifyResponse({ response, issuer: target.issuer, certId, now });
  if (!verdict.ok) {
    const leaf = target.leaf;
    return fail(
      `REFUSED, nothing written: ${verdict.reason}: ${verdict.detail}`,
      /unauthorized/.test(verdict.detail) && leaf.ocspUrls.length === 0
        ? `the certificate names no OCSP responder, so it cannot be stapled${leaf.crlUrls[0] ? ` (its CA publishes revocation by CRL at ${leaf.crlUrls[0]})` : ""}: turn stapling off for it (ocsp-relay config nginx|haproxy --cert … prints how); ocsp-relay check --relay URL shows its CRL status`
        : refusalAdvice(verdict.detail, cause),
    );
  }
  const validity = describe(verdict, now);
  if (verdict.certStatus.status === "unknown")
    return fail(
      `REFUSED, nothing written: the CA answers "unknown" for this certificate (${validity})`,
      "check that the issuer is the certificate's issuer and the relay forwards to its CA's responder",
    );
  const times = timesOf(verdict);
  if (!usable(times, now.getTime(), ctx.minValidityMs))
    return fail(
      `REFUSED, nothing written: the answer is valid ${formatDuration(times.nextUpdate - now.getTime())} more, less than --min-validity ${ctx.minValidityText} (${validity})`,
      "the CA's answers may be shorter-lived than that: lower --min-validity, or retry later",
    );

  const file: FileState & { kind: "valid" } = {
    kind: "valid",
    status: verdict.certStatus.status,
    times,
  };
  if (!replaces({ bytes: response, times }, before)) {
    // The file's answer is the one the relay gave, or newer: it stays, untouched.
    return {
      kind: "fresh",
      file: before?.state.kind === "valid" ? before.state : file,
      target,
      line: `unchanged ${target.out}: ${validity}`,
      ...revokedWarning(verdict, target),
    };
  }
  if (ctx.signal.aborted) return fail("stopped before writing", "nothing to do");
  if (before && before.bytes.length > 0 && !decodeResponse(before.bytes).ok)
    return fail(
      `REFUSED, nothing written: ${target.out} exists and is not an OCSP response: it is not replaced`,
      "the staple file is <certificate>.ocsp or --out FILE: point --out at a new file, or move the one there away if it is an old staple",
    );
  try {
    writeFileAtomic(target.out, response);
  } catch (e) {
    return fail(
      `${e instanceof Error ? e.message : e}; nothing written`,
      "the staple file goes beside the certificate (or to --out): make that directory writable",
    );
  }
  return {
    kind: "updated",
    file,
    target,
    written: response,
    line: `wrote ${target.out} (${response.length} bytes): ${validity}`,
    ...revokedWarning(verdict, target),
  };
}

/**
 * A valid "revoked" answer is the truth about the certificate and stapling it lets clients refuse
 * it at once: it is written, and said loudly (the exit code is 1).
 */
function revokedWarning(v: Accepted, target: Target): { warning?: string } {
  const s = v.certStatus;
  return s.status === "revoked"
    ? {
        warning: `WARNING: ${target.cert}: the certificate is REVOKED (at ${s.revocationTime.toISOString()}${s.revocationReason ? `, ${s.revocationReason}` : ""}): replace it now`,
      }
    : {};
}

/** What to do about each cause the relay gives for `unauthorized`. */
const UNAUTHORIZED_ADVICE: Record<UnauthorizedCause, string> = {
  issuerNotRegistered:
    "the relay does not know the certificate's issuer: register it (ocsp-relay register --relay URL --token T fullchain.pem)",
  crlOnly:
    "the relay has the issuer registered for CRLs only: register it again with its OCSP responder (ocsp-relay register --responder URL)",
  fleetKey:
    "the relay is closed with OCSP_KEYS: give one of its fleet keys (--fleet-key or $OCSP_RELAY_KEY)",
  registeredOnly:
    "the relay answers only for registered certificates (OCSP_ACCESS=registered): register this one (ocsp-relay register --relay URL --token T fullchain.pem)",
};

function refusalAdvice(detail: string, cause: string | null): string {
  if (/unauthorized/.test(detail) && cause && Object.hasOwn(UNAUTHORIZED_ADVICE, cause))
    return UNAUTHORIZED_ADVICE[cause as UnauthorizedCause];
  if (/unauthorized/.test(detail))
    return "the relay does not serve this certificate: register its issuer (ocsp-relay register --relay URL --token T fullchain.pem); if the relay is closed with OCSP_KEYS, give its fleet key (--fleet-key or $OCSP_RELAY_KEY); with OCSP_ACCESS=registered, register the certificate itself";
  if (/tryLater/.test(detail) && cause === "budget")
    return "the relay paces its requests to a CA for certificates it was not told about (UPSTREAM_BUDGET_BURST, _PER_MINUTE): pin them (ocsp-relay pin --relay URL --token T *.pem) and they are fetched at the pin rate; the next run gets the rest";
  if (/tryLater/.test(detail))
    return "the relay could not reach the CA and holds no valid answer: retry later; the current staple file is left as it was";
  if (/malformedRequest/.test(detail)) return "is --relay the relay's base URL?";
  return "the answer does not verify against the issuer: check --issuer, and report it if it persists";
}
