// Request counters kept in isolate memory and sent to the fleet ledger every FLUSH_INTERVAL_MS
// (after a response, never on its path), so /metrics sums every isolate. What an isolate counted
// since its last flush is lost if the isolate is evicted first: at most 10 s of its traffic.

import type { RelayError } from "../errors.ts";
import type { Tier, TierInfo } from "../sources/source.ts";

export const FLUSH_INTERVAL_MS = 10_000;

/**
 * The answers one tier gave in this isolate: a plain integer (counting one is `n++`, no lookup, no
 * allocation: the hot path holds the memory tier's), folded into its series when taken.
 */
export interface TierCount {
  readonly from: TierInfo;
  readonly series: string;
  n: number;
}

export class Counters {
  private deltas = new Map<string, number>();
  /** One per tier that answered here: bounded by the tiers wired (their names are code). */
  private readonly tiers = new Map<Tier, TierCount>();
  private lastFlush = 0;

  inc(series: string, by = 1): void {
    this.deltas.set(series, (this.deltas.get(series) ?? 0) + by);
  }

  /** The count of `from`'s answers, made at its first answer (or ahead: the hot path's). */
  tier(from: TierInfo): TierCount {
    let count = this.tiers.get(from.name);
    if (!count) {
      count = { from, series: servedSeries(from), n: 0 };
      this.tiers.set(from.name, count);
    }
    return count;
  }

  /** Whether a flush is due (the interval passed, and something counted). */
  due(now: number): boolean {
    if (now - this.lastFlush < FLUSH_INTERVAL_MS) return false;
    if (this.deltas.size > 0) return true;
    for (const count of this.tiers.values()) if (count.n > 0) return true;
    return false;
  }

  /** Takes everything counted so far; `restore` puts it back if sending failed. */
  take(now: number): { deltas: Record<string, number>; restore: () => void } {
    for (const count of this.tiers.values()) {
      if (count.n > 0) this.inc(count.series, count.n);
      count.n = 0;
    }
    const taken = this.deltas;
    this.deltas = new Map();
    this.lastFlush = now;
    return {
      deltas: Object.fromEntries(taken),
      restore: () => {
        for (const [k, v] of taken) this.inc(k, v);
      },
    };
  }
}

/**
 * The series of an answer served by `from`: `requests_total{outcome="hit",tier="memory"}`, ...,
 * `requests_total{outcome="miss",tier="upstream"}` for a fetch made for the request.
 */
export function servedSeries(from: TierInfo): string {
  return `requests_total{outcome="${from.fetched ? "miss" : "hit"}",tier="${from.name}"}`;
}

/** The series of the OCSP endpoint's refusals, by error kind (no tier answered). */
export const ERROR_SERIES = {
  malformed: 'requests_total{outcome="malformed",tier="none"}',
  tooLarge: 'requests_total{outcome="malformed",tier="none"}',
  unauthorized: 'requests_total{outcome="unauthorized",tier="none"}',
  tryLater: 'requests_total{outcome="try_later",tier="none"}',
  internal: 'requests_total{outcome="internal_error",tier="none"}',
  // Not produced on the OCSP endpoint; named for the mapping to be total.
  notFound: 'requests_total{outcome="malformed",tier="none"}',
  methodNotAllowed: 'requests_total{outcome="malformed",tier="none"}',
  unauthenticated: 'requests_total{outcome="unauthorized",tier="none"}',
  forbidden: 'requests_total{outcome="unauthorized",tier="none"}',
} as const satisfies Record<RelayError["kind"], string>;
