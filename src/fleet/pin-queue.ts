// Paced bulk pinning (issue 18 §4): the rules of one issuer's pin queue. Pure: no I/O, `now` passed
// in. How many queued pins one drain may take at the issuer's rate, when the next drain may start,
// when a failed pin is tried again, when the last one is expected, and the storage keys. The host
// (fleet/pin-queue-logic.ts) applies them to storage; the Durable Object is fleet/pin-queue-do.ts.

import type { CertId } from "../ocsp/request.ts";
import type { LeafInfo } from "../sources/source.ts";

/**
 * Queued pins first fetched per minute, per issuer: one a second, the upstream budget's refill for
 * certificates nobody pinned; together the relay's first fetches for one issuer stay under two a
 * second once the budget's burst is spent. Spread over time, they spread the refreshes that follow
 * (about half a validity window later) too.
 */
export const DEFAULT_PIN_RATE_PER_MINUTE = 60;
/**
 * Owner calls (subrequests) one drain may make: the Free plan allows 50 per invocation, and the
 * drain also reads the registry from KV.
 */
export const MAX_CALLS_PER_DRAIN = 40;
/** A drain takes about this much time's worth of the rate (fewer, larger drains: fewer alarms). */
export const DRAIN_WINDOW_MS = 10_000;
/**
 * A queued pin is due this long after it was queued: the request that queued it is answered before
 * any of its pins is fetched, and the batches a client sends one after another join one drain.
 */
export const QUEUE_DELAY_MS = 1_000;
/** The shortest time between two drains (a drain of CRL pins only, which spend no rate). */
export const MIN_DRAIN_GAP_MS = 1_000;
/** Attempts of one pin before it is recorded as failed (with backoff: about 2 h 15 min in all). */
export const MAX_PIN_ATTEMPTS = 6;
export const RETRY_BASE_MS = 5 * 60_000;
export const RETRY_CAP_MS = 60 * 60_000;
/**
 * A POST /admin/certificates with at most this many leaves is pinned inline, as before: each leaf
 * one owner call (two per CRL for a CRL-only issuer's), well under a request's 50 subrequests.
 */
export const INLINE_PINS = 8;
/** Issuers one bulk request may queue for: one call to each issuer's queue. */
export const MAX_QUEUES_PER_REQUEST = 32;
/** Failed pins listed by the progress view (the count covers all of them). */
export const FAILURES_SHOWN = 10;

/** How a rate per minute is drained: `batch` OCSP pins at most every `intervalMs`. */
export interface Pacing {
  perMinute: number;
  batch: number;
  intervalMs: number;
}

export function pacing(perMinute: number): Pacing {
  const rate = Number.isFinite(perMinute) && perMinute > 0 ? perMinute : 60;
  const batch = Math.min(
    MAX_CALLS_PER_DRAIN,
    Math.max(1, Math.ceil((rate * DRAIN_WINDOW_MS) / 60_000)),
  );
  return { perMinute: rate, batch, intervalMs: (batch * 60_000) / rate };
}

/** What a pin asks of its owner(s): the SHA-1 CertID's owner, or the issuer's CRL owners. */
export type PinTarget =
  | { kind: "ocsp"; certIdKey: string; certId: CertId }
  /** As issuers/revocation.ts chose them: the CRLs to pin it in, and those the leaf names. */
  | { kind: "crl"; consult: string[]; named: string[] };

/** One leaf to pin, as the admin route queues it. */
export interface PinRequest {
  /** serialHex of the leaf: one entry per certificate of the issuer. */
  serial: string;
  leaf: LeafInfo;
  target: PinTarget;
}

/** A queued pin, as stored. */
export interface QueuedPin extends PinRequest {
  queuedAt: number;
  /** Not drained before this (queuedAt, or the retry time after a failure). */
  due: number;
  attempts: number;
  lastError?: string;
}

/** A pin given up after MAX_PIN_ATTEMPTS, kept until the certificate is queued again. */
export interface FailedPin {
  serial: string;
  subject: string;
  attempts: number;
  error: string;
  failedAt: number;
}

/** The queue's counts and pace, one stored value. */
export interface PinQueueMeta {
  issuerId: string;
  /** Entries waiting, failed attempts being retried included. */
  pending: number;
  /** Of which CRL pins (they spend no rate: the CRL is fetched once for all of them). */
  pendingCrl: number;
  /** Of which waiting for a retry. */
  retrying: number;
  /** Pinned since the queue began. */
  done: number;
  /** Given up (kept as `f:` entries until queued again). */
  failed: number;
  /** Entries ever added. */
  added: number;
  /** The next drain does not start before this (the rate). */
  nextDrainAt: number;
  /** Drains in a row in which every pin failed: the responder is down, the queue waits longer. */
  failingDrains: number;
  /** Entries dropped because their issuer was deleted. */
  cancelled: number;
  lastError?: string;
  lastErrorAt?: number;
}

export function newMeta(issuerId: string, now: number): PinQueueMeta {
  return {
    issuerId,
    pending: 0,
    pendingCrl: 0,
    retrying: 0,
    done: 0,
    failed: 0,
    added: 0,
    nextDrainAt: now,
    failingDrains: 0,
    cancelled: 0,
  };
}

/** Owner calls a pin makes: one CertOwner, or one CrlOwner per CRL it is pinned in. */
export function callsOf(p: PinRequest): number {
  return p.target.kind === "ocsp" ? 1 : Math.max(1, p.target.consult.length);
}

/**
 * The pins one drain takes from the due ones (in drain order): at most `pace.batch` OCSP pins
 * (each asks the CA) and at most `maxCalls` owner calls in all; always at least one, so an entry
 * costing more calls than allowed is not stuck.
 */
export function chooseBatch<T extends PinRequest>(
  due: readonly T[],
  pace: Pacing,
  maxCalls = MAX_CALLS_PER_DRAIN,
): T[] {
  const taken: T[] = [];
  let calls = 0;
  let ocsp = 0;
  for (const e of due) {
    const cost = callsOf(e);
    if (e.target.kind === "ocsp" && ocsp >= pace.batch) break;
    if (taken.length > 0 && calls + cost > maxCalls) break;
    taken.push(e);
    calls += cost;
    if (e.target.kind === "ocsp") ocsp++;
  }
  return taken;
}

/**
 * When the drain after one started at `startedAt` may start: the time its OCSP pins are worth at
 * the rate (a full batch: one interval), at least MIN_DRAIN_GAP_MS; longer while every pin of the
 * last drains failed (the responder is down: entries keep their attempts for when it is back).
 */
export function nextDrainAfter(
  startedAt: number,
  ocspTaken: number,
  pace: Pacing,
  failingDrains: number,
): number {
  let gap = Math.max(MIN_DRAIN_GAP_MS, (pace.intervalMs * ocspTaken) / pace.batch);
  if (failingDrains > 0) gap = Math.max(gap, retryDelay(failingDrains));
  return startedAt + gap;
}

/** The wait before attempt `attempts + 1`: 5 min, doubling, at most an hour. */
export function retryDelay(attempts: number): number {
  return Math.min(RETRY_CAP_MS, RETRY_BASE_MS * 2 ** Math.max(0, attempts - 1));
}

/** A pin that failed at `now`: tried again later, or given up after MAX_PIN_ATTEMPTS. */
export function afterFailure(
  entry: QueuedPin,
  error: string,
  now: number,
): { retry: QueuedPin } | { failed: FailedPin } {
  const attempts = entry.attempts + 1;
  if (attempts >= MAX_PIN_ATTEMPTS)
    return {
      failed: { serial: entry.serial, subject: entry.leaf.subject, attempts, error, failedAt: now },
    };
  return { retry: { ...entry, attempts, due: now + retryDelay(attempts), lastError: error } };
}

/**
 * When the last waiting pin is expected to be fetched, if drains start at `firstAt` and keep the
 * rate (retries and failures not foreseen): undefined when nothing waits.
 */
export function lastExpectedAt(
  meta: Pick<PinQueueMeta, "pending" | "pendingCrl">,
  firstAt: number,
  pace: Pacing,
): number | undefined {
  if (meta.pending <= 0) return undefined;
  const ocsp = Math.max(0, meta.pending - meta.pendingCrl);
  const ocspDrains = Math.ceil(ocsp / pace.batch);
  const crlDrains = Math.ceil(meta.pendingCrl / MAX_CALLS_PER_DRAIN);
  // The last drain starts after the others: intervals for full OCSP batches, a gap for CRL ones.
  const gaps = Math.max(0, ocspDrains - 1) * pace.intervalMs + crlDrains * MIN_DRAIN_GAP_MS;
  return firstAt + gaps - (ocspDrains === 0 ? MIN_DRAIN_GAP_MS : 0);
}

/** Storage keys of one queue (storage-schema.md "PinQueue"). */
export const PIN_KEYS = {
  meta: "meta",
  /** The entry, by serial: the same certificate queued twice is one entry. */
  entry: (serial: string) => `e:${serial}`,
  /** The drain order: due time (zero-padded, so keys sort as times), then serial. */
  order: (due: number, serial: string) => `d:${pad(due)}:${serial}`,
  /** Drain-order keys due at `now` or before lie in [orderStart, orderEnd(now)). */
  orderStart: "d:",
  orderEnd: (now: number) => `d:${pad(Math.floor(now) + 1)}:`,
  /** ... and every one of them before this (";" follows ":"). */
  orderAll: "d;",
  failed: (serial: string) => `f:${serial}`,
  failedStart: "f:",
  failedEnd: "f;",
};

/** The due time and serial of a drain-order key. */
export function parseOrderKey(key: string): { due: number; serial: string } | undefined {
  const m = /^d:(\d{15}):(.+)$/.exec(key);
  return m ? { due: Number(m[1]), serial: m[2]! } : undefined;
}

const pad = (t: number) => String(Math.max(0, Math.floor(t))).padStart(15, "0");
