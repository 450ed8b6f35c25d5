// A certificate's row in the fleet ledger (CertSummary): made from its owner's reports (each fetch,
// and the owner letting it go), and what /metrics and /status read of it: until when its answer is
// served, whether it is at risk, when the row goes. Pure: `now` is an argument.

import { countFetch } from "./ledger-totals.ts";
import type { CertSummary, FetchReport, RetireReport } from "./ledger-types.ts";

/** The row after a fetch report: the answer if one was accepted, else the one held before. */
export function certificateRow(r: FetchReport, prev: CertSummary | undefined): CertSummary {
  const cert: CertSummary = {
    certIdKey: r.certIdKey,
    issuerId: r.issuerId,
    serial: r.serial,
    mustStaple: Boolean(r.mustStaple ?? prev?.mustStaple),
    pinned: r.pinned,
    lastFetchAt: r.at,
    failures: r.failures,
    ...((r.subject ?? prev?.subject) ? { subject: (r.subject ?? prev?.subject)! } : {}),
    ...(r.forgetAt !== undefined ? { forgetAt: r.forgetAt } : {}),
    ...(r.revocationSource ? { revocationSource: r.revocationSource } : {}),
    // Unpinned stays until someone registers it again (a pin, or an authenticated /check).
    ...(prev?.unpinnedAt !== undefined && !r.pinned && !r.watched
      ? { unpinnedAt: prev.unpinnedAt }
      : {}),
    // An OCSP fetch is counted in its row; a CRL's fetch is counted once, in its issuer's health.
    ...(r.revocationSource !== "crl" ? { fetched: countFetch(prev?.fetched, r) } : {}),
    // Those of a registered or vouched-for certificate at the time: the issuers' table.
    ...(r.revocationSource !== "crl" && (r.pinned || r.vouched)
      ? { judged: countFetch(prev?.judged, r) }
      : prev?.judged
        ? { judged: prev.judged }
        : {}),
  };
  const answer = r.ok ? r : prev;
  for (const k of [
    "status",
    "revocationTime",
    "revocationReason",
    "thisUpdate",
    "nextUpdate",
    "serveUntil",
    "lastSuccessAt",
  ] as const) {
    const v = k === "lastSuccessAt" ? (r.ok ? r.at : prev?.lastSuccessAt) : answer?.[k];
    if (v !== undefined) (cert as unknown as Record<string, unknown>)[k] = v;
  }
  if (!r.ok) {
    cert.lastError = r.error ?? "unknown error";
    cert.lastErrorAt = r.at;
  }
  return cert;
}

/**
 * The row after its owner let the certificate go: none when it forgot it (ended, idle), else
 * (unpinned) the same row no longer pinned, and going at `forgetAt` if the owner forgets it then.
 */
export function retiredRow(cert: CertSummary, r: RetireReport): CertSummary | undefined {
  if (r.retired !== "unpinned") return undefined;
  return {
    ...cert,
    pinned: false,
    unpinnedAt: r.at,
    ...(r.forgetAt !== undefined ? { forgetAt: r.forgetAt } : {}),
  };
}

/** Until when the relay serves a certificate's answer: nextUpdate, or sooner for `unknown`. */
export function servedUntil(c: Pick<CertSummary, "serveUntil" | "nextUpdate">): number | undefined {
  return c.serveUntil ?? c.nextUpdate;
}

/** A row `prune` forgets: a guess its owner forgot, or an answer expired `olderThanMs` ago. */
export function prunable(cert: CertSummary, now: number, olderThanMs: number): boolean {
  const gone = cert.forgetAt !== undefined ? cert.forgetAt <= now : false;
  return gone || (cert.nextUpdate ?? cert.lastFetchAt) < now - olderThanMs;
}

/**
 * A Must-Staple certificate a TLS server may soon have nothing to staple for: no valid answer, or
 * less than `marginMs` left while its refresh fails (counted by /metrics, listed by /status). Not
 * one the operator unpinned: retired, it is no longer theirs to act on (and alerts no more); its
 * row still shows its status, and counts as failing while its refresh fails.
 */
export function atRisk(c: CertSummary, now: number, marginMs: number): boolean {
  if (!c.mustStaple || c.unpinnedAt !== undefined) return false;
  const end = servedUntil(c);
  const left = end === undefined ? -1 : end - now;
  return left <= 0 || (left < marginMs && c.failures > 0);
}
