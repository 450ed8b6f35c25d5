// When the owner of a certificate fetches again: proactive refresh at about the midpoint of the
// validity window with jitter, never later than a safety margin before nextUpdate; exponential
// backoff after failures; a short bounded life for `unknown` answers. Pure: `now` and the random
// draw are arguments.

import type { CachedAnswer } from "../cache/record.ts";

export interface ScheduleConfig {
  /** Jitter around the midpoint, as a fraction of the window (0.1 → midpoint ± 10 %). */
  jitterFraction: number;
  /** The latest refresh is this long before nextUpdate, at most a quarter of the window. */
  safetyMarginMs: number;
  /** Never refresh sooner than this after a fetch (a CA serving pre-signed, already-old answers). */
  minIntervalMs: number;
  /** First retry after a failure; doubles each time. */
  backoffBaseMs: number;
  /** Longest wait between retries. */
  backoffCapMs: number;
  /** An `unknown` answer is served at most this long after it was fetched. */
  unknownMaxAgeMs: number;
  /** A certificate nobody asked about for this long stops being refreshed (unless pinned). */
  idleAfterMs: number;
}

export const DEFAULT_SCHEDULE: ScheduleConfig = {
  jitterFraction: 0.1,
  safetyMarginMs: 60 * 60 * 1000,
  minIntervalMs: 5 * 1000,
  backoffBaseMs: 60 * 1000,
  backoffCapMs: 60 * 60 * 1000,
  unknownMaxAgeMs: 5 * 60 * 1000,
  idleAfterMs: 7 * 24 * 60 * 60 * 1000,
};

export interface Window {
  thisUpdate: number;
  nextUpdate: number;
}

/** The safety margin for a window: the configured one, but at most a quarter of the window. */
export function safetyMargin(w: Window, c: ScheduleConfig): number {
  return Math.min(c.safetyMarginMs, (w.nextUpdate - w.thisUpdate) / 4);
}

/**
 * When to refresh an answer fetched at `now`: thisUpdate + window × (½ ± jitter), clamped to
 * [now + minInterval, nextUpdate − margin]. `random` is uniform in [0, 1).
 */
export function refreshAt(w: Window, now: number, random: number, c: ScheduleConfig): number {
  const span = w.nextUpdate - w.thisUpdate;
  const target = w.thisUpdate + span * (0.5 + (2 * random - 1) * c.jitterFraction);
  const latest = w.nextUpdate - safetyMargin(w, c);
  // Never "now": at least minInterval later, or 1 s when the answer expires sooner than that.
  const wait = Math.min(c.minIntervalMs, Math.max(1_000, w.nextUpdate - 1_000 - now));
  return Math.round(Math.max(Math.min(target, latest), now + wait));
}

/**
 * When to retry after the `failures`-th consecutive failure (1, 2, ...): base × 2^(n−1), capped,
 * and capped again at a quarter of the window so short-lived answers get several tries. While the
 * held answer is valid, the last retry lands just before its nextUpdate rather than after it.
 */
export function retryAt(
  failures: number,
  now: number,
  w: Window | undefined,
  c: ScheduleConfig,
): number {
  let wait = Math.min(
    c.backoffCapMs,
    c.backoffBaseMs * 2 ** Math.max(0, Math.min(failures - 1, 30)),
  );
  if (w) wait = Math.min(wait, Math.max(c.minIntervalMs, (w.nextUpdate - w.thisUpdate) / 4));
  let at = now + wait;
  const lastTry = w ? w.nextUpdate - c.minIntervalMs : Infinity;
  if (now < lastTry && at > lastTry) at = lastTry;
  return Math.round(at);
}

/**
 * The window a refresh is planned in: from when the answer was fetched (or its thisUpdate, if
 * later) to serveUntil. A CA serving pre-signed answers already past their midpoint then gets asked
 * again half-way through what is left, not over and over.
 */
export function refreshWindow(
  a: Pick<CachedAnswer, "thisUpdate" | "fetchedAt" | "serveUntil">,
): Window {
  return {
    thisUpdate: Math.max(a.thisUpdate, Math.min(a.fetchedAt, a.serveUntil)),
    nextUpdate: a.serveUntil,
  };
}
