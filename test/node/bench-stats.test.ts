// The benchmark's statistics (scripts/bench/stats.ts): medians of repeated runs, nearest-rank
// percentiles, ratios that stay JSON-safe.

import { describe, expect, it } from "vitest";
import {
  median,
  pairedRatio,
  percentile,
  ratio,
  round,
  spread,
  summarize,
} from "../../scripts/bench/stats.ts";

describe("median", () => {
  it("is the middle value of an odd count, whatever the order", () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(median([9])).toBe(9);
  });

  it("is the mean of the two middle values of an even count", () => {
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([10, 20])).toBe(15);
  });

  it("ignores NaN and infinities, and is NaN for nothing", () => {
    expect(median([NaN, 2, Infinity, 4])).toBe(3);
    expect(median([])).toBeNaN();
    expect(median([NaN])).toBeNaN();
  });

  it("does not reorder its input", () => {
    const xs = [3, 1, 2];
    median(xs);
    expect(xs).toEqual([3, 1, 2]);
  });
});

describe("percentile (nearest rank)", () => {
  const hundred = Array.from({ length: 100 }, (_, i) => i + 1); // 1..100

  it("p50, p99 and p100 of 1..100", () => {
    expect(percentile(hundred, 50)).toBe(50);
    expect(percentile(hundred, 99)).toBe(99);
    expect(percentile(hundred, 100)).toBe(100);
  });

  it("the smallest sample for tiny p, the only one for a single sample", () => {
    expect(percentile(hundred, 0.1)).toBe(1);
    expect(percentile([7], 99)).toBe(7);
  });

  it("rounds the rank up: p99 of 10 samples is the largest", () => {
    expect(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 99)).toBe(10);
    expect(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 90)).toBe(9);
  });

  it("is NaN for no samples and refuses p outside (0, 100]", () => {
    expect(percentile([], 50)).toBeNaN();
    expect(() => percentile([1], 0)).toThrow(RangeError);
    expect(() => percentile([1], 101)).toThrow(RangeError);
  });
});

describe("summarize, ratio, round, spread", () => {
  it("summarizes", () => {
    expect(summarize([2, 4, 9])).toEqual({ n: 3, min: 2, max: 9, mean: 5, median: 4 });
    const empty = summarize([]);
    expect(empty.n).toBe(0);
    expect(empty.median).toBeNaN();
  });

  it("ratio is null rather than NaN or Infinity", () => {
    expect(ratio(9, 10)).toBe(0.9);
    expect(ratio(1, 0)).toBeNull();
    expect(ratio(NaN, 2)).toBeNull();
    expect(ratio(1, Infinity)).toBeNull();
  });

  it("round keeps the given decimals and maps non-numbers to null", () => {
    expect(round(0.123456, 3)).toBe(0.123);
    expect(round(2.5, 0)).toBe(3);
    expect(round(NaN)).toBeNull();
    expect(round(null)).toBeNull();
    expect(round(undefined)).toBeNull();
  });

  it("spread is (max - min) / median, null for fewer than two runs", () => {
    expect(spread([90, 100, 110])).toBeCloseTo(0.2);
    expect(spread([100])).toBeNull();
  });
});

describe("pairedRatio", () => {
  it("is the median of the ratios of runs made side by side", () => {
    expect(pairedRatio([90, 180, 45], [100, 200, 50])).toBeCloseTo(0.9);
    // The machine slows to a quarter after the first round and is fast again for the last floor
    // run: two pairs of three still say 0.9; the ratio of the medians (45 / 100) says 0.45.
    expect(pairedRatio([180, 45, 44], [200, 50, 100])).toBeCloseTo(0.9);
    expect(ratio(median([180, 45, 44]), median([200, 50, 100]))).toBeCloseTo(0.45);
  });

  it("pairs by position, ignores pairs without a finite ratio, and is null with none", () => {
    expect(pairedRatio([1, 2, 3], [2, 4])).toBe(0.5);
    expect(pairedRatio([1, NaN, 3], [2, 4, 0])).toBe(0.5);
    expect(pairedRatio([], [])).toBeNull();
    expect(pairedRatio([1], [0])).toBeNull();
  });
});
