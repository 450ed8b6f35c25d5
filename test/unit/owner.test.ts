// The certificate owner (fleet/owner.ts) with an injected clock, random draw and upstream:
// single-flight, the refresh schedule, backoff, expiry, idle vs pinned, revoked stickiness,
// no rollback; what deserves a refresh (pinned, or vouched for by a good/revoked answer) and what is
// a guess (never refreshed, never in KV, forgotten after its window, spends the upstream budget).
// KV is the real (simulated) binding.

import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { KV_KEYS, type CachedAnswer } from "../../src/cache/record.ts";
import { err, ok, type Result } from "../../src/errors.ts";
import {
  CertOwnerLogic,
  FAILURE_MEMORY_MS,
  worthRefreshing,
  type OwnerDeps,
  type OwnerPolicy,
  type OwnerState,
  type OwnerStorage,
  type StoredOwner,
} from "../../src/fleet/owner.ts";
import { DEFAULT_BUDGET, type BudgetConfig } from "../../src/fleet/budget.ts";
import { serveUntil } from "../../src/cache/freshness.ts";
import { writeAnswer } from "../../src/sources/kv.ts";
import { DEFAULT_SCHEDULE } from "../../src/fleet/schedule.ts";
import type { IssuerRecord } from "../../src/issuers/issuer.ts";
import { toBase64 } from "../../src/ocsp/bytes.ts";
import type { CertId } from "../../src/ocsp/request.ts";
import { fixture } from "../support/files.ts";
import { certificate } from "../support/files.ts";

const MIN = 60_000;
// The simulated KV checks expirations against the real clock, so the injected clock starts now.
const t0 = Math.ceil(Date.now() / 60_000) * 60_000;
const KEY = "SHA-1:aa:bb:01";
const certId: CertId = {
  hashAlgorithm: "1.3.14.3.2.26",
  hashName: "SHA-1",
  issuerNameHash: new Uint8Array([0xaa]),
  issuerKeyHash: new Uint8Array([0xbb]),
  serialNumber: new Uint8Array([1]),
};

function issuer(): IssuerRecord {
  return {
    id: "issuer1",
    subject: "CN=test",
    responderUrl: "http://127.0.0.1:9/",
    certificate: toBase64(certificate(fixture("pki/rsa-ca.pem")).der),
    hashes: {} as IssuerRecord["hashes"],
    notAfter: "2036-01-01T00:00:00Z",
    createdAt: "2026-11-28T00:00:00Z",
  };
}

function answer(
  status: CachedAnswer["status"],
  thisUpdate: number,
  window: number,
  fetchedAt: number,
): CachedAnswer {
  const base = { status, nextUpdate: thisUpdate + window, fetchedAt };
  return {
    der: new Uint8Array([0x30, 0x03, status.length, thisUpdate % 251, 0]),
    certIdKey: KEY,
    issuerId: "issuer1",
    ...base,
    thisUpdate,
    producedAt: thisUpdate,
    serveUntil: serveUntil(base, DEFAULT_SCHEDULE),
    etag: `"${status}-${thisUpdate}"`,
    ...(status === "revoked" ? { revocationTime: t0 - 3600_000 } : {}),
  };
}

class MemoryStorage implements OwnerStorage {
  data = new Map<string, unknown>();
  alarm: number | null = null;
  /** Each write, in order, as billed (a row each): `put:<key>`, `delete:<key>`, `alarm`, `deleteAll`. */
  writes: string[] = [];
  async get<T>(key: string) {
    return structuredClone(this.data.get(key)) as T | undefined;
  }
  async put<T>(key: string, value: T) {
    this.writes.push(`put:${key}`);
    this.data.set(key, structuredClone(value));
  }
  async delete(keys: string[]) {
    this.writes.push(...keys.map((k) => `delete:${k}`));
    return keys.filter((k) => this.data.delete(k)).length;
  }
  async setAlarm(at: number) {
    this.writes.push("alarm");
    this.alarm = at;
  }
  async getAlarm() {
    return this.alarm;
  }
  async deleteAlarm() {
    this.alarm = null;
  }
  async deleteAll() {
    this.writes.push("deleteAll");
    this.data.clear();
    this.alarm = null;
  }
  /** The one row an owner stores. */
  owner() {
    return this.data.get("owner") as StoredOwner | undefined;
  }
}

/** An owner whose CA answers from `script` (one entry per fetch; a function gets the clock). */
function setup(
  opts: {
    random?: number;
    registered?: boolean;
    spendBudget?: OwnerDeps["spendBudget"];
    report?: OwnerDeps["report"];
    currentIssuer?: OwnerDeps["currentIssuer"];
  } = {},
) {
  const clock = { now: t0 };
  const storage = new MemoryStorage();
  const upstream: { calls: number[]; next: (now: number) => Promise<Result<CachedAnswer>> } = {
    calls: [],
    next: async () => err({ kind: "tryLater", detail: "no script" }),
  };
  const owner = new CertOwnerLogic({
    storage,
    publish: (answer, now) => writeAnswer(env.OCSP_CACHE, answer, now),
    fetchVerified: async (lookup) => {
      upstream.calls.push(lookup.now);
      return upstream.next(lookup.now);
    },
    currentIssuer:
      opts.currentIssuer ?? (async () => ((opts.registered ?? true) ? issuer() : undefined)),
    now: () => clock.now,
    random: () => opts.random ?? 0.5,
    schedule: DEFAULT_SCHEDULE,
    ...(opts.spendBudget ? { spendBudget: opts.spendBudget } : {}),
    ...(opts.report ? { report: opts.report } : {}),
  });
  const request = (pin = false) => ({
    certIdKey: KEY,
    certId,
    issuer: issuer(),
    ...(pin ? { pin } : {}),
  });
  return { clock, storage, upstream, owner, request };
}

const caGives =
  (status: CachedAnswer["status"], window = 60 * MIN) =>
  async (now: number) =>
    ok(answer(status, now, window, now));
const caDown = async () =>
  err({ kind: "tryLater" as const, detail: "the CA's responder failed: HTTP 503" });

describe("CertOwnerLogic", () => {
  it("concurrent misses share one CA fetch and all get the answer", async () => {
    const { owner, upstream, request } = setup();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    upstream.next = async (now) => {
      await gate;
      return ok(answer("good", now, 60 * MIN, now));
    };
    const all = Promise.all(Array.from({ length: 50 }, () => owner.answer(request())));
    release();
    const results = await all;
    expect(upstream.calls).toHaveLength(1);
    expect(results.every((r) => r.ok && r.value.answer.status === "good")).toBe(true);
    expect(results.filter((r) => r.ok && r.value.fetched)).toHaveLength(50);
  });

  it("stores the answer in KV with its facts, and serves later requests without the CA", async () => {
    const { owner, upstream, request, clock } = setup();
    upstream.next = caGives("good");
    await owner.answer(request());
    clock.now += 10 * MIN;
    const again = await owner.answer(request());
    expect(again).toMatchObject({ ok: true, value: { fetched: false } });
    expect(upstream.calls).toHaveLength(1);
    const kv = await env.OCSP_CACHE.getWithMetadata(KV_KEYS.response(KEY), "arrayBuffer");
    expect(kv.metadata).toMatchObject({
      status: "good",
      thisUpdate: t0,
      nextUpdate: t0 + 60 * MIN,
    });
  });

  it("schedules the refresh at the midpoint ± 10 % and refreshes there", async () => {
    for (const random of [0, 0.5, 0.99]) {
      const { owner, upstream, request, storage, clock } = setup({ random });
      upstream.next = caGives("good");
      await owner.answer(request());
      const at = storage.alarm!;
      expect(at).toBeGreaterThanOrEqual(t0 + 24 * MIN);
      expect(at).toBeLessThanOrEqual(t0 + 36 * MIN);
      clock.now = at;
      await owner.alarm();
      expect(upstream.calls).toEqual([t0, at]);
      expect((await owner.held())!.thisUpdate).toBe(at);
      expect(storage.alarm).toBeGreaterThan(at + 20 * MIN);
    }
  });

  it("a failing CA: backoff 1, 2, 4 … minutes, the valid answer kept and served, gone at nextUpdate", async () => {
    const { owner, upstream, request, storage, clock } = setup();
    upstream.next = caGives("good", 24 * 60 * MIN);
    await owner.answer(request());
    upstream.next = caDown;
    clock.now = storage.alarm!;
    const retries: number[] = [];
    for (let i = 0; i < 6; i++) {
      await owner.alarm();
      retries.push(storage.alarm! - clock.now);
      const served = await owner.answer(request());
      expect(served).toMatchObject({ ok: true, value: { answer: { thisUpdate: t0 } } });
      clock.now = storage.alarm!;
    }
    expect(retries).toEqual([1, 2, 4, 8, 16, 32].map((m) => m * MIN));
    expect((await owner.state())!.failures).toBe(6);
    clock.now = t0 + 24 * 60 * MIN; // nextUpdate
    expect(await owner.answer(request())).toMatchObject({ ok: false, error: { kind: "tryLater" } });
  });

  it("backoff is capped at an hour, and the last try lands before nextUpdate", async () => {
    const { owner, upstream, request, storage, clock } = setup();
    upstream.next = caGives("good", 7 * 24 * 60 * MIN);
    await owner.answer(request());
    upstream.next = caDown;
    clock.now = storage.alarm!;
    for (let i = 0; i < 12; i++) {
      await owner.alarm();
      clock.now = storage.alarm!;
    }
    const state = (await owner.state())!;
    expect(state.nextAttemptAt! - state.lastErrorAt!).toBe(60 * MIN);
  });

  it("after nextUpdate requests get tryLater until the CA answers again; a failure is remembered ≤ 5 s", async () => {
    const { owner, upstream, request, clock } = setup();
    upstream.next = caDown;
    expect(await owner.answer(request())).toMatchObject({ ok: false, error: { kind: "tryLater" } });
    expect(await owner.answer(request())).toMatchObject({ ok: false });
    expect(upstream.calls).toHaveLength(1); // remembered
    expect(FAILURE_MEMORY_MS).toBeLessThanOrEqual(5000);
    clock.now += FAILURE_MEMORY_MS;
    upstream.next = caGives("good");
    expect(await owner.answer(request())).toMatchObject({
      ok: true,
      value: { answer: { status: "good" } },
    });
    expect(upstream.calls).toHaveLength(2);
  });

  it("an idle certificate stops being refreshed; a pinned one keeps going", async () => {
    for (const pinned of [false, true]) {
      const { owner, upstream, request, storage, clock } = setup();
      upstream.next = caGives("good", 14 * 24 * 60 * MIN);
      await owner.answer(request(pinned));
      clock.now = t0 + DEFAULT_SCHEDULE.idleAfterMs + MIN;
      await owner.alarm();
      expect(upstream.calls, pinned ? "pinned" : "idle").toHaveLength(pinned ? 2 : 1);
      if (!pinned) {
        // Nothing is kept of an idle unpinned certificate (issue 11: no state left behind by
        // anonymous requests); a touch does not bring it back, the next miss fetches anew.
        expect(await owner.state()).toBeUndefined();
        expect(storage.data.size).toBe(0);
        expect(storage.alarm).toBeNull();
        await owner.touch(request());
        expect(storage.data.size).toBe(0);
        clock.now += 14 * 24 * 60 * MIN; // the answer's window is over
        await owner.answer(request());
        expect(upstream.calls).toHaveLength(2);
      }
    }
  });

  it("refresh stops when the issuer is no longer registered", async () => {
    const { owner, upstream, request, storage, clock } = setup({ registered: false });
    upstream.next = caGives("good");
    await owner.answer(request(true));
    clock.now = storage.alarm!;
    await owner.alarm();
    expect(upstream.calls).toHaveLength(1);
  });

  it("once a validly signed revoked is seen, a later good is not served", async () => {
    const { owner, upstream, request, storage, clock } = setup();
    upstream.next = caGives("revoked");
    await owner.answer(request());
    upstream.next = caGives("good");
    clock.now = storage.alarm!;
    await owner.alarm();
    expect(await owner.answer(request())).toMatchObject({
      ok: true,
      value: { answer: { status: "revoked" } },
    });
    const kv = await env.OCSP_CACHE.getWithMetadata(KV_KEYS.response(KEY), "arrayBuffer");
    expect(kv.metadata).toMatchObject({ status: "revoked" });
    clock.now = t0 + 60 * MIN; // the revoked answer expired: still no good
    expect(await owner.answer(request())).toMatchObject({ ok: false, error: { kind: "tryLater" } });
    expect((await owner.state())!.revokedSeen).toMatchObject({ seenAt: t0 });
  });

  it("never replaces an answer with one whose thisUpdate is older", async () => {
    const { owner, upstream, request, storage, clock } = setup();
    upstream.next = caGives("good");
    await owner.answer(request());
    upstream.next = async (now) => ok(answer("good", t0 - 30 * MIN, 120 * MIN, now));
    clock.now = storage.alarm!;
    await owner.alarm();
    expect((await owner.held())!.thisUpdate).toBe(t0);
  });

  it("unknown answers are served for a short bounded time only", async () => {
    const { owner, upstream, request, clock } = setup();
    upstream.next = caGives("unknown", 7 * 24 * 60 * MIN);
    const first = await owner.answer(request());
    expect(first).toMatchObject({
      ok: true,
      value: { answer: { serveUntil: t0 + DEFAULT_SCHEDULE.unknownMaxAgeMs } },
    });
    clock.now = t0 + DEFAULT_SCHEDULE.unknownMaxAgeMs;
    upstream.next = caDown;
    expect(await owner.answer(request())).toMatchObject({ ok: false });
  });
});

/** The upstream budget as the owner sees it: records each spend, admits while `admit` says so. */
function budget(admit: boolean | (() => boolean) = true) {
  const spent: { issuerId: string; budget: BudgetConfig }[] = [];
  const spendBudget = async (issuerId: string, b: BudgetConfig) => {
    spent.push({ issuerId, budget: b });
    return typeof admit === "function" ? admit() : admit;
  };
  return { spent, spendBudget };
}

const REGISTERED: OwnerPolicy = { access: "registered", budget: DEFAULT_BUDGET };
const kvAnswer = () => env.OCSP_CACHE.getWithMetadata(KV_KEYS.response(KEY), "arrayBuffer");

describe("CertOwnerLogic: only what deserves it is refreshed; guesses spend the budget", () => {
  // Every test of this file shares the KV key of KEY: start each one without it.
  beforeEach(async () => {
    await env.OCSP_CACHE.delete(KV_KEYS.response(KEY));
  });

  it("an unknown answer for an unpinned CertID schedules no refresh, only its forgetting", async () => {
    const { owner, upstream, request, storage } = setup();
    upstream.next = caGives("unknown", 7 * 24 * 60 * MIN);
    const first = await owner.answer(request());
    expect(first).toMatchObject({ ok: true, value: { answer: { status: "unknown" } } });
    const forgetAt = t0 + DEFAULT_SCHEDULE.unknownMaxAgeMs;
    expect(storage.alarm).toBe(forgetAt); // the end of its serve window, not a refresh midway
    expect(await owner.state()).toMatchObject({ forgetAt, pinned: false });
    expect((await owner.state())!.vouched).toBeUndefined();
    expect((await owner.state())!.nextAttemptAt).toBeUndefined();
  });

  it("its alarm before the window ends asks nobody; at the window's end everything is deleted", async () => {
    const { owner, upstream, request, storage, clock } = setup();
    upstream.next = caGives("unknown");
    await owner.answer(request());
    const forgetAt = storage.alarm!;
    clock.now = t0 + MIN; // an early alarm (the platform may fire late, never early: still safe)
    await owner.alarm();
    expect(storage.alarm).toBe(forgetAt);
    expect(storage.data.size).toBeGreaterThan(0);
    clock.now = forgetAt;
    await owner.alarm();
    expect(storage.data.size).toBe(0); // the owner row (its state and answer)
    expect(storage.alarm).toBeNull();
    expect(await owner.state()).toBeUndefined();
    expect(await owner.held()).toBeUndefined();
    expect(upstream.calls).toEqual([t0]);
    // Nothing is left to wake it: no more alarms, no more CA requests, however long we wait.
    clock.now += 7 * 24 * 60 * MIN;
    await owner.alarm();
    expect(upstream.calls).toHaveLength(1);
  });

  it("a junk request leaves nothing behind after at most unknownMaxAge", async () => {
    for (const window of [MIN, 60 * MIN, 7 * 24 * 60 * MIN]) {
      const { owner, upstream, request, storage, clock } = setup();
      upstream.next = caGives("unknown", window);
      await owner.answer(request());
      expect(storage.alarm! - t0, `window ${window}`).toBeLessThanOrEqual(
        DEFAULT_SCHEDULE.unknownMaxAgeMs,
      );
      clock.now = storage.alarm!;
      await owner.alarm();
      expect(storage.data.size).toBe(0);
      expect(storage.alarm).toBeNull();
    }
  });

  it("the CA is asked again only when a client asks after the window", async () => {
    const { owner, upstream, request, storage, clock } = setup();
    upstream.next = caGives("unknown");
    await owner.answer(request());
    clock.now = t0 + 4 * MIN; // within the window: served from the owner
    expect(await owner.answer(request())).toMatchObject({ ok: true, value: { fetched: false } });
    expect(upstream.calls).toHaveLength(1);
    // The window ends: forgotten, and silence asks the CA nothing.
    clock.now = storage.alarm!;
    await owner.alarm();
    clock.now = t0 + 60 * MIN;
    expect(upstream.calls).toHaveLength(1);
    // A client asks much later: fetched again, once.
    const again = await owner.answer(request());
    expect(again).toMatchObject({
      ok: true,
      value: { fetched: true, answer: { status: "unknown" } },
    });
    expect(upstream.calls).toEqual([t0, t0 + 60 * MIN]);
    expect(storage.alarm).toBe(t0 + 60 * MIN + DEFAULT_SCHEDULE.unknownMaxAgeMs);
  });

  it("a client asking after the window but before the forget alarm fetches again", async () => {
    const { owner, upstream, request, storage, clock } = setup();
    upstream.next = caGives("unknown");
    await owner.answer(request());
    clock.now = t0 + DEFAULT_SCHEDULE.unknownMaxAgeMs + 1; // the alarm has not run yet
    const again = await owner.answer(request());
    expect(again).toMatchObject({ ok: true, value: { fetched: true } });
    expect(upstream.calls).toHaveLength(2);
    expect(storage.alarm).toBe(clock.now + DEFAULT_SCHEDULE.unknownMaxAgeMs);
  });

  it("a failed guess schedules no retry and is forgotten after unknownMaxAge", async () => {
    const { owner, upstream, request, storage, clock } = setup();
    upstream.next = caDown;
    expect(await owner.answer(request())).toMatchObject({ ok: false, error: { kind: "tryLater" } });
    const state = (await owner.state())!;
    expect(state.failures).toBe(1);
    expect(state.nextAttemptAt).toBeUndefined(); // no retry at 1 min, 2 min, …
    expect(storage.alarm).toBe(t0 + DEFAULT_SCHEDULE.unknownMaxAgeMs);
    expect(state.forgetAt).toBe(storage.alarm);
    clock.now = storage.alarm!;
    await owner.alarm();
    expect(upstream.calls).toEqual([t0]);
    expect(storage.data.size).toBe(0);
    expect(storage.alarm).toBeNull();
  });

  it("a guess's answer is not written to KV", async () => {
    const { owner, upstream, request } = setup();
    upstream.next = caGives("unknown");
    expect(await owner.answer(request())).toMatchObject({ ok: true });
    expect((await kvAnswer()).value).toBeNull();
    expect(await owner.held()).toMatchObject({ status: "unknown" }); // the owner serves it
  });

  it.each(["good", "revoked"] as const)(
    "a %s answer keeps its refresh schedule and is written to KV",
    async (status) => {
      const { owner, upstream, request, storage, clock } = setup();
      upstream.next = caGives(status);
      await owner.answer(request());
      const state = (await owner.state())!;
      expect(state).toMatchObject({ vouched: true, lastStatus: status });
      expect(state.forgetAt).toBeUndefined();
      expect(storage.alarm).toBe(t0 + 30 * MIN); // the midpoint (random 0.5)
      expect(state.nextAttemptAt).toBe(storage.alarm);
      expect((await kvAnswer()).metadata).toMatchObject({ status, thisUpdate: t0 });
      clock.now = storage.alarm!;
      await owner.alarm();
      expect(upstream.calls).toEqual([t0, t0 + 30 * MIN]);
      expect(storage.alarm).toBeGreaterThan(clock.now);
    },
  );

  it("a guess the CA later answers good becomes worth refreshing (vouched)", async () => {
    const { owner, upstream, request, storage, clock } = setup();
    upstream.next = caGives("unknown");
    await owner.answer(request());
    expect(worthRefreshing((await owner.state())!)).toBe(false);
    clock.now = t0 + DEFAULT_SCHEDULE.unknownMaxAgeMs; // the window is over, a client asks
    upstream.next = caGives("good");
    expect(await owner.answer(request())).toMatchObject({
      ok: true,
      value: { fetched: true, answer: { status: "good" } },
    });
    const state = (await owner.state())!;
    expect(state.vouched).toBe(true);
    expect(worthRefreshing(state)).toBe(true);
    expect(state.forgetAt).toBeUndefined();
    expect(storage.alarm).toBe(clock.now + 30 * MIN);
    expect((await kvAnswer()).metadata).toMatchObject({ status: "good" });
    // The refresh comes, and an `unknown` from a flaky CA later does not turn it back into a guess.
    upstream.next = caGives("unknown");
    clock.now = storage.alarm!;
    await owner.alarm();
    expect(upstream.calls).toHaveLength(3);
    expect(worthRefreshing((await owner.state())!)).toBe(true);
    expect((await owner.state())!.forgetAt).toBeUndefined();
  });

  it("a pinned unknown keeps refreshing, and is written to KV", async () => {
    const { owner, upstream, request, storage, clock } = setup();
    upstream.next = caGives("unknown");
    await owner.answer(request(true));
    expect((await owner.state())!.forgetAt).toBeUndefined();
    expect(storage.alarm).toBe(t0 + DEFAULT_SCHEDULE.unknownMaxAgeMs / 2);
    expect((await kvAnswer()).metadata).toMatchObject({ status: "unknown" });
    for (let i = 0; i < 5; i++) {
      clock.now = storage.alarm!;
      await owner.alarm();
    }
    expect(upstream.calls).toHaveLength(6);
    expect(storage.data.size).toBeGreaterThan(0);
  });

  it("a pin arriving while a guess's fetch is in flight is kept", async () => {
    const { owner, upstream, request, storage } = setup();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    upstream.next = async (now) => {
      await gate;
      return ok(answer("unknown", now, 60 * MIN, now));
    };
    const guess = owner.answer(request());
    await new Promise((r) => setTimeout(r, 0)); // the guess's fetch has started
    const pin = owner.answer(request(true));
    release();
    const [a, b] = await Promise.all([guess, pin]);
    expect(a).toMatchObject({ ok: true });
    expect(b).toMatchObject({ ok: true, value: { answer: { status: "unknown" } } });
    expect(upstream.calls).toHaveLength(1);
    const state = (await owner.state())!;
    expect(state.pinned).toBe(true);
    expect(state.forgetAt).toBeUndefined();
    expect(storage.alarm).toBe(t0 + DEFAULT_SCHEDULE.unknownMaxAgeMs / 2); // a refresh
    expect((await kvAnswer()).metadata).toMatchObject({ status: "unknown" });
  });

  it("a pin arriving while a guess's answer is held: asked again, refresh scheduled, written to KV", async () => {
    const { owner, upstream, request, storage, clock } = setup();
    upstream.next = caGives("unknown");
    await owner.answer(request());
    clock.now = t0 + MIN;
    // A pin trusts only what the CA vouched for: the held `unknown` is fetched again.
    expect(await owner.answer(request(true))).toMatchObject({
      ok: true,
      value: { fetched: true, answer: { status: "unknown" } },
    });
    expect(upstream.calls).toEqual([t0, t0 + MIN]);
    const state = (await owner.state())!;
    expect(state.pinned).toBe(true);
    expect(state.forgetAt).toBeUndefined();
    expect(storage.alarm).toBe(state.nextAttemptAt);
    expect(storage.alarm).toBeLessThan(t0 + DEFAULT_SCHEDULE.unknownMaxAgeMs);
    // Pinned answers are in KV, the read path of every isolate (as a pin joining a fetch does).
    expect((await kvAnswer()).metadata).toMatchObject({ status: "unknown" });
  });

  it("an unknown planted before issuance is not what a pin gets: the CA's good is", async () => {
    const { owner, upstream, request, clock } = setup();
    upstream.next = caGives("unknown"); // asked for by anyone before the certificate existed
    await owner.answer(request());
    clock.now = t0 + MIN;
    upstream.next = caGives("good"); // issued since
    expect(await owner.answer(request(true))).toMatchObject({
      ok: true,
      value: { fetched: true, answer: { status: "good", thisUpdate: t0 + MIN } },
    });
    expect(await owner.answer(request())).toMatchObject({
      ok: true,
      value: { fetched: false, answer: { status: "good" } },
    });
    expect((await kvAnswer()).metadata).toMatchObject({ status: "good" });
    expect(upstream.calls).toEqual([t0, t0 + MIN]);
  });

  it("a pin of a certificate whose good answer is held asks the CA nothing", async () => {
    const { owner, upstream, request, clock } = setup();
    upstream.next = caGives("good");
    await owner.answer(request());
    clock.now = t0 + MIN;
    expect(await owner.answer(request(true))).toMatchObject({
      ok: true,
      value: { fetched: false, answer: { status: "good" } },
    });
    expect(upstream.calls).toEqual([t0]);
  });

  it("a miss is answered before its report to the ledger is delivered (the ledger may hang)", async () => {
    const reported: number[] = [];
    const { owner, upstream, request } = setup({
      report: (r) => {
        reported.push(r.at);
        return new Promise<void>(() => {}); // a ledger that never answers
      },
    });
    upstream.next = caGives("good");
    expect(await owner.answer(request(true))).toMatchObject({
      ok: true,
      value: { fetched: true, answer: { status: "good" } },
    });
    expect(reported).toEqual([t0]);
  });

  it("touch() on an absent owner creates no state and sets no alarm", async () => {
    const { owner, storage, upstream, request } = setup();
    await owner.touch(request());
    expect(storage.data.size).toBe(0);
    expect(storage.alarm).toBeNull();
    expect(upstream.calls).toHaveLength(0);
  });

  it("touch() on a guessed owner neither revives nor extends it", async () => {
    const { owner, upstream, request, storage, clock } = setup();
    upstream.next = caGives("unknown");
    await owner.answer(request());
    const before = (await owner.state())!;
    clock.now = t0 + 2 * MIN;
    await owner.touch(request());
    expect(storage.alarm).toBe(before.forgetAt);
    expect(await owner.state()).toEqual(before);
    clock.now = storage.alarm!;
    await owner.alarm();
    expect(storage.data.size).toBe(0);
    await owner.touch(request()); // forgotten: a touch brings nothing back
    expect(storage.data.size).toBe(0);
    expect(storage.alarm).toBeNull();
    expect(upstream.calls).toHaveLength(1);
  });

  it("over budget: tryLater (cause budget), nothing stored, the CA not asked", async () => {
    const b = budget(false);
    const { owner, upstream, request, storage } = setup({ spendBudget: b.spendBudget });
    upstream.next = caGives("good");
    const custom = { access: "open" as const, budget: { burst: 3, perMinute: 7 } };
    const res = await owner.answer({ ...request(), policy: custom });
    expect(res).toMatchObject({ ok: false, error: { kind: "tryLater", cause: "budget" } });
    expect(b.spent).toEqual([{ issuerId: "issuer1", budget: { burst: 3, perMinute: 7 } }]);
    expect(upstream.calls).toHaveLength(0);
    expect(storage.data.size).toBe(0);
    expect(storage.alarm).toBeNull();
    expect((await kvAnswer()).value).toBeNull();
  });

  it("a guess spends one token, however many clients ask for it at once", async () => {
    const b = budget(true);
    const { owner, upstream, request } = setup({ spendBudget: b.spendBudget });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    upstream.next = async (now) => {
      await gate;
      return ok(answer("unknown", now, 60 * MIN, now));
    };
    const first = owner.answer(request());
    await new Promise((r) => setTimeout(r, 0));
    const rest = Array.from({ length: 9 }, () => owner.answer(request()));
    release();
    const all = await Promise.all([first, ...rest]);
    expect(all.every((r) => r.ok)).toBe(true);
    expect(upstream.calls).toHaveLength(1);
    expect(b.spent).toHaveLength(1);
  });

  it("pinned requests never spend from the budget, even when it is spent", async () => {
    const b = budget(false);
    const { owner, upstream, request, storage, clock } = setup({ spendBudget: b.spendBudget });
    upstream.next = caGives("unknown");
    expect(await owner.answer(request(true))).toMatchObject({ ok: true });
    clock.now = storage.alarm!;
    await owner.alarm();
    clock.now = t0 + 60 * MIN; // expired: a client asks, the pinned certificate is fetched
    expect(await owner.answer(request())).toMatchObject({ ok: true, value: { fetched: true } });
    expect(upstream.calls).toHaveLength(3);
    expect(b.spent).toHaveLength(0);
  });

  it("refreshes of a certificate the CA vouched for never spend from the budget", async () => {
    let left = 1;
    const b = budget(() => left-- > 0);
    const { owner, upstream, request, storage, clock } = setup({ spendBudget: b.spendBudget });
    upstream.next = caGives("good");
    expect(await owner.answer(request())).toMatchObject({ ok: true }); // the one token
    for (let i = 0; i < 4; i++) {
      clock.now = storage.alarm!;
      await owner.alarm();
    }
    // Its answer expired with the CA down; a client asks later: fetched without a token.
    upstream.next = caDown;
    clock.now = (await owner.held())!.serveUntil + MIN;
    expect(await owner.answer(request())).toMatchObject({
      ok: false,
      error: { kind: "tryLater", detail: expect.stringContaining("503") },
    });
    upstream.next = caGives("good");
    clock.now += FAILURE_MEMORY_MS;
    expect(await owner.answer(request())).toMatchObject({ ok: true, value: { fetched: true } });
    expect(upstream.calls).toHaveLength(7);
    expect(b.spent).toHaveLength(1);
  });

  it("access registered: an unpinned CertID is unauthorized, without the CA, without state", async () => {
    const b = budget(true);
    const { owner, upstream, request, storage } = setup({ spendBudget: b.spendBudget });
    upstream.next = caGives("good");
    const res = await owner.answer({ ...request(), policy: REGISTERED });
    expect(res).toMatchObject({ ok: false, error: { kind: "unauthorized" } });
    expect(upstream.calls).toHaveLength(0);
    expect(b.spent).toHaveLength(0);
    expect(storage.data.size).toBe(0);
    expect(storage.alarm).toBeNull();
    // A pinned certificate is still relayed under the same policy.
    expect(await owner.answer({ ...request(true), policy: REGISTERED })).toMatchObject({
      ok: true,
      value: { answer: { status: "good" } },
    });
    expect(upstream.calls).toHaveLength(1);
  });
});

describe("CertOwnerLogic: requests that interleave inside one owner (awaits let others in)", () => {
  it("a pin made while a refresh awaits the CA is still there when the refresh finishes", async () => {
    const { owner, upstream, request, clock, storage } = setup();
    upstream.next = caGives("good");
    await owner.answer(request()); // good, unpinned, vouched
    clock.now += 31 * MIN; // past the refresh point, the answer still fresh
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    upstream.next = async (now) => {
      await gate;
      return ok(answer("good", now, 60 * MIN, now));
    };
    const refresh = owner.alarm();
    await new Promise((r) => setTimeout(r, 0)); // the refresh is now waiting for the CA
    const pinned = await owner.answer(request(true)); // the admin pins it meanwhile
    expect(pinned.ok).toBe(true);
    release();
    await refresh;
    expect(storage.owner()?.state.pinned).toBe(true);
    expect((await owner.state())?.pinned).toBe(true);
  });

  it("two first requests at once for a guess spend one token and make one CA fetch", async () => {
    const b = budget();
    let answerBudget!: () => void;
    const slowBudget = async (issuerId: string, c: BudgetConfig) => {
      await new Promise<void>((r) => (answerBudget = r));
      return b.spendBudget(issuerId, c);
    };
    const { owner, upstream, request } = setup({ spendBudget: slowBudget });
    upstream.next = caGives("revoked");
    const first = owner.answer(request());
    const second = owner.answer(request());
    await new Promise((r) => setTimeout(r, 0));
    answerBudget();
    const results = await Promise.all([first, second]);
    expect(b.spent).toHaveLength(1);
    expect(upstream.calls).toHaveLength(1);
    expect(results.map((r) => r.ok && r.value.answer.status)).toEqual(["revoked", "revoked"]);
    // What the first fetch learnt (a validly signed revoked) is not written over by the second.
    expect((await owner.state())?.revokedSeen).toBeDefined();
    expect((await owner.state())?.vouched).toBe(true);
  });
});

describe("CertOwnerLogic: an idle revoked certificate", () => {
  it("keeps its revocation (no later good is served) though its refresh stops", async () => {
    const { owner, upstream, request, clock } = setup();
    upstream.next = caGives("revoked", 14 * 24 * 60 * MIN);
    await owner.answer(request());
    clock.now = t0 + DEFAULT_SCHEDULE.idleAfterMs + MIN;
    await owner.alarm();
    expect(upstream.calls).toHaveLength(1);
    expect((await owner.state())?.revokedSeen).toBeDefined();
    clock.now += 14 * 24 * 60 * MIN;
    upstream.next = caGives("good");
    const later = await owner.answer(request());
    expect(later).toMatchObject({ ok: false, error: { kind: "tryLater", cause: "rule" } });
  });
});

describe("CertOwnerLogic: the runner's edges (review of the kernel, issue 17)", () => {
  const outcome = (p: Promise<unknown>) =>
    p.then(
      (value) => ({ value }),
      (e: unknown) => ({ threw: e instanceof Error ? e.message : String(e) }),
    );

  it("a stored issuer that does not parse is an internal error, not an exception", async () => {
    const { owner, request } = setup();
    const broken = { ...request(true), issuer: { ...issuer(), certificate: "AAAA" } };
    expect(await outcome(owner.answer(broken))).toMatchObject({
      value: { ok: false, error: { kind: "internal" } },
    });
  });

  it("a guess's forget alarm firing while a client's fetch is in flight breaks neither", async () => {
    const { owner, request, upstream, clock, storage } = setup();
    upstream.next = caGives("unknown");
    await owner.answer(request());
    clock.now = storage.alarm! + 1; // its window is over: the forget alarm is due
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    upstream.next = async (now) => {
      await gate;
      return ok(answer("unknown", now, 60 * MIN, now));
    };
    const asked = outcome(owner.answer(request()));
    await new Promise((r) => setTimeout(r, 0));
    const alarmed = outcome(owner.alarm());
    await new Promise((r) => setTimeout(r, 0));
    release();
    expect(await alarmed).toEqual({ value: undefined });
    expect(await asked).toMatchObject({
      value: { ok: true, value: { fetched: true, answer: { status: "unknown" } } },
    });
    // The fetch recorded its result in the state it started with: nothing half-forgotten.
    expect((await owner.state())?.forgetAt).toBeGreaterThan(clock.now);
    expect(await outcome(owner.answer(request()))).toMatchObject({ value: { ok: true } });
  });

  it("one storage read that fails is tried again by the next call, not kept", async () => {
    const { owner, request, upstream, storage } = setup();
    upstream.next = caGives("good");
    const get = storage.get.bind(storage);
    let fail = 1;
    storage.get = async <T>(key: string) => {
      if (fail-- > 0) throw new Error("storage get failed (transient)");
      return get<T>(key);
    };
    expect(await outcome(owner.answer(request(true)))).toMatchObject({
      threw: "storage get failed (transient)",
    });
    expect(await outcome(owner.answer(request(true)))).toMatchObject({ value: { ok: true } });
  });

  it("twenty requests sharing one refused budget token log it once", async () => {
    let answerBudget!: () => void;
    const spendBudget = async () => {
      await new Promise<void>((r) => (answerBudget = r));
      return false;
    };
    const { owner, request } = setup({ spendBudget });
    const logged = vi.spyOn(console, "log").mockImplementation(() => {});
    const all = Promise.all(Array.from({ length: 20 }, () => owner.answer(request())));
    await new Promise((r) => setTimeout(r, 0));
    answerBudget();
    const results = await all;
    const lines = logged.mock.calls.filter((c) =>
      String(c[0]).includes("upstream.budget_exceeded"),
    );
    logged.mockRestore();
    expect(results.every((r) => !r.ok && r.error.kind === "tryLater")).toBe(true);
    expect(lines).toHaveLength(1);
  });

  it("an alarm that decides nothing does not wait for a client's fetch", async () => {
    const { owner, request, upstream, clock } = setup();
    upstream.next = caGives("unknown");
    await owner.answer(request());
    clock.now = t0 + 6 * MIN; // the unknown is over; the client asks again
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    upstream.next = async (now) => {
      await gate;
      return ok(answer("good", now, 60 * MIN, now));
    };
    const asked = owner.answer(request());
    await new Promise((r) => setTimeout(r, 0));
    (await owner.state())!.forgetAt = t0 + 60 * MIN; // the alarm only re-arms its forgetting
    let alarmDone = false;
    const alarmed = owner.alarm().then(() => (alarmDone = true));
    await new Promise((r) => setTimeout(r, 10));
    expect(alarmDone).toBe(true);
    release();
    await Promise.all([asked, alarmed]);
  });
});

describe("CertOwnerLogic: certificates end (issue 18)", () => {
  it("a pinned certificate past its notAfter: the CA is asked no more, whatever the refresh periods", async () => {
    const { owner, upstream, request, storage, clock } = setup();
    upstream.next = caGives("good", 20 * MIN);
    const notAfter = t0 + 25 * MIN;
    const leaf = { subject: "CN=ending.example", mustStaple: false, notAfter };
    await owner.answer({ ...request(true), leaf });
    // Refresh every 10 min or so until the end; the alarm is never set past notAfter.
    for (let i = 0; i < 12 && storage.alarm !== null; i++) {
      expect(storage.alarm).toBeLessThanOrEqual(notAfter);
      clock.now = storage.alarm;
      await owner.alarm();
    }
    const calls = upstream.calls.length;
    expect(upstream.calls.every((at) => at < notAfter)).toBe(true);
    expect(await owner.state()).toBeUndefined(); // forgotten at its end
    for (const later of [30, 60, 120]) {
      clock.now = notAfter + later * MIN;
      await owner.alarm();
    }
    expect(upstream.calls).toHaveLength(calls);
  });

  it("unpin: a pinned certificate then goes idle like any other; unpinning twice says so", async () => {
    const { owner, upstream, request } = setup();
    upstream.next = caGives("good");
    await owner.answer(request(true));
    expect(await owner.unpin()).toBe(true);
    expect((await owner.state())?.pinned).toBe(false);
    expect(await owner.unpin()).toBe(false);
  });

  it("an alarm whose work throws (a registry read failing) re-arms its own retry", async () => {
    let registryDown = false;
    const { owner, upstream, request, storage, clock } = setup({
      currentIssuer: async () => {
        if (registryDown) throw new Error("KV read failed");
        return issuer();
      },
    });
    upstream.next = caGives("good");
    await owner.answer(request(true));
    registryDown = true;
    clock.now = storage.alarm!;
    await owner.alarm(); // resolves: the platform's retries are not relied on
    expect(storage.alarm).toBe(clock.now + DEFAULT_SCHEDULE.backoffBaseMs);
    // Still failing, after the object was evicted: the backoff grows (its count is stored).
    const again = new CertOwnerLogic({
      storage,
      publish: async () => {},
      fetchVerified: async () => err({ kind: "tryLater", detail: "unused" }),
      currentIssuer: async () => {
        throw new Error("KV read failed");
      },
      now: () => clock.now,
      random: () => 0.5,
      schedule: DEFAULT_SCHEDULE,
    });
    clock.now = storage.alarm!;
    await again.alarm();
    expect(storage.alarm).toBe(clock.now + 2 * DEFAULT_SCHEDULE.backoffBaseMs);
    registryDown = false;
    const calls = upstream.calls.length;
    clock.now = storage.alarm!;
    await owner.alarm();
    expect(upstream.calls).toHaveLength(calls + 1);
  });
});

describe("CertOwnerLogic: rows written (one row holds the state and the answer)", () => {
  const DAY = 24 * 60 * MIN;
  const WEEK = 7 * DAY;

  it("a scheduled refresh of a pinned certificate writes two rows: the owner and its alarm", async () => {
    const { owner, upstream, request, storage, clock } = setup();
    upstream.next = caGives("good");
    await owner.answer(request(true));
    expect([...storage.data.keys()]).toEqual(["owner"]);
    for (let i = 0; i < 3; i++) {
      clock.now = storage.alarm!;
      storage.writes = [];
      await owner.alarm(); // alarm → fetch → a verified good
      expect(storage.writes).toEqual(["put:owner", "alarm"]);
      expect(upstream.calls.at(-1)).toBe(clock.now);
      // The row holds the new answer and the schedule it set.
      const row = storage.owner()!;
      expect(row.held?.thisUpdate).toBe(clock.now);
      expect(row.held).toEqual(await owner.held());
      expect(row.state.nextAttemptAt).toBe(storage.alarm);
      expect(row.state.pinned).toBe(true);
    }
    expect([...storage.data.keys()]).toEqual(["owner"]);
  });

  it("a refresh that keeps the answer held (the CA sent an older one) writes the same two rows", async () => {
    const { owner, upstream, request, storage, clock } = setup();
    upstream.next = caGives("good");
    await owner.answer(request(true));
    clock.now = storage.alarm!;
    upstream.next = async (now) => ok(answer("good", t0 - MIN, 60 * MIN, now));
    storage.writes = [];
    await owner.alarm();
    expect(storage.writes).toEqual(["put:owner", "alarm"]);
    expect(storage.owner()!.held?.thisUpdate).toBe(t0);
  });

  it("a touch of a pinned certificate writes nothing; the next refresh stores when it was asked", async () => {
    const { owner, upstream, request, storage, clock } = setup();
    upstream.next = caGives("good", WEEK);
    await owner.answer(request(true)); // pinned at t0, its refresh due in about 3.5 days
    expect(storage.alarm).toBeGreaterThan(t0 + 3 * DAY + 2 * 60 * MIN);
    for (const at of [MIN, DAY, 3 * DAY + 60 * MIN, 3 * DAY + 2 * 60 * MIN]) {
      clock.now = t0 + at; // past touchWriteAfter (3 days) too: still nothing written
      storage.writes = [];
      await owner.touch(request());
      expect(storage.writes, `touch at +${at / MIN} min`).toEqual([]);
      expect((await owner.state())!.lastRequestedAt).toBe(clock.now); // in memory
    }
    expect(storage.owner()!.state.lastRequestedAt).toBe(t0);
    const touched = clock.now;
    clock.now = storage.alarm!;
    storage.writes = [];
    await owner.alarm();
    expect(storage.writes).toEqual(["put:owner", "alarm"]);
    expect(storage.owner()!.state.lastRequestedAt).toBe(touched);
  });

  it("a pinned certificate's touch after 4 days with no alarm pending sets one, and writes no state", async () => {
    const { owner, upstream, request, storage, clock } = setup();
    upstream.next = caGives("good", WEEK);
    await owner.answer(request(true));
    storage.alarm = null; // lost (the platform's retries gave up, say)
    clock.now = t0 + 4 * DAY;
    storage.writes = [];
    await owner.touch(request());
    expect(storage.writes).toEqual(["alarm"]);
    expect(storage.alarm).toBe(clock.now);
    // Checked once: the in-memory time is recent now.
    storage.alarm = null;
    clock.now += 60 * MIN;
    storage.writes = [];
    await owner.touch(request());
    expect(storage.writes).toEqual([]);
  });

  it("a touch of a pinned certificate that brings news (a first watch) is written at once", async () => {
    const { owner, upstream, request, storage, clock } = setup();
    upstream.next = caGives("good", WEEK);
    await owner.answer(request(true));
    clock.now = t0 + 10 * MIN;
    storage.writes = [];
    await owner.touch({ ...request(), watch: true });
    expect(storage.writes).toEqual(["put:owner"]); // (an alarm is pending: not set again)
    expect(storage.owner()!.state).toMatchObject({ watched: true, lastRequestedAt: clock.now });
  });

  it("an unpinned vouched certificate's touch writes as before: once touchWriteAfter has passed", async () => {
    const { owner, upstream, request, storage, clock } = setup();
    upstream.next = caGives("good", WEEK);
    await owner.answer(request()); // good: vouched, refreshed while clients ask
    expect(worthRefreshing((await owner.state())!)).toBe(true);
    clock.now = t0 + 20 * MIN;
    storage.writes = [];
    await owner.touch(request());
    expect(storage.writes).toEqual([]);
    expect(storage.owner()!.state.lastRequestedAt).toBe(t0);
    expect((await owner.state())!.lastRequestedAt).toBe(t0); // not even in memory
    clock.now = t0 + 3 * DAY + MIN;
    await owner.touch(request());
    expect(storage.writes).toEqual(["put:owner"]);
    expect(storage.owner()!.state.lastRequestedAt).toBe(clock.now);
    expect(storage.owner()!.held).toEqual(await owner.held());
  });

  it("unpin restarts the idle clock: pinned long ago, nobody asking, it is not forgotten at once", async () => {
    const { owner, upstream, request, storage, clock } = setup();
    upstream.next = caGives("good", WEEK);
    await owner.answer(request(true));
    // Refreshed for 10 days by its alarms alone (nobody asks): the stored time stays t0.
    while (storage.alarm! < t0 + 10 * DAY) {
      clock.now = storage.alarm!;
      await owner.alarm();
    }
    expect(storage.owner()!.state.lastRequestedAt).toBe(t0);
    expect(await owner.unpin()).toBe(true);
    const unpinnedAt = clock.now;
    expect(storage.owner()!.state).toMatchObject({ pinned: false, lastRequestedAt: unpinnedAt });
    // Refreshed until IDLE_REFRESH after the unpin, not forgotten at its first alarm.
    const calls = upstream.calls.length;
    clock.now = storage.alarm!;
    await owner.alarm();
    expect(upstream.calls).toHaveLength(calls + 1);
    expect(await owner.state()).toBeDefined();
    clock.now = unpinnedAt + DEFAULT_SCHEDULE.idleAfterMs + MIN;
    await owner.alarm();
    expect(await owner.state()).toBeUndefined(); // idle now: forgotten
  });
});

describe("CertOwnerLogic: owners stored before the one row (the `state` and `answer` keys)", () => {
  /** What a deployed relay holds for a pinned certificate, stored the old way. */
  function legacy(storage: MemoryStorage) {
    const held = answer("good", t0 - 10 * MIN, 60 * MIN, t0 - 10 * MIN);
    const state: OwnerState = {
      certIdKey: KEY,
      certId,
      issuer: issuer(),
      pinned: true,
      watched: true,
      access: "open",
      lastRequestedAt: t0 - 10 * MIN,
      fetches: 1,
      failures: 0,
      lastFetchAt: t0 - 10 * MIN,
      lastStatus: "good",
      vouched: true,
      nextAttemptAt: t0 + 20 * MIN,
    };
    storage.data.set("state", state);
    storage.data.set("answer", held);
    storage.alarm = t0 + 20 * MIN;
    return { state, held };
  }

  it("serves the held answer, keeps its pin; the first save writes `owner` and deletes the old keys", async () => {
    const { owner, upstream, request, storage, clock } = setup();
    const { held } = legacy(storage);
    expect(await owner.held()).toEqual(held);
    expect((await owner.state())?.pinned).toBe(true);
    expect(storage.writes).toEqual([]); // reading writes nothing
    const served = await owner.answer(request());
    expect(served).toMatchObject({ ok: true, value: { fetched: false, answer: held } });
    expect(upstream.calls).toEqual([]);
    expect(storage.writes).toEqual(["put:owner", "delete:state", "delete:answer"]);
    expect([...storage.data.keys()]).toEqual(["owner"]);
    expect(storage.owner()).toEqual({
      state: expect.objectContaining({ pinned: true, watched: true, vouched: true }),
      held,
    });
    // Once: the next save writes the row alone, and the pin still refreshes.
    upstream.next = caGives("good");
    clock.now = storage.alarm!;
    storage.writes = [];
    await owner.alarm();
    expect(upstream.calls).toEqual([clock.now]);
    expect(storage.writes).toEqual(["put:owner", "alarm"]);
    expect(storage.owner()!.held?.thisUpdate).toBe(clock.now);
    expect(storage.owner()!.state.pinned).toBe(true);
  });

  it("a refresh as the first save: the row, the old keys deleted, the alarm; read again, the row", async () => {
    const { owner, upstream, storage, clock } = setup();
    legacy(storage);
    upstream.next = caGives("good");
    clock.now = storage.alarm!;
    await owner.alarm();
    expect(storage.writes).toEqual(["put:owner", "delete:state", "delete:answer", "alarm"]);
    expect([...storage.data.keys()]).toEqual(["owner"]);
    // The object evicted: a new one reads the row.
    const again = new CertOwnerLogic({
      storage,
      publish: async () => {},
      fetchVerified: async () => err({ kind: "tryLater", detail: "unused" }),
      currentIssuer: async () => issuer(),
      now: () => clock.now,
      random: () => 0.5,
      schedule: DEFAULT_SCHEDULE,
    });
    expect((await again.state())?.pinned).toBe(true);
    expect((await again.held())?.thisUpdate).toBe(clock.now);
  });

  it("after a rollback: the old keys an older version wrote win over the row (a revocation it saw is kept)", async () => {
    const { owner, request, storage } = setup();
    // This version's row: good, as of an hour ago.
    const before = legacy(storage);
    storage.data.delete("state");
    storage.data.delete("answer");
    storage.data.set("owner", { state: before.state, held: before.held });
    // Rolled back, the older version (which reads only `state` and `answer`) saw a revocation.
    const revoked = answer("revoked", t0 - 5 * MIN, 60 * MIN, t0 - 5 * MIN);
    storage.data.set("state", {
      ...before.state,
      lastStatus: "revoked",
      revokedSeen: { revocationTime: t0 - 60 * MIN, seenAt: t0 - 5 * MIN },
    } satisfies OwnerState);
    storage.data.set("answer", revoked);
    const served = await owner.answer(request());
    expect(served).toMatchObject({ ok: true, value: { answer: { status: "revoked" } } });
    // Migrated again: the row holds what the older version wrote, the old keys are gone.
    expect([...storage.data.keys()]).toEqual(["owner"]);
    expect(storage.owner()!.state.revokedSeen?.seenAt).toBe(t0 - 5 * MIN);
  });

  it("after a rollback that started afresh: no pin, watch or revocation seen is lost", async () => {
    const { owner, request, storage } = setup();
    const before = legacy(storage);
    storage.data.delete("state");
    storage.data.delete("answer");
    // This version's row: pinned, watched, a revocation seen and its answer held.
    const revoked = answer("revoked", t0 - 20 * MIN, 60 * MIN, t0 - 20 * MIN);
    const seen = { revocationTime: t0 - 60 * MIN, seenAt: t0 - 20 * MIN };
    storage.data.set("owner", {
      state: { ...before.state, revokedSeen: seen, lastStatus: "revoked" },
      held: revoked,
    });
    // The older version found no state (it does not read `owner`): a fresh, unpinned `good`.
    const good = answer("good", t0 - 5 * MIN, 60 * MIN, t0 - 5 * MIN);
    const fresh: OwnerState = {
      ...before.state,
      pinned: false,
      lastRequestedAt: t0 - 5 * MIN,
      lastFetchAt: t0 - 5 * MIN,
    };
    delete fresh.watched;
    delete fresh.nextAttemptAt;
    storage.data.set("state", fresh);
    storage.data.set("answer", good);
    const served = await owner.answer(request());
    expect(served).toMatchObject({ ok: true, value: { answer: { status: "revoked" } } });
    expect(storage.owner()!.state).toMatchObject({
      pinned: true,
      watched: true,
      revokedSeen: seen,
    });
    expect([...storage.data.keys()]).toEqual(["owner"]);
  });

  it("a touch of a migrated pinned certificate writes nothing, not even the migration", async () => {
    const { owner, request, storage, clock } = setup();
    legacy(storage);
    clock.now = t0 + MIN;
    await owner.touch(request());
    expect(storage.writes).toEqual([]);
    expect([...storage.data.keys()].sort()).toEqual(["answer", "state"]); // until the next save
  });

  it("a legacy guess forgotten at its window's end deletes everything, and nothing after", async () => {
    const { owner, upstream, request, storage, clock } = setup();
    const guess = answer("unknown", t0 - MIN, 60 * MIN, t0 - MIN);
    storage.data.set("state", {
      certIdKey: KEY,
      certId,
      issuer: issuer(),
      pinned: false,
      access: "open",
      lastRequestedAt: t0 - MIN,
      fetches: 1,
      failures: 0,
      forgetAt: guess.serveUntil,
    } satisfies OwnerState);
    storage.data.set("answer", guess);
    clock.now = guess.serveUntil;
    await owner.alarm();
    expect(storage.writes).toEqual(["deleteAll"]);
    expect(storage.data.size).toBe(0);
    // A client asks again later: the new owner's save writes its row, and deletes nothing.
    upstream.next = caGives("good");
    clock.now += MIN;
    storage.writes = [];
    await owner.answer(request(true));
    expect(storage.writes).toEqual(["put:owner", "put:owner", "alarm"]);
    expect([...storage.data.keys()]).toEqual(["owner"]);
  });
});
