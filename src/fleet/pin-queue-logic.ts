// The host of one issuer's pin queue (run inside the PinQueue Durable Object, one per issuer): it
// stores queued pins before the request that brought them is answered, and its alarm drains them
// at the issuer's rate through the owners' own pin (fleet/pin-queue.ts decides how many and when).
// Storage, the clock, the registry and the pin itself are injected, so plain Node can run it.

import type { IssuerRecord } from "../issuers/issuer.ts";
import { log } from "../log.ts";
import {
  afterFailure,
  chooseBatch,
  FAILURES_SHOWN,
  lastExpectedAt,
  newMeta,
  nextDrainAfter,
  pacing,
  parseOrderKey,
  PIN_KEYS as K,
  MAX_CALLS_PER_DRAIN,
  QUEUE_DELAY_MS,
  type FailedPin,
  type Pacing,
  type PinQueueMeta,
  type PinRequest,
  type QueuedPin,
} from "./pin-queue.ts";

/** What the queue needs of Durable Object storage (the shell splits calls into 128-key parts). */
export interface PinQueueStorage {
  get<T>(keys: string[]): Promise<Map<string, T>>;
  put(entries: Record<string, unknown>): Promise<void>;
  delete(keys: string[]): Promise<void>;
  /** Keys in [start, end) in order, at most `limit`. */
  list<T>(o: { start: string; end: string; limit: number }): Promise<Map<string, T>>;
  /** Times on the queue's clock (the shell converts). */
  setAlarm(at: number): Promise<void>;
  deleteAll(): Promise<void>;
}

/** A pin's outcome: pinned (the owner holds an answer), or why not. */
export type PinOutcome = { ok: true } | { ok: false; error: string };

export interface PinQueueDeps {
  storage: PinQueueStorage;
  now: () => number;
  /** Queued pins fetched per minute (PIN_RATE_PER_MINUTE). */
  perMinute: number;
  /** The issuer as registered now; undefined once deleted (its queue is then dropped). */
  currentIssuer: (issuerId: string) => Promise<IssuerRecord | undefined>;
  /** Pins one certificate the way the admin API does inline (the owner's answer with pin: true). */
  pin: (issuer: IssuerRecord, entry: PinRequest) => Promise<PinOutcome>;
  /** Owner calls in flight at once within a drain (gentle on the CA; default 4). */
  concurrency?: number;
}

/** What an enqueue stored, and where the queue stands. */
export interface QueueReceipt extends QueueFigures {
  added: number;
  alreadyQueued: number;
}

export interface QueueFigures {
  issuerId: string;
  pending: number;
  perMinute: number;
  /** When the next drain runs (undefined: nothing waits). */
  nextDrainAt: number | undefined;
  lastExpectedAt: number | undefined;
}

export interface QueueProgress extends QueueFigures {
  retrying: number;
  done: number;
  failed: number;
  cancelled: number;
  lastError: string | undefined;
  lastErrorAt: number | undefined;
  /** The first FAILURES_SHOWN failed pins (by serial). */
  failures: FailedPin[];
}

export class PinQueueLogic {
  private meta: PinQueueMeta | undefined;
  private loading: Promise<PinQueueMeta | undefined> | undefined;
  /** Every read-modify-write of entries and counts runs alone (enqueues and a drain interleave). */
  private tail: Promise<unknown> = Promise.resolve();
  private draining = false;
  private readonly pace: Pacing;

  constructor(private readonly deps: PinQueueDeps) {
    this.pace = pacing(deps.perMinute);
  }

  /**
   * Stores the pins not already queued (one entry per serial) and arms the alarm. Everything is
   * written before this returns: a reply after it means the pins are stored.
   */
  enqueue(issuerId: string, requests: readonly PinRequest[]): Promise<QueueReceipt> {
    return this.exclusive(async () => {
      const now = this.deps.now();
      const meta = (await this.load()) ?? newMeta(issuerId, now);
      this.meta = meta;
      const unique = new Map(requests.map((r) => [r.serial, r]));
      const serials = [...unique.keys()];
      const [held, failed] = await Promise.all([
        this.deps.storage.get<QueuedPin>(serials.map(K.entry)),
        this.deps.storage.get<FailedPin>(serials.map(K.failed)),
      ]);
      const due = now + QUEUE_DELAY_MS;
      // The alarm stays where the waiting pins put it (a stream of requests never delays them).
      const first = meta.pending > 0 ? await this.firstDue() : undefined;
      const alarmAt = Math.max(meta.nextDrainAt, Math.min(first ?? due, due));
      const puts: Record<string, unknown> = {};
      const deletes: string[] = [];
      let added = 0;
      for (const [serial, r] of unique) {
        if (held.has(K.entry(serial))) continue;
        if (failed.has(K.failed(serial))) {
          deletes.push(K.failed(serial));
          meta.failed--;
        }
        const entry: QueuedPin = { ...r, queuedAt: now, due, attempts: 0 };
        puts[K.entry(serial)] = entry;
        puts[K.order(due, serial)] = serial;
        added++;
        meta.pending++;
        if (r.target.kind === "crl") meta.pendingCrl++;
      }
      meta.added += added;
      if (added > 0) {
        puts[K.meta] = meta;
        // Issued together, without awaiting in between: one atomic write.
        await Promise.all([
          this.deps.storage.put(puts),
          ...(deletes.length ? [this.deps.storage.delete(deletes)] : []),
          this.deps.storage.setAlarm(alarmAt),
        ]);
      }
      return {
        ...(await this.figures(meta, now)),
        added,
        alreadyQueued: requests.length - added,
      };
    });
  }

  /** Counts, pace and the first failures: bounded whatever the queue's length. */
  async progress(issuerId: string): Promise<QueueProgress> {
    const now = this.deps.now();
    const meta = (await this.load()) ?? newMeta(issuerId, now);
    const failures = meta.failed
      ? await this.deps.storage.list<FailedPin>({
          start: K.failedStart,
          end: K.failedEnd,
          limit: FAILURES_SHOWN,
        })
      : new Map<string, FailedPin>();
    return {
      ...(await this.figures(meta, now)),
      retrying: meta.retrying,
      done: meta.done,
      failed: meta.failed,
      cancelled: meta.cancelled,
      lastError: meta.lastError,
      lastErrorAt: meta.lastErrorAt,
      failures: [...failures.values()],
    };
  }

  /**
   * One drain: the due pins the rate allows (at most MAX_CALLS_PER_DRAIN owner calls), each pinned
   * through its owner; a failure is retried later or recorded; the alarm re-armed for the next.
   * Never throws for a pin or a registry read that failed: it re-arms its own retry instead.
   */
  async alarm(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    try {
      await this.drain();
    } catch (e) {
      // Storage failed mid-drain: the platform would retry a few times and then drop the alarm,
      // leaving the queue still until the next bulk request. Come back in a minute instead.
      log("alarm.failed", { pinQueue: this.meta?.issuerId, detail: message(e) });
      await this.deps.storage.setAlarm(this.deps.now() + ALARM_RETRY_MS);
    } finally {
      this.draining = false;
    }
  }

  private async drain(): Promise<void> {
    const startedAt = this.deps.now();
    const read = await this.load();
    if (!read || read.pending <= 0) return;
    // Early (an alarm set before the last drain moved the pace on): come back on time.
    if (startedAt < read.nextDrainAt) return this.deps.storage.setAlarm(read.nextDrainAt);
    let issuer: IssuerRecord | undefined;
    try {
      issuer = await this.deps.currentIssuer(read.issuerId);
    } catch (e) {
      return this.exclusive(async () => {
        const meta = (await this.load())!;
        this.noteError(meta, `registry read failed: ${message(e)}`, startedAt);
        meta.nextDrainAt = startedAt + this.pace.intervalMs;
        await Promise.all([
          this.deps.storage.put({ [K.meta]: meta }),
          this.deps.storage.setAlarm(meta.nextDrainAt),
        ]);
      });
    }
    if (!issuer) return this.cancel(startedAt);

    const due = await this.exclusive(() => this.dueEntries(startedAt));
    const batch = chooseBatch(due, this.pace);
    const outcomes = await inParallel(batch, this.deps.concurrency ?? 4, (e) =>
      this.deps
        .pin(issuer, e)
        .catch((x: unknown): PinOutcome => ({ ok: false, error: message(x) })),
    );
    await this.exclusive(async () => {
      // The counts as they are now (an enqueue may have run meanwhile), read again if reset.
      const meta = (await this.load())!;
      const now = this.deps.now();
      const puts: Record<string, unknown> = {};
      const deletes: string[] = [];
      batch.forEach((e, i) => {
        const outcome = outcomes[i]!;
        deletes.push(K.order(e.due, e.serial));
        if (e.attempts > 0) meta.retrying--;
        if (outcome.ok) {
          deletes.push(K.entry(e.serial));
          this.settled(meta, e);
          meta.done++;
          return;
        }
        this.noteError(meta, outcome.error, now);
        const next = afterFailure(e, outcome.error, now);
        if ("retry" in next) {
          puts[K.entry(e.serial)] = next.retry;
          puts[K.order(next.retry.due, e.serial)] = e.serial;
          meta.retrying++;
        } else {
          deletes.push(K.entry(e.serial));
          puts[K.failed(e.serial)] = next.failed;
          this.settled(meta, e);
          meta.failed++;
          log("pin.failed", { issuer: meta.issuerId, serial: e.serial, error: outcome.error });
        }
      });
      if (batch.length > 0)
        meta.failingDrains = outcomes.every((o) => !o.ok) ? meta.failingDrains + 1 : 0;
      const ocsp = batch.filter((e) => e.target.kind === "ocsp").length;
      meta.nextDrainAt = nextDrainAfter(startedAt, ocsp, this.pace, meta.failingDrains);
      puts[K.meta] = meta;
      // The keys are disjoint (a retry's entry is rewritten, never deleted): one atomic write.
      await Promise.all([this.deps.storage.delete(deletes), this.deps.storage.put(puts)]);
      const first = await this.firstDue();
      if (first !== undefined)
        await this.deps.storage.setAlarm(Math.max(meta.nextDrainAt, first, now));
    });
  }

  /** The due entries in drain order, enough for one drain (order keys without an entry dropped). */
  private async dueEntries(now: number): Promise<QueuedPin[]> {
    const order = await this.deps.storage.list<string>({
      start: K.orderStart,
      end: K.orderEnd(now),
      limit: MAX_CALLS_PER_DRAIN,
    });
    const keys = [...order.keys()];
    const entries = await this.deps.storage.get<QueuedPin>(
      keys.map((k) => K.entry(parseOrderKey(k)?.serial ?? "")),
    );
    const due: QueuedPin[] = [];
    const stale: string[] = [];
    for (const k of keys) {
      const parsed = parseOrderKey(k);
      const e = parsed && entries.get(K.entry(parsed.serial));
      // The entry's own order key only (a retry moved it to a later one).
      if (e && e.due === parsed.due) due.push(e);
      else stale.push(k);
    }
    if (stale.length) await this.deps.storage.delete(stale);
    return due;
  }

  /** The due time of the first waiting entry, if any. */
  private async firstDue(): Promise<number | undefined> {
    const first = await this.deps.storage.list<string>({
      start: K.orderStart,
      end: K.orderAll,
      limit: 1,
    });
    const [key] = first.keys();
    return key === undefined ? undefined : parseOrderKey(key)?.due;
  }

  /** The issuer was deleted: its queued pins are dropped (logged, and counted as cancelled). */
  private cancel(now: number): Promise<void> {
    return this.exclusive(async () => {
      const meta = (await this.load())!;
      log("pin.cancelled", { issuer: meta.issuerId, pending: meta.pending });
      const kept: PinQueueMeta = {
        ...newMeta(meta.issuerId, now),
        done: meta.done,
        added: meta.added,
        cancelled: meta.cancelled + meta.pending,
        lastError: "issuer no longer registered: queued pins dropped",
        lastErrorAt: now,
      };
      await this.deps.storage.deleteAll();
      await this.deps.storage.put({ [K.meta]: kept });
      this.meta = kept;
    });
  }

  private settled(meta: PinQueueMeta, e: QueuedPin): void {
    meta.pending--;
    if (e.target.kind === "crl") meta.pendingCrl--;
  }

  private noteError(meta: PinQueueMeta, error: string, now: number): void {
    meta.lastError = error;
    meta.lastErrorAt = now;
  }

  private async figures(meta: PinQueueMeta, now: number): Promise<QueueFigures> {
    const first = meta.pending > 0 ? await this.firstDue() : undefined;
    const next = first === undefined ? undefined : Math.max(now, meta.nextDrainAt, first);
    return {
      issuerId: meta.issuerId,
      pending: meta.pending,
      perMinute: this.pace.perMinute,
      nextDrainAt: next,
      lastExpectedAt: next === undefined ? undefined : lastExpectedAt(meta, next, this.pace),
    };
  }

  /** The stored counts, read once per object life. */
  private load(): Promise<PinQueueMeta | undefined> {
    if (this.meta) return Promise.resolve(this.meta);
    this.loading ??= this.deps.storage.get<PinQueueMeta>([K.meta]).then((m) => {
      this.meta ??= m.get(K.meta);
      this.loading = undefined;
      return this.meta;
    });
    return this.loading;
  }

  /** Runs `work` alone; if it fails, the counts are read from storage again (memory may be ahead). */
  private exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.tail.then(work, work).catch((e: unknown) => {
      this.meta = undefined;
      throw e;
    });
    this.tail = run.catch(() => undefined);
    return run;
  }
}

/** After a drain that threw (storage failing), the next one is tried this much later. */
const ALARM_RETRY_MS = 60_000;

/** `work` over `items` with at most `limit` in flight; results in the items' order. */
async function inParallel<T, R>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await work(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return results;
}

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));
