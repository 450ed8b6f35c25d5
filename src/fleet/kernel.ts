// The owners' kernel, shared by both rule sets (fleet/ocsp-rules.ts for a CertID's answer,
// fleet/crl-rules.ts for a CRL): an owner is a state machine that takes an event (a request, a pin,
// a touch, an alarm, a fetch's result, the issuer as registered now) and returns what its host is
// to do (effects), in the manner of etcd's raft library; the host (fleet/runner.ts) performs them.
// Here: the effects, the bookkeeping of attempts every owner keeps, and the planning of the next
// one. Pure: no I/O; `now` and the random draw are arguments.

import type { RelayError, Result } from "../errors.ts";
import type { IssuerRecord } from "../issuers/issuer.ts";
import type { LogEvent } from "../log.ts";
import { retryAt, type ScheduleConfig, type Window } from "./schedule.ts";

/** A failure with nothing valid held is remembered this long before the source is asked again. */
export const FAILURE_MEMORY_MS = 3_000;

/** What a step asks its host to do, in order. */
export type Effect<Held, Report> =
  /**
   * Persist the state object (the one object every path changes in place); the OCSP owner writes
   * it with the answer it holds, one row (fleet/owner.ts), so a step that changes its answer saves.
   */
  | { do: "save" }
  /** Persist what is now held, apart from the state (a CRL and its entries: the CRL owner only). */
  | { do: "keep"; held: Held }
  /** Publish what is held to the isolates' read path (KV). */
  | { do: "publish"; held: Held }
  /** Set the alarm (`ifNone`: only when none is pending). */
  | { do: "alarm"; at: number; ifNone?: boolean }
  /** Delete everything this owner stores, its alarm too. */
  | { do: "forget" }
  /** Ask the source (the CA, the CRL server): one fetch at a time; its result comes back as an event. */
  | { do: "fetch" }
  /** Spend a token of the issuer's upstream budget; the verdict comes back as an event. */
  | { do: "spend" }
  /** Look up the issuer as registered now; it comes back as an event. */
  | { do: "lookupIssuer" }
  /** Tell the fleet ledger, after the reply: a client never waits for it. */
  | { do: "report"; report: Report }
  | { do: "log"; event: LogEvent; fields: Record<string, unknown> };

/** The events both rule sets take besides their own requests. */
export type KernelEvent<Fetched> =
  /** The owner's alarm fired. */
  | { on: "alarm" }
  /** The issuer as registered now (after a lookupIssuer effect). */
  | { on: "issuer"; issuer: IssuerRecord | undefined }
  /** The host is about to ask the source. */
  | { on: "fetching" }
  /** What the source sent, verified (or why not), for a fetch started at `startedAt`. */
  | { on: "fetched"; result: Result<Fetched>; startedAt: number };

/** What every owner remembers of its attempts (persisted in its state). */
export interface Attempts {
  fetches: number;
  failures: number;
  lastFetchAt?: number;
  lastError?: string;
  lastErrorAt?: number;
  nextAttemptAt?: number;
}

/** What an owner keeps in memory only: the last failure, while nothing valid is held. */
export interface Memory {
  recentFailure?: { until: number; error: RelayError };
}

export function attempting(s: Attempts, now: number): void {
  s.fetches += 1;
  s.lastFetchAt = now;
}

export function succeeded(s: Attempts, m: Memory): void {
  s.failures = 0;
  delete s.lastError;
  delete m.recentFailure;
}

/** Records a failure; the next attempt is planned by backoff within `held`'s window, if any. */
export function failed(
  s: Attempts,
  m: Memory,
  error: RelayError,
  now: number,
  held: Window | undefined,
  schedule: ScheduleConfig,
): void {
  s.failures += 1;
  s.lastError = error.detail;
  s.lastErrorAt = now;
  m.recentFailure = { until: now + FAILURE_MEMORY_MS, error };
  s.nextAttemptAt = retryAt(s.failures, now, held, schedule);
}

/** The failure to answer with, while it is remembered. */
export function rememberedFailure(m: Memory, now: number): RelayError | undefined {
  return m.recentFailure && m.recentFailure.until > now ? m.recentFailure.error : undefined;
}

/** The log line of a failed refresh, with its retry (or "none"). */
export function refreshFailed(
  who: Record<string, unknown>,
  s: Attempts,
  retry: boolean,
): Effect<never, never> {
  return {
    do: "log",
    event: "refresh.failed",
    fields: {
      ...who,
      failures: s.failures,
      ...(retry && s.nextAttemptAt !== undefined
        ? { retryAt: new Date(s.nextAttemptAt).toISOString() }
        : { retry: "none (not worth refreshing)" }),
      detail: s.lastError,
    },
  };
}
