// How long a verified answer may be served, and how long a cache tier (isolate memory, the edge
// cache) may answer from its copy before asking the tier below. Pure: `now` is an argument. The
// owner's refresh schedule, which these leave room for, is fleet/schedule.ts.

/** Until when an answer may be served: nextUpdate, or a short time for `unknown`. */
export function serveUntil(
  a: { status: string; nextUpdate: number; fetchedAt: number },
  c: { unknownMaxAgeMs: number },
): number {
  return a.status === "unknown"
    ? Math.min(a.nextUpdate, a.fetchedAt + c.unknownMaxAgeMs)
    : a.nextUpdate;
}

/** A cache tier's copy is re-checked against the tier below once the window is this far along. */
export const TIER_RECHECK_FRACTION = 0.6;

/**
 * The longest a location keeps a copy without reading KV (whose reads tell the owner clients still
 * ask: sources/kv.ts): a copy taken from another copy (isolate memory from the edge cache) ends
 * when that one does (Served.until), so copies never stack past this. Within the owner's idle
 * limit (IDLE_REFRESH_SECONDS: 7 days by default, never less than MIN_IDLE_MS).
 */
export const TIER_MAX_AGE_MS = 3 * 24 * 60 * 60 * 1000;

/** The shortest idle limit the configuration accepts: a day above TIER_MAX_AGE_MS. */
export const MIN_IDLE_MS = 4 * 24 * 60 * 60 * 1000;

/**
 * Until when a cache tier (isolate memory, edge cache) may answer from its copy without asking
 * the tier below: past the latest proactive refresh (midpoint + jitter), so refreshed answers
 * reach every isolate; after that, again every 1/20 of the window (5 s to 1 h). Never past
 * serveUntil, nor more than TIER_MAX_AGE_MS from now.
 */
export function tierRecheckAt(a: { thisUpdate: number; serveUntil: number }, now: number): number {
  const window = Math.max(0, a.serveUntil - a.thisUpdate);
  const step = Math.min(60 * 60 * 1000, Math.max(5_000, window / 20));
  return Math.min(
    a.serveUntil,
    now + TIER_MAX_AGE_MS,
    Math.max(a.thisUpdate + window * TIER_RECHECK_FRACTION, now + step),
  );
}
