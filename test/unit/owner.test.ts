// The certificate owner (fleet/owner.ts) with an injected clock, random draw and upstream:
// single-flight, the refresh schedule, backoff, expiry, idle vs pinned, revoked stickiness,
// no rollback. KV is the real (simulated) binding.

import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { KV_KEYS, type CachedAnswer } from "../../src/cache/record.ts";
import { err, ok, type Result } from "../../src/errors.ts";
import { CertOwnerLogic, FAILURE_MEMORY_MS, type OwnerStorage } from "../../src/fleet/owner.ts";
import { DEFAULT_SCHEDULE, serveUntil } from "../../src/fleet/schedule.ts";
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
  async get<T>(key: string) {
    return structuredClone(this.data.get(key)) as T | undefined;
  }
  async put<T>(key: string, value: T) {
    this.data.set(key, structuredClone(value));
  }
  async setAlarm(at: number) {
    this.alarm = at;
  }
  async getAlarm() {
    return this.alarm;
  }
  async deleteAlarm() {
    this.alarm = null;
  }
  async deleteAll() {
    this.data.clear();
    this.alarm = null;
  }
}

/** An owner whose CA answers from `script` (one entry per fetch; a function gets the clock). */
function setup(opts: { random?: number; registered?: boolean } = {}) {
  const clock = { now: t0 };
  const storage = new MemoryStorage();
  const upstream: { calls: number[]; next: (now: number) => Promise<Result<CachedAnswer>> } = {
    calls: [],
    next: async () => err({ kind: "tryLater", detail: "no script" }),
  };
  const owner = new CertOwnerLogic({
    storage,
    kv: env.OCSP_CACHE,
    fetchVerified: async (lookup) => {
      upstream.calls.push(lookup.now);
      return upstream.next(lookup.now);
    },
    currentIssuer: async () => ((opts.registered ?? true) ? issuer() : undefined),
    now: () => clock.now,
    random: () => opts.random ?? 0.5,
    schedule: DEFAULT_SCHEDULE,
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
        // A client asking again (a touch from a cache hit) restarts the refresh.
        storage.alarm = null;
        await owner.touch(request());
        expect(storage.alarm).toBe(clock.now);
        await owner.alarm();
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
