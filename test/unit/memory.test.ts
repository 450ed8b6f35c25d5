// The isolate memory tier and the hot path's prepared headers: bounded, never past serveUntil,
// and the same headers as the full path.

import { describe, expect, it } from "vitest";
import type { CachedAnswer } from "../../src/cache/record.ts";
import { err } from "../../src/errors.ts";
import { answerHeaders, PreparedHeaders } from "../../src/http/ocsp-headers.ts";
import { MemoryTier } from "../../src/sources/memory.ts";

const t0 = Date.UTC(2026, 10, 28, 12);
const H = 3_600_000;

function answer(key: string, thisUpdate = t0, bytes = 100): CachedAnswer {
  return {
    der: new Uint8Array(bytes),
    certIdKey: key,
    issuerId: "i",
    status: "good",
    thisUpdate,
    nextUpdate: thisUpdate + 24 * H,
    producedAt: thisUpdate,
    fetchedAt: thisUpdate,
    serveUntil: thisUpdate + 24 * H + 500,
    etag: `"${key}"`,
  };
}

const nothingBelow = { get: async () => err({ kind: "tryLater" as const, detail: "" }) };

describe("MemoryTier", () => {
  it("holds at most maxEntries, evicting the oldest not used since", () => {
    const tier = new MemoryTier(nothingBelow, { maxEntries: 3, maxBytes: 1e9 });
    for (const k of ["a", "b", "c"]) tier.put(answer(k), t0);
    expect(tier.peek("a", t0)).toBeDefined(); // a is used: it gets a second chance
    tier.put(answer("d"), t0);
    expect(tier.size.entries).toBe(3);
    expect(tier.peek("b", t0)).toBeUndefined();
    expect(tier.peek("a", t0)).toBeDefined();
    expect(tier.peek("d", t0)).toBeDefined();
  });

  it("holds at most maxBytes of DER", () => {
    const tier = new MemoryTier(nothingBelow, { maxEntries: 100, maxBytes: 250 });
    for (const k of ["a", "b", "c"]) tier.put(answer(k, t0, 100), t0);
    expect(tier.size).toEqual({ entries: 2, bytes: 200 });
  });

  it("drops an answer at its re-check point and never serves it past serveUntil", () => {
    const tier = new MemoryTier(nothingBelow);
    const a = answer("a");
    tier.put(a, t0);
    expect(tier.peek("a", t0 + 14 * H)).toBeDefined(); // before 60 % of the window
    expect(tier.peek("a", t0 + 15 * H)).toBeUndefined();
    tier.put(a, a.serveUntil - 10);
    expect(tier.peek("a", a.serveUntil)).toBeUndefined();
    expect(tier.size.entries).toBe(0);
  });

  it("never replaces a held answer with an older one", () => {
    const tier = new MemoryTier(nothingBelow);
    tier.put(answer("a", t0), t0);
    tier.put(answer("a", t0 - H), t0);
    expect(tier.peek("a", t0)?.thisUpdate).toBe(t0);
  });
});

describe("PreparedHeaders (the hot path)", () => {
  it("are the full path's headers, with max-age at most one second shorter and never past serveUntil", () => {
    const a = answer("a");
    const prepared = new PreparedHeaders(a);
    for (const now of [
      t0,
      t0 + 999,
      t0 + 1000,
      t0 + 12 * H + 123,
      a.serveUntil - 1500,
      a.serveUntil - 1,
    ]) {
      const fast = new Headers(prepared.at(now));
      const full = answerHeaders(a, now, "HIT");
      for (const name of ["Content-Type", "Last-Modified", "Expires", "ETag", "X-Cache"]) {
        expect(fast.get(name), name).toBe(full.get(name));
      }
      const maxAge = (h: Headers) => Number(h.get("Cache-Control")!.match(/max-age=(\d+)/)![1]);
      expect(maxAge(full) - maxAge(fast)).toBeGreaterThanOrEqual(0);
      expect(maxAge(full) - maxAge(fast)).toBeLessThanOrEqual(1);
      // Any response of this second, cached for max-age, is gone by serveUntil (max-age=0: not
      // reused at all).
      const endOfSecond = Math.floor(now / 1000) * 1000 + 1000;
      if (maxAge(fast) > 0)
        expect(endOfSecond + maxAge(fast) * 1000).toBeLessThanOrEqual(a.serveUntil);
      expect(fast.get("Cache-Control")).toMatch(
        /^max-age=\d+, public, no-transform, must-revalidate$/,
      );
    }
  });
});
