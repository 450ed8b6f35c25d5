// The refresh schedule (fleet/schedule.ts) and the freshness rules it leaves room for
// (cache/freshness.ts), with an injected clock and random draw.

import { describe, expect, it } from "vitest";
import {
  DEFAULT_SCHEDULE as C,
  refreshAt,
  retryAt,
  safetyMargin,
} from "../../src/fleet/schedule.ts";
import {
  MIN_IDLE_MS,
  serveUntil,
  TIER_MAX_AGE_MS,
  tierRecheckAt,
} from "../../src/cache/freshness.ts";

const H = 3_600_000;
const D = 24 * H;
const t0 = Date.UTC(2026, 10, 28);

describe("refreshAt: about the midpoint, jittered, never later than the margin", () => {
  const week = { thisUpdate: t0, nextUpdate: t0 + 7 * D };
  it.each([
    [0, t0 + 3.5 * D - 0.7 * D],
    [0.5, t0 + 3.5 * D],
    [0.999999, t0 + 3.5 * D + 0.7 * D],
  ])("random %f → %i", (random, expected) => {
    expect(Math.abs(refreshAt(week, t0, random, C) - expected)).toBeLessThan(1000);
  });

  it("stays within midpoint ± 10 % for every draw", () => {
    for (let i = 0; i < 1000; i++) {
      const at = refreshAt(week, t0, i / 1000, C);
      expect(at).toBeGreaterThanOrEqual(t0 + 0.4 * 7 * D);
      expect(at).toBeLessThanOrEqual(t0 + 0.6 * 7 * D);
    }
  });

  it("a one-minute window (openssl -nmin 1): between 24 s and 36 s, margin 15 s", () => {
    const minute = { thisUpdate: t0, nextUpdate: t0 + 60_000 };
    expect(safetyMargin(minute, C)).toBe(15_000);
    for (const r of [0, 0.25, 0.5, 0.75, 0.99]) {
      const at = refreshAt(minute, t0 + 1000, r, C);
      expect(at).toBeGreaterThanOrEqual(t0 + 24_000);
      expect(at).toBeLessThanOrEqual(t0 + 36_000);
    }
  });

  it("an answer fetched late in its window is refreshed soon, but never after nextUpdate − margin", () => {
    const day = { thisUpdate: t0, nextUpdate: t0 + D };
    const lateFetch = t0 + 0.9 * D;
    const at = refreshAt(day, lateFetch, 0.5, C);
    expect(at).toBe(lateFetch + C.minIntervalMs);
    const veryLate = t0 + D - 2000;
    expect(refreshAt(day, veryLate, 0.5, C)).toBeLessThanOrEqual(day.nextUpdate);
  });

  it("the safety margin is one hour for long windows, a quarter for short ones", () => {
    expect(safetyMargin({ thisUpdate: t0, nextUpdate: t0 + 7 * D }, C)).toBe(H);
    expect(safetyMargin({ thisUpdate: t0, nextUpdate: t0 + 2 * H }, C)).toBe(0.5 * H);
  });
});

describe("retryAt: backoff from a minute, doubling, capped", () => {
  it("60 s, 120 s, 240 s … up to 1 h without a window", () => {
    const waits = [1, 2, 3, 4, 5, 6, 7, 8, 20].map((n) => retryAt(n, t0, undefined, C) - t0);
    expect(waits).toEqual([
      60_000, 120_000, 240_000, 480_000, 960_000, 1_920_000, 3_600_000, 3_600_000, 3_600_000,
    ]);
  });

  it("is capped at a quarter of the window, and the last try lands before nextUpdate", () => {
    const day = { thisUpdate: t0, nextUpdate: t0 + D };
    expect(retryAt(10, t0 + 0.5 * D, day, C) - (t0 + 0.5 * D)).toBe(H);
    const minute = { thisUpdate: t0, nextUpdate: t0 + 60_000 };
    expect(retryAt(1, t0 + 30_000, minute, C)).toBe(t0 + 45_000);
    // 50 s in: the next try is at nextUpdate − 5 s rather than after the answer expired.
    expect(retryAt(3, t0 + 50_000, minute, C)).toBe(t0 + 55_000);
    // 42 s in, a 15 s step would land 3 s before nextUpdate: too late to use the full timeout.
    expect(retryAt(3, t0 + 42_000, minute, C)).toBe(t0 + 55_000);
  });
});

describe("serveUntil and tierRecheckAt", () => {
  it("unknown answers are served at most 5 minutes; good and revoked until nextUpdate", () => {
    expect(serveUntil({ status: "unknown", nextUpdate: t0 + D, fetchedAt: t0 }, C)).toBe(
      t0 + 5 * 60_000,
    );
    expect(serveUntil({ status: "unknown", nextUpdate: t0 + 60_000, fetchedAt: t0 }, C)).toBe(
      t0 + 60_000,
    );
    expect(serveUntil({ status: "good", nextUpdate: t0 + D, fetchedAt: t0 }, C)).toBe(t0 + D);
    expect(serveUntil({ status: "revoked", nextUpdate: t0 + D, fetchedAt: t0 }, C)).toBe(t0 + D);
  });

  it("cache tiers re-check past the latest refresh, then every 1/20 of the window, never past serveUntil", () => {
    const a = { thisUpdate: t0, serveUntil: t0 + 100_000 };
    expect(tierRecheckAt(a, t0)).toBe(t0 + 60_000);
    expect(tierRecheckAt(a, t0 + 70_000)).toBe(t0 + 75_000);
    expect(tierRecheckAt(a, t0 + 98_000)).toBe(t0 + 100_000);
    const week = { thisUpdate: t0, serveUntil: t0 + 7 * D };
    expect(tierRecheckAt(week, t0 + 6 * D) - (t0 + 6 * D)).toBe(H);
  });

  it("and keep no copy longer than TIER_MAX_AGE_MS: a location reads KV (and tells the owner) that often", () => {
    expect(TIER_MAX_AGE_MS).toBe(3 * D);
    const week = { thisUpdate: t0, serveUntil: t0 + 7 * D };
    expect(tierRecheckAt(week, t0)).toBe(t0 + 3 * D); // not 60 % of the week (4.2 days)
    const fortnight = { thisUpdate: t0, serveUntil: t0 + 14 * D };
    expect(tierRecheckAt(fortnight, t0 + 2 * D)).toBe(t0 + 5 * D);
    // A copy of a copy ends with it (Served.until): never stacked, a day under the idle floor.
    expect(TIER_MAX_AGE_MS + D).toBe(MIN_IDLE_MS);
  });
});
