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

const nothingBelow = {
  get: async () => err({ kind: "tryLater" as const, detail: "" }),
  inspect: async () => undefined,
};

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
  const maxAge = (h: Headers) => Number(h.get("Cache-Control")!.match(/max-age=(\d+)/)![1]);

  it("are the full path's headers, max-age at most 1 % + 1 s shorter, never past serveUntil", () => {
    const a = answer("a");
    const prepared = new PreparedHeaders(a);
    // Hits at irregular times through the answer's whole life, as a fleet would send them.
    const times: number[] = [];
    for (let now = t0, step = 1; now < a.serveUntil; now += step, step = (step * 7919) % 97_001) {
      times.push(now);
    }
    times.push(a.serveUntil - 1500, a.serveUntil - 1);
    expect(times.length).toBeGreaterThan(1000);
    for (const now of times) {
      const fast = prepared.at(now);
      const full = answerHeaders(a, now, "HIT");
      for (const name of ["Content-Type", "Last-Modified", "Expires", "ETag", "X-Cache"]) {
        expect(fast.get(name), name).toBe(full.get(name));
      }
      expect(fast.get("Cache-Control")).toMatch(
        /^max-age=\d+, public, no-transform, must-revalidate$/,
      );
      // A response sent now and cached for max-age is gone by serveUntil.
      expect(now + maxAge(fast) * 1000).toBeLessThanOrEqual(a.serveUntil);
      const shortfall = maxAge(full) - maxAge(fast);
      expect(shortfall).toBeGreaterThanOrEqual(0);
      expect(shortfall).toBeLessThanOrEqual(Math.ceil((a.serveUntil - now) / 100_000) + 1);
    }
  });

  it("are rebuilt at most once a second, and at least once a minute", () => {
    const a = answer("a");
    const prepared = new PreparedHeaders(a);
    let builds = 0;
    let previous: Headers | undefined;
    let lastBuild = t0;
    for (let now = t0; now < t0 + 2 * H; now += 100) {
      const h = prepared.at(now);
      if (h !== previous) {
        if (previous) expect(now - lastBuild).toBeGreaterThanOrEqual(1000);
        builds++;
        lastBuild = now;
        previous = h;
      }
      expect(now - lastBuild).toBeLessThan(60_000);
    }
    // 24 h of life left: 1 % is over a minute, so one build a minute.
    expect(builds).toBe(120);
    // Near the end (60 s left) the period shrinks to 1 s, so max-age keeps counting down.
    const late = new PreparedHeaders(a);
    expect(maxAge(late.at(a.serveUntil - 60_000))).toBe(59);
    expect(maxAge(late.at(a.serveUntil - 59_000))).toBe(58);
  });

  it("are shared by the responses of one period, which each get their own copy", () => {
    const prepared = new PreparedHeaders(answer("a"));
    const shared = prepared.at(t0);
    expect(prepared.at(t0 + 500)).toBe(shared);
    const first = new Response("x", { headers: shared });
    first.headers.set("X-Cache", "MISS");
    first.headers.set("Set-Cookie", "a=b");
    const second = new Response("x", { headers: prepared.at(t0 + 600) });
    expect(second.headers.get("X-Cache")).toBe("HIT");
    expect(second.headers.has("Set-Cookie")).toBe(false);
    expect(shared.get("X-Cache")).toBe("HIT");
    expect(prepared.at(t0 + 60_000)).not.toBe(shared);
  });
});
