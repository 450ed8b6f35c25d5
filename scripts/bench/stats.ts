// Statistics for the benchmark: medians of repeated runs, percentiles of latency samples, ratios.
// Pure (no I/O): unit-tested in Node (test/node/bench-stats.test.ts).

/** The median of `values` (mean of the two middle ones for an even count); NaN when empty. */
export function median(values: readonly number[]): number {
  const sorted = finiteSorted(values);
  if (sorted.length === 0) return NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * The p-th percentile (0 < p <= 100) by the nearest-rank method: the smallest sample such that at
 * least p % of the samples are less than or equal to it (what wrk and most load tools report).
 * NaN when empty.
 */
export function percentile(values: readonly number[], p: number): number {
  if (!(p > 0 && p <= 100)) throw new RangeError(`percentile ${p} is outside (0, 100]`);
  const sorted = finiteSorted(values);
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

export interface Summary {
  n: number;
  min: number;
  max: number;
  mean: number;
  median: number;
}

export function summarize(values: readonly number[]): Summary {
  const sorted = finiteSorted(values);
  const n = sorted.length;
  return {
    n,
    min: n ? sorted[0]! : NaN,
    max: n ? sorted[n - 1]! : NaN,
    mean: n ? sorted.reduce((a, b) => a + b, 0) / n : NaN,
    median: median(sorted),
  };
}

/** a / b, or null when either is not a finite number or b is 0 (JSON has no NaN). */
export function ratio(a: number, b: number): number | null {
  return Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? a / b : null;
}

/**
 * The median of a[i] / b[i] over runs made one after the other (a's i-th run beside b's): the
 * machine's speed drifts between runs, and a ratio of neighbours cancels most of that drift where a
 * ratio of two medians does not. null when no pair has a finite ratio.
 */
export function pairedRatio(a: readonly number[], b: readonly number[]): number | null {
  const ratios: number[] = [];
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const r = ratio(a[i]!, b[i]!);
    if (r !== null) ratios.push(r);
  }
  return ratios.length ? median(ratios) : null;
}

/** Rounds to `digits` decimals; null for anything that is not a finite number. */
export function round(value: number | null | undefined, digits = 2): number | null {
  if (value === null || value === undefined || !Number.isFinite(value)) return null;
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** (max - min) / median: how far apart the repetitions are (0.1 = 10 %). */
export function spread(values: readonly number[]): number | null {
  const s = summarize(values);
  return s.n < 2 ? null : ratio(s.max - s.min, s.median);
}

function finiteSorted(values: readonly number[]): number[] {
  return values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
}
