// The upstream budget (fleet/budget.ts): a token bucket per issuer, with the clock passed in.
// What a CA sees of first fetches for certificates nobody pinned: a burst, then a steady rate.

import { describe, expect, it } from "vitest";
import {
  DEFAULT_BUDGET,
  refilled,
  spend,
  type BudgetConfig,
  type BudgetState,
} from "../../src/fleet/budget.ts";

const t0 = Date.UTC(2026, 10, 28);
const SMALL: BudgetConfig = { burst: 5, perMinute: 6 }; // one token every 10 s

/** Spends once at each time of `times`: how many were admitted, and the bucket afterwards. */
function run(times: number[], c: BudgetConfig, start?: BudgetState) {
  let state = start;
  let admitted = 0;
  for (const at of times) {
    const r = spend(state, at, c);
    state = r.state;
    if (r.admitted) admitted++;
  }
  return { admitted, state: state! };
}

describe("refilled: the bucket at a time", () => {
  it("a new bucket is full", () => {
    expect(refilled(undefined, t0, SMALL)).toEqual({ tokens: 5, at: t0, admitted: 0, denied: 0 });
    expect(refilled(undefined, t0, DEFAULT_BUDGET).tokens).toBe(DEFAULT_BUDGET.burst);
  });

  it("refills at perMinute, pro rata", () => {
    const empty: BudgetState = { tokens: 0, at: t0, admitted: 5, denied: 0 };
    expect(refilled(empty, t0 + 10_000, SMALL).tokens).toBeCloseTo(1);
    expect(refilled(empty, t0 + 25_000, SMALL).tokens).toBeCloseTo(2.5);
    expect(refilled(empty, t0 + 10_000, SMALL).at).toBe(t0 + 10_000);
  });

  it("never holds more than burst, however long it waited", () => {
    const empty: BudgetState = { tokens: 0, at: t0, admitted: 5, denied: 0 };
    expect(refilled(empty, t0 + 3_600_000, SMALL).tokens).toBe(5);
    expect(refilled(empty, t0 + 365 * 86_400_000, DEFAULT_BUDGET).tokens).toBe(
      DEFAULT_BUDGET.burst,
    );
  });

  it("a clock that steps back adds nothing and does not move the bucket back", () => {
    const s: BudgetState = { tokens: 1, at: t0, admitted: 4, denied: 0 };
    expect(refilled(s, t0 - 60_000, SMALL)).toMatchObject({ tokens: 1, at: t0 });
  });
});

describe("spend: one token per first fetch", () => {
  it("a burst is admitted at once, the next request is denied", () => {
    const burst = run(Array(5).fill(t0), SMALL);
    expect(burst.admitted).toBe(5);
    const next = spend(burst.state, t0, SMALL);
    expect(next.admitted).toBe(false);
    expect(next.state).toMatchObject({ admitted: 5, denied: 1, lastDeniedAt: t0 });
  });

  it("a denial spends nothing: the token refilled later is there", () => {
    let { state } = run(Array(5).fill(t0), SMALL);
    for (let i = 0; i < 20; i++) state = spend(state, t0 + 9_000, SMALL).state;
    expect(state.denied).toBe(20);
    const later = spend(state, t0 + 10_000, SMALL);
    expect(later.admitted).toBe(true);
    expect(spend(later.state, t0 + 10_000, SMALL).admitted).toBe(false);
  });

  it("after the burst, perMinute more a minute, even when asked every second", () => {
    const drained = run(Array(5).fill(t0), SMALL).state;
    // One request a second for a minute: perMinute (6) of them get through, one every 10 s. Each
    // request adds 0.1 token to the bucket; ten such additions must make a whole token.
    const times = Array.from({ length: 60 }, (_, i) => t0 + (i + 1) * 1000);
    const minute = run(times, SMALL, drained);
    expect(minute.admitted).toBe(6);
    expect(minute.state).toMatchObject({ admitted: 11, denied: 54 });
  });

  it("counts what it admitted and denied across a long run", () => {
    const times = Array.from({ length: 100 }, (_, i) => t0 + i * 1000);
    const { admitted, state } = run(times, SMALL);
    expect(admitted).toBe(state.admitted);
    expect(state.admitted + state.denied).toBe(100);
    // 5 at once, then one every 10 s of the 99 s that follow.
    expect(state.admitted).toBe(5 + 9);
    expect(state.tokens).toBeLessThanOrEqual(SMALL.burst);
  });
});

describe("DEFAULT_BUDGET: what a CA sees of made-up serials", () => {
  it("200 first-time requests spread over 10 s reach the CA 49 times (at most 60)", () => {
    // One request every 50 ms from t0 to t0 + 9.95 s: the burst of 40, then one a second.
    const times = Array.from({ length: 200 }, (_, i) => t0 + i * 50);
    const { admitted, state } = run(times, DEFAULT_BUDGET);
    expect(admitted).toBe(49);
    expect(admitted).toBeLessThanOrEqual(60);
    expect(state.denied).toBe(151);
  });

  it("however the 200 requests fall within 10 s, at most burst + 10 get through", () => {
    for (let seed = 1; seed <= 50; seed++) {
      let x = seed;
      const random = () => ((x = (x * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31) * 10_000;
      const times = Array.from({ length: 200 }, random).sort((a, b) => a - b);
      const { admitted } = run(
        times.map((t) => t0 + Math.floor(t)),
        DEFAULT_BUDGET,
      );
      expect(admitted, `seed ${seed}`).toBeLessThanOrEqual(DEFAULT_BUDGET.burst + 10);
      expect(admitted, `seed ${seed}`).toBeGreaterThanOrEqual(DEFAULT_BUDGET.burst);
    }
  });

  it("one request a second, sustained for a day, is always admitted", () => {
    const times = Array.from({ length: 86_400 }, (_, i) => t0 + i * 1000);
    const { admitted, state } = run(times, DEFAULT_BUDGET);
    expect(admitted).toBe(86_400);
    expect(state.denied).toBe(0);
  });

  it("one a second is admitted even right after the burst was spent", () => {
    const drained = run(Array(DEFAULT_BUDGET.burst).fill(t0), DEFAULT_BUDGET).state;
    expect(spend(drained, t0, DEFAULT_BUDGET).admitted).toBe(false);
    const times = Array.from({ length: 600 }, (_, i) => t0 + (i + 1) * 1000);
    expect(run(times, DEFAULT_BUDGET, drained).admitted).toBe(600);
  });
});
