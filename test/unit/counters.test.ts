// The request counters of an isolate: one series per tier that answered, named from what the tier
// declared (the names dashboards read stay those of today), counted as plain integers and taken
// once per flush.

import { describe, expect, it } from "vitest";
import {
  Counters,
  ERROR_SERIES,
  FLUSH_INTERVAL_MS,
  servedSeries,
} from "../../src/metrics/counters.ts";
import { EDGE_TIER } from "../../src/sources/edge.ts";
import { KV_TIER } from "../../src/sources/kv.ts";
import { MEMORY_TIER } from "../../src/sources/memory.ts";
import { OWNER_TIER, UPSTREAM_TIER } from "../../src/sources/owner.ts";
import type { TierInfo } from "../../src/sources/source.ts";

const t0 = Date.UTC(2026, 10, 28, 12);

describe("the series of each tier", () => {
  it.each([
    ['requests_total{outcome="hit",tier="memory"}', true, MEMORY_TIER],
    ['requests_total{outcome="hit",tier="edge"}', true, EDGE_TIER],
    ['requests_total{outcome="hit",tier="kv"}', true, KV_TIER],
    ['requests_total{outcome="hit",tier="owner"}', false, OWNER_TIER],
    ['requests_total{outcome="miss",tier="upstream"}', false, UPSTREAM_TIER],
  ] as const)("%s, a cache tier: %s", (series, cached, tier: TierInfo) => {
    expect(servedSeries(tier)).toBe(series);
    expect(tier.cached).toBe(cached);
  });

  it("a tier wired later gets its own series from its declaration", () => {
    expect(servedSeries({ name: "probe", cached: true })).toBe(
      'requests_total{outcome="hit",tier="probe"}',
    );
  });

  it("refusals keep their series, by error kind", () => {
    expect(ERROR_SERIES.malformed).toBe('requests_total{outcome="malformed",tier="none"}');
    expect(ERROR_SERIES.tryLater).toBe('requests_total{outcome="try_later",tier="none"}');
  });
});

describe("Counters", () => {
  it("counts each tier's answers in one count per tier, taken as their series", () => {
    const counters = new Counters();
    const memory = counters.tier(MEMORY_TIER);
    expect(counters.tier(MEMORY_TIER)).toBe(memory);
    memory.n += 3;
    counters.tier(UPSTREAM_TIER).n++;
    counters.tier({ name: "probe", cached: true }).n++;
    counters.inc(ERROR_SERIES.malformed);
    const { deltas } = counters.take(t0);
    expect(deltas).toEqual({
      'requests_total{outcome="hit",tier="memory"}': 3,
      'requests_total{outcome="miss",tier="upstream"}': 1,
      'requests_total{outcome="hit",tier="probe"}': 1,
      'requests_total{outcome="malformed",tier="none"}': 1,
    });
    expect(memory.n).toBe(0);
    expect(counters.take(t0).deltas).toEqual({});
  });

  it("a flush is due once the interval passed with something counted", () => {
    const counters = new Counters();
    const kv = counters.tier(KV_TIER);
    expect(counters.due(t0)).toBe(false); // nothing counted
    kv.n++;
    expect(counters.due(t0)).toBe(true);
    counters.take(t0);
    kv.n++;
    expect(counters.due(t0 + FLUSH_INTERVAL_MS - 1)).toBe(false);
    expect(counters.due(t0 + FLUSH_INTERVAL_MS)).toBe(true);
  });

  it("what could not be sent is put back", () => {
    const counters = new Counters();
    counters.tier(EDGE_TIER).n += 2;
    const { restore } = counters.take(t0);
    counters.tier(EDGE_TIER).n++;
    restore();
    expect(counters.take(t0).deltas).toEqual({ 'requests_total{outcome="hit",tier="edge"}': 3 });
  });

  it("sampled: one answer in `sample` counted as `sample`, an unbiased estimate", () => {
    // A seeded generator (mulberry32): the same draws every run.
    let seed = 42;
    const random = () => {
      seed = (seed + 0x6d2b79f5) >>> 0;
      let t = Math.imul(seed ^ (seed >>> 15), seed | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    const counters = new Counters(random, 128);
    const memory = counters.tier(MEMORY_TIER);
    let sampled = 0;
    for (let i = 0; i < 100_000; i++) {
      const was = memory.n;
      counters.count(memory);
      if (memory.n !== was) sampled++;
    }
    // Each counted draw adds 128; 100 000 ± 3 × sqrt(100 000 × 127) ≈ ± 10 700.
    expect(memory.n).toBe(sampled * 128);
    expect(Math.abs(memory.n - 100_000)).toBeLessThan(10_700);
    counters.countSeries(ERROR_SERIES.malformed);
    const { deltas } = counters.take(t0);
    expect(deltas['requests_total{outcome="hit",tier="memory"}']).toBe(sampled * 128);
  });

  it("with sample 1 every answer is counted, exactly", () => {
    const counters = new Counters(() => 0.99, 1);
    const kv = counters.tier(KV_TIER);
    for (let i = 0; i < 7; i++) counters.count(kv);
    counters.countSeries(ERROR_SERIES.tryLater);
    expect(counters.take(t0).deltas).toEqual({
      'requests_total{outcome="hit",tier="kv"}': 7,
      'requests_total{outcome="try_later",tier="none"}': 1,
    });
  });

  it("nothing is due until a sampled answer was counted", () => {
    const counters = new Counters(() => 0.5, 128); // 0.5 × 128 ≥ 1: never sampled
    const kv = counters.tier(KV_TIER);
    for (let i = 0; i < 1000; i++) counters.count(kv);
    expect(counters.due(t0)).toBe(false);
  });
});
