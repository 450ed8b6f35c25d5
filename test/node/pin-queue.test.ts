// Paced bulk pinning (issue 18 §4), in plain Node: the pin queue's rules (src/fleet/pin-queue.ts) and
// its host (pin-queue-logic.ts) over storage in memory, on a virtual clock whose alarms a loop fires.
// What a CA sees of a bulk pin: its first fetches at the issuer's rate, at most 40 owner calls per
// alarm, failures retried and then recorded, the same certificate queued twice pinned once.

import { describe, expect, it } from "vitest";
import type { IssuerRecord } from "../../src/issuers/issuer.ts";
import {
  afterFailure,
  chooseBatch,
  lastExpectedAt,
  MAX_CALLS_PER_DRAIN,
  MAX_PIN_ATTEMPTS,
  pacing,
  QUEUE_DELAY_MS as D,
  retryDelay,
  type PinRequest,
  type QueuedPin,
} from "../../src/fleet/pin-queue.ts";
import { PinQueueLogic, type PinOutcome } from "../../src/fleet/pin-queue-logic.ts";
import { batched, MAX_LEAVES_PER_REQUEST } from "../../src/cli/pin.ts";
import { toPem } from "../../src/cli/pki.ts";
import type { CertificateFacts } from "../../src/ocsp/certificate.ts";
import { MemoryPinStorage } from "../support/memory-pin-storage.ts";

const MIN = 60_000;
const T0 = Date.UTC(2026, 11, 4, 12, 0, 0);
const ISSUER: IssuerRecord = {
  id: "issuer1",
  subject: "CN=test CA",
  responderUrl: "http://ocsp.ca.example/",
  certificate: "",
  hashes: {} as IssuerRecord["hashes"],
  notAfter: "2036-01-01T00:00:00Z",
  createdAt: "2026-11-28T00:00:00Z",
};

const serialOf = (i: number) => i.toString(16).padStart(6, "0");

function ocspPin(i: number): PinRequest {
  const serial = serialOf(i);
  const certId = {
    hashAlgorithm: "1.3.14.3.2.26",
    hashName: "SHA-1" as const,
    issuerNameHash: new Uint8Array([1]),
    issuerKeyHash: new Uint8Array([2]),
    serialNumber: new Uint8Array([i >> 16, (i >> 8) & 255, i & 255]),
  };
  return {
    serial,
    leaf: { subject: `CN=site${i}`, mustStaple: false },
    target: { kind: "ocsp", certIdKey: `SHA-1:01:02:${serial}`, certId },
  };
}

function crlPin(i: number, urls = ["http://crl.example/ca.crl"]): PinRequest {
  return {
    serial: serialOf(i),
    leaf: { subject: `CN=crl${i}`, mustStaple: false },
    target: { kind: "crl", consult: urls, named: urls },
  };
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

/** One issuer's queue on a virtual clock; `pin` decides each pin's outcome (default: pinned). */
class Harness {
  clock = T0;
  readonly storage = new MemoryPinStorage();
  /** Every pin made: its serial and time. */
  readonly pins: { serial: string; at: number }[] = [];
  /** Owner calls made by each drain. */
  readonly drains: { at: number; calls: number }[] = [];
  issuer: IssuerRecord | undefined = ISSUER;
  registryFails = false;
  logic: PinQueueLogic;

  constructor(
    readonly perMinute = 60,
    public outcome: (serial: string, attempt: number) => PinOutcome = () => ({ ok: true }),
  ) {
    this.logic = this.restart();
  }

  /** A new object over the same storage (the platform evicted it). */
  restart(): PinQueueLogic {
    this.logic = new PinQueueLogic({
      storage: this.storage,
      now: () => this.clock,
      perMinute: this.perMinute,
      currentIssuer: async () => {
        if (this.registryFails) throw new Error("KV read failed");
        return this.issuer;
      },
      pin: async (_, e) => {
        const calls = e.target.kind === "ocsp" ? 1 : e.target.consult.length;
        this.drains[this.drains.length - 1]!.calls += calls;
        const attempt = this.pins.filter((p) => p.serial === e.serial).length + 1;
        this.pins.push({ serial: e.serial, at: this.clock });
        return this.outcome(e.serial, attempt);
      },
    });
    return this.logic;
  }

  enqueue(ids: number[], make = ocspPin) {
    return this.logic.enqueue(ISSUER.id, ids.map(make));
  }

  /** Fires the alarm as the platform would, until none is set or `until` is reached. */
  async run(until: number): Promise<void> {
    for (let n = 0; n < 100_000; n++) {
      const at = this.storage.alarm;
      if (at === undefined || at > until) return;
      this.clock = Math.max(this.clock, at);
      this.storage.alarm = undefined;
      this.drains.push({ at: this.clock, calls: 0 });
      await this.logic.alarm();
    }
    throw new Error("the alarm never settles");
  }

  /** Pins per minute since T0. */
  perMinuteCounts(): number[] {
    const counts: number[] = [];
    for (const p of this.pins) {
      const m = Math.floor((p.at - T0) / MIN);
      counts[m] = (counts[m] ?? 0) + 1;
    }
    return Array.from(counts, (c) => c ?? 0);
  }
}

describe("the pin queue's rules", () => {
  it.each([
    [60, 10, 10_000],
    [1, 1, 60_000],
    [0.5, 1, 120_000],
    [600, 40, 4_000],
    [6_000, 40, 400],
  ])("%s a minute: drains of %s every %s ms", (perMinute, batch, intervalMs) => {
    expect(pacing(perMinute)).toEqual({ perMinute, batch, intervalMs });
  });

  it("a drain takes at most the rate's batch of OCSP pins and at most 40 owner calls", () => {
    const due = (pins: PinRequest[]) =>
      pins.map((p): QueuedPin => ({ ...p, queuedAt: T0, due: T0, attempts: 0 }));
    const pace = pacing(60);
    expect(chooseBatch(due(range(0, 25).map(ocspPin)), pace)).toHaveLength(10);
    // CRL pins spend no rate (the CRL is fetched once for all of them), only owner calls.
    expect(chooseBatch(due(range(0, 50).map((i) => crlPin(i))), pace)).toHaveLength(40);
    const twoCrls = range(0, 50).map((i) => crlPin(i, ["http://a/1.crl", "http://a/2.crl"]));
    expect(chooseBatch(due(twoCrls), pace)).toHaveLength(20);
    const mixed = due([...range(0, 5).map((i) => crlPin(i)), ...range(5, 30).map(ocspPin)]);
    const taken = chooseBatch(mixed, pace);
    expect(taken.filter((e) => e.target.kind === "ocsp")).toHaveLength(10);
    expect(taken).toHaveLength(15);
    expect(chooseBatch(due(range(0, 100).map(ocspPin)), pacing(100_000))).toHaveLength(
      MAX_CALLS_PER_DRAIN,
    );
  });

  it("a failed pin is retried after 5, 10, 20, 40, 60 min, then given up", () => {
    let e: QueuedPin = { ...ocspPin(1), queuedAt: T0, due: T0, attempts: 0 };
    const waits: number[] = [];
    for (let at = T0; ;) {
      const next = afterFailure(e, "HTTP 503", at);
      if ("failed" in next) {
        expect(next.failed).toEqual({
          serial: "000001",
          subject: "CN=site1",
          attempts: MAX_PIN_ATTEMPTS,
          error: "HTTP 503",
          failedAt: at,
        });
        break;
      }
      waits.push(next.retry.due - at);
      e = next.retry;
      at = e.due;
    }
    expect(waits.map((w) => w / MIN)).toEqual([5, 10, 20, 40, 60]);
    expect(retryDelay(10)).toBe(60 * MIN);
  });

  it("the last of 100 pins is expected 90 s after the first drain at 60 a minute", () => {
    expect(lastExpectedAt({ pending: 100, pendingCrl: 0 }, T0, pacing(60))).toBe(T0 + 90_000);
    expect(lastExpectedAt({ pending: 10, pendingCrl: 0 }, T0, pacing(60))).toBe(T0);
    expect(lastExpectedAt({ pending: 0, pendingCrl: 0 }, T0, pacing(60))).toBeUndefined();
  });
});

describe("a bulk pin through the queue", () => {
  it("stores 100 pins at once, then pins them at 60 a minute, 10 per alarm", async () => {
    const h = new Harness(60);
    const receipt = await h.enqueue(range(0, 100));
    expect(receipt).toMatchObject({ added: 100, alreadyQueued: 0, pending: 100, perMinute: 60 });
    expect(receipt.nextDrainAt).toBe(T0 + D); // a second after the request
    expect(receipt.lastExpectedAt).toBe(T0 + D + 90_000);
    expect(h.pins).toHaveLength(0); // nothing pinned by the request itself
    expect(h.storage.keys("e:")).toHaveLength(100);

    await h.run(T0 + 10 * MIN);
    expect(new Set(h.pins.map((p) => p.serial)).size).toBe(100);
    expect(h.drains.map((d) => d.calls)).toEqual(Array(10).fill(10));
    expect(h.drains.map((d) => d.at - T0)).toEqual(range(0, 10).map((i) => D + i * 10_000));
    expect(h.perMinuteCounts()).toEqual([60, 40]);
    expect(await h.logic.progress(ISSUER.id)).toMatchObject({
      pending: 0,
      done: 100,
      failed: 0,
      nextDrainAt: undefined,
    });
    expect(h.storage.keys("e:")).toEqual([]);
    expect(h.storage.keys("d:")).toEqual([]);
    expect(h.storage.alarm).toBeUndefined();
  });

  it("never makes more than 40 owner calls in one alarm, whatever the rate", async () => {
    const h = new Harness(100_000);
    await h.enqueue(range(0, 300));
    await h.enqueue(range(300, 400), (i) => crlPin(i, ["http://a/1.crl", "http://a/2.crl"]));
    await h.run(T0 + 60 * MIN);
    expect(h.pins).toHaveLength(400);
    expect(Math.max(...h.drains.map((d) => d.calls))).toBe(MAX_CALLS_PER_DRAIN);
  });

  it("keeps its pace across enqueues: a second bulk waits for the rate, not the request", async () => {
    const h = new Harness(60);
    await h.enqueue(range(0, 10));
    await h.run(T0 + D); // the first drain: 10 pins
    h.clock = T0 + 3_000;
    const receipt = await h.enqueue(range(10, 20));
    expect(receipt.nextDrainAt).toBe(T0 + D + 10_000);
    await h.run(T0 + MIN);
    expect(h.pins.filter((p) => p.at === T0 + D + 10_000)).toHaveLength(10);
  });

  it("keeps draining while a client is still sending batches (one every 0.5 s)", async () => {
    const h = new Harness(60);
    for (let i = 0; i < 60; i++) {
      h.clock = T0 + i * 500;
      await h.enqueue(range(i * 10, i * 10 + 10));
      await h.run(T0 + i * 500 + 499);
    }
    // The batches took 30 s; the drains did not wait for the last one.
    expect(h.drains.map((d) => d.at - T0)).toEqual([1, 11, 21].map((s) => s * 1000));
    expect(h.pins).toHaveLength(30);
  });

  it("queues the same certificate once, in one request or in several", async () => {
    const h = new Harness(60);
    const first = await h.enqueue([1, 2, 2, 3]);
    expect(first).toMatchObject({ added: 3, alreadyQueued: 1, pending: 3 });
    const second = await h.enqueue([2, 3, 4]);
    expect(second).toMatchObject({ added: 1, alreadyQueued: 2, pending: 4 });
    await h.run(T0 + MIN);
    expect(h.pins.map((p) => p.serial).sort()).toEqual(["000001", "000002", "000003", "000004"]);
  });

  it("retries a failed pin later and records one that keeps failing; queueing it again retries it", async () => {
    // 000001 fails twice then pins; 000002 always fails.
    const h = new Harness(60, (serial, attempt) =>
      serial === "000002" || attempt <= 2 ? { ok: false, error: "HTTP 503" } : { ok: true },
    );
    await h.enqueue([1, 2]);
    await h.run(T0 + D);
    expect(await h.logic.progress(ISSUER.id)).toMatchObject({
      pending: 2,
      retrying: 2,
      lastError: "HTTP 503",
      lastErrorAt: T0 + D,
    });
    await h.run(T0 + 24 * 60 * MIN);
    const tries = (s: string) => h.pins.filter((p) => p.serial === s).map((p) => p.at - T0 - D);
    expect(tries("000001")).toEqual([0, 5 * MIN, 15 * MIN]);
    expect(tries("000002")).toHaveLength(MAX_PIN_ATTEMPTS);
    const progress = await h.logic.progress(ISSUER.id);
    expect(progress).toMatchObject({ pending: 0, retrying: 0, done: 1, failed: 1 });
    expect(progress.failures).toEqual([
      expect.objectContaining({ serial: "000002", attempts: MAX_PIN_ATTEMPTS, error: "HTTP 503" }),
    ]);

    h.outcome = () => ({ ok: true });
    expect(await h.enqueue([2])).toMatchObject({ added: 1, pending: 1 });
    expect((await h.logic.progress(ISSUER.id)).failed).toBe(0);
    await h.run(h.clock + 60 * MIN);
    expect(await h.logic.progress(ISSUER.id)).toMatchObject({ done: 2, failed: 0, pending: 0 });
  });

  it("waits longer while every pin fails (the responder is down), so entries keep their attempts", async () => {
    const h = new Harness(60, () => ({ ok: false, error: "timed out" }));
    await h.enqueue(range(0, 50));
    await h.run(T0 + 30 * MIN);
    // Drains at 0, then 5 min, then 15 min (waits of 5 and 10 min), not every 10 s.
    expect(h.drains.map((d) => (d.at - T0 - D) / MIN)).toEqual([0, 5, 15]);
    expect(h.pins.length).toBeLessThanOrEqual(30);
    h.outcome = () => ({ ok: true });
    await h.run(T0 + 24 * 60 * MIN);
    expect(await h.logic.progress(ISSUER.id)).toMatchObject({ done: 50, failed: 0, pending: 0 });
  });

  it("loses nothing when many bulk requests arrive at once, during a drain", async () => {
    const h = new Harness(600);
    await h.enqueue(range(0, 40));
    h.clock += D;
    const drain = (async () => {
      h.drains.push({ at: h.clock, calls: 0 });
      h.storage.alarm = undefined;
      await h.logic.alarm();
    })();
    // 30 requests of 50 leaves each, overlapping: 0..1500 in steps of 40.
    const sent = range(0, 30).map((i) => range(i * 40, i * 40 + 50));
    const receipts = await Promise.all(sent.map((ids) => h.enqueue(ids)));
    await drain;
    const union = new Set(sent.flat().concat(range(0, 40)));
    expect(receipts.reduce((n, r) => n + r.added, 0) + 40).toBe(union.size);
    await h.run(T0 + 24 * 60 * MIN);
    const pinned = new Set(h.pins.map((p) => p.serial));
    expect(pinned.size).toBe(union.size);
    expect(h.pins).toHaveLength(union.size); // each once
    expect(await h.logic.progress(ISSUER.id)).toMatchObject({ pending: 0, done: union.size });
  });

  it("re-arms itself in a minute when storage fails mid-drain, counts read again from storage", async () => {
    const h = new Harness(60);
    await h.enqueue(range(0, 20));
    // Every write fails (a Durable Object's writes of one step commit together or not at all).
    const { put, delete: del } = h.storage;
    h.storage.put = h.storage.delete = async () => {
      throw new Error("storage unavailable");
    };
    await h.run(T0 + D);
    expect(h.pins).toHaveLength(10); // pinned, but not recorded
    expect(h.storage.alarm).toBe(T0 + D + MIN);
    Object.assign(h.storage, { put, delete: del });
    await h.run(T0 + 10 * MIN);
    // The first 10 are pinned again (the owner holds their answers: no new CA request there).
    expect(h.pins).toHaveLength(30);
    expect(await h.logic.progress(ISSUER.id)).toMatchObject({ pending: 0, done: 20 });
  });

  it("goes on where it was after the object is evicted", async () => {
    const h = new Harness(60);
    await h.enqueue(range(0, 30));
    await h.run(T0 + D);
    h.restart();
    expect(await h.logic.progress(ISSUER.id)).toMatchObject({ pending: 20, done: 10 });
    await h.run(T0 + MIN);
    expect(h.pins).toHaveLength(30);
  });

  it("re-arms itself when the registry cannot be read, and drops the queue once the issuer is deleted", async () => {
    const h = new Harness(60);
    await h.enqueue(range(0, 20));
    h.registryFails = true;
    await h.run(T0 + D);
    expect(h.pins).toHaveLength(0);
    expect(h.storage.alarm).toBe(T0 + D + 10_000);
    expect((await h.logic.progress(ISSUER.id)).lastError).toBe(
      "registry read failed: KV read failed",
    );

    h.registryFails = false;
    h.issuer = undefined;
    await h.run(T0 + MIN);
    expect(h.pins).toHaveLength(0);
    expect(await h.logic.progress(ISSUER.id)).toMatchObject({ pending: 0, cancelled: 20 });
    expect(h.storage.keys("e:")).toEqual([]);
  });
});

describe("ocsp-relay pin: batches", () => {
  /** What batching reads of a certificate: its issuer name, serial and DER (its PEM's size). */
  const leaf = (issuer: number, i: number, size = 1_200) =>
    ({
      issuer: new Uint8Array([issuer]),
      serialNumber: new Uint8Array([i >> 8, i & 255]),
      der: new Uint8Array(size).fill(i & 255),
    }) as unknown as CertificateFacts;

  it("keeps each request under the 256 KiB body cap, one issuer's leaves together", () => {
    const leaves = range(0, 1_000).map((i) => leaf(i % 3, i));
    const batches = batched(leaves);
    expect(batches.flat()).toHaveLength(1_000);
    for (const b of batches) expect(b.map(toPem).join("").length).toBeLessThan(256 * 1024);
    // Sorted by issuer: at most two issuers in a batch here.
    for (const b of batches) expect(new Set(b.map((c) => c.issuer[0])).size).toBeLessThanOrEqual(2);
  });

  it("names at most 32 issuers and 24 leaves in one request (the Free plan's 10 ms of CPU)", () => {
    const batches = batched(range(0, 100).map((i) => leaf(i, i, 100)));
    expect(batches.map((b) => b.length)).toEqual([24, 24, 24, 24, 4]);
    expect(MAX_LEAVES_PER_REQUEST).toBe(24);
  });
});
