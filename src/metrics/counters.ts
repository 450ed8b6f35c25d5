// Request counters kept in isolate memory and sent to the fleet ledger (after a response, never on
// its path), so /metrics sums every isolate. Sampled: one request in `sample` (METRICS_SAMPLE,
// default 512) is counted, as `sample` requests, and an isolate sends what it counted at most
// every FLUSH_INTERVAL_MS. So the ledger gets at most one request per `sample` requests of the
// whole fleet, however many isolates share them (docs/fleet-cost.md), and every count is an
// unbiased estimate: a series of N requests reads N ± about sqrt(N × sample) (±7 % at 100 000
// requests, ±2.3 % at a million), exact with METRICS_SAMPLE=1. 512: each flush is a ledger request
// and a row written, and a fleet's hit must cost under 0.01 of each (docs/fleet-cost.md). What an isolate counted in its last 10 s is lost if it is
// evicted first (at most one flush's worth of sampled requests).

import type { RelayError } from "../errors.ts";
import type { Tier, TierInfo } from "../sources/source.ts";

export const FLUSH_INTERVAL_MS = 10_000;
export const DEFAULT_METRICS_SAMPLE = 512;

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
  /** `random`: uniform in [0, 1) (the platform's); `sample`: METRICS_SAMPLE. */
  constructor(
    private readonly random: () => number = Math.random,
    readonly sample = 1,
  ) {}

  /** Counts one answer of `tier` (sampled). */
  count(tier: TierCount): void {
    if (this.sample === 1 || this.random() * this.sample < 1) tier.n += this.sample;
  }

  /** Counts one request in `series` (sampled). */
  countSeries(series: string): void {
    if (this.sample === 1 || this.random() * this.sample < 1) this.inc(series, this.sample);
  }

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
