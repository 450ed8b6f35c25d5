// The one host of an owner's rules (fleet/kernel.ts), for both rule sets: it reads the owner once
// per object life and then holds the one in-place object every path changes, runs one fetch at a
// time that every waiting request shares, and performs the effects each step returns, in order:
// the owner saved once per step (where the step last changed it: `persist`, by default the state
// alone under `state`), the alarm, the issuer looked up, logs, and the ledger after the reply (a
// client never waits for it). What only one rule set does (keep a CRL, publish to KV, spend the
// budget, store the OCSP owner's state and answer as one row) is its subclass's.

import type { Result } from "../errors.ts";
import type { IssuerRecord } from "../issuers/issuer.ts";
import { log } from "../log.ts";
import type { Effect, KernelEvent } from "./kernel.ts";
import { retryAt, type ScheduleConfig } from "./schedule.ts";

export interface RunnerStorage {
  get<T>(key: string): Promise<T | undefined>;
  put<T>(key: string, value: T): Promise<void>;
  setAlarm(scheduledTime: number): Promise<void>;
  getAlarm?(): Promise<number | null>;
  deleteAll?(): Promise<void>;
}

/** What every owner's host is given. */
export interface RunnerDeps {
  /** The issuer as registered now (undefined once deleted: refresh stops). */
  currentIssuer: (issuerId: string) => Promise<IssuerRecord | undefined>;
  now: () => number;
  random: () => number;
  schedule: ScheduleConfig;
  /** Runs work after the reply (the Durable Object's waitUntil); default: not awaited. */
  background?: (work: Promise<unknown>) => void;
  /** Tests only (Platform.inlineBackground): that work is awaited before the reply instead. */
  inlineBackground?: () => boolean;
}

/** A step of a rule set: its effects, and what the request that caused it gets. */
export interface Stepped<Held, Draft, Reply> {
  effects: Effect<Held, Draft>[];
  reply?: Reply;
}

export abstract class Runner<
  O extends { state: { issuer: IssuerRecord } | undefined },
  Held,
  Draft,
  Event extends { on: string },
  Reply,
  Settled,
> {
  private owner: O | undefined;
  private loading: Promise<O> | undefined;
  /** An alarm's work threw since the last one that did not (its count is in storage). */
  private alarmFailed = false;
  /** The fetch in flight, which every request that needs it joins. */
  protected inflight: Promise<Result<Settled>> | undefined;

  constructor(
    private readonly host: RunnerDeps,
    private readonly storage: RunnerStorage,
  ) {}

  /** Reads the owner from storage (once per object life). */
  protected abstract read(): Promise<O>;
  /** One step of the rule set. */
  protected abstract step(o: O, e: Event, now: number, random: number): Stepped<Held, Draft, Reply>;
  /**
   * Asks the source once and performs what its answer means (through `run`), calling `restore`
   * just before: the state the fetch started with is back if the owner was forgotten meanwhile.
   */
  protected abstract refresh(o: O, restore: () => void): Promise<Result<Settled>>;
  /** The rule set's own effects: keep, publish, spend. */
  protected abstract own(f: Effect<Held, Draft>, now: number): Promise<void>;
  /** Delivers a report to the ledger (never throws). */
  protected abstract deliver(o: O, draft: Draft): Promise<void>;

  /**
   * Writes what a "save" stands for (once per step, its state defined): by default the state
   * object under `state` (the CRL owner); the OCSP owner writes its state and answer as one row.
   */
  protected async persist(o: O): Promise<void> {
    await this.storage.put("state", o.state);
  }

  protected load(): Promise<O> {
    if (this.owner) return Promise.resolve(this.owner);
    this.loading ??= this.read().then(
      (o) => (this.owner = o),
      (e: unknown) => {
        this.loading = undefined; // a storage read that failed is tried again by the next call
        throw e;
      },
    );
    return this.loading;
  }

  /**
   * One step, its effects performed in order: what the request gets, and the fetch the step
   * started or joined (its own, not whatever is in flight when the caller looks). If an effect
   * throws (storage failed), the in-memory owner is dropped: the next call reads storage again,
   * so nothing that was not stored is ever served.
   */
  protected async run(
    o: O,
    e: Event | KernelEvent<never>,
    now: number,
  ): Promise<{ reply?: Reply; fetch?: Promise<Result<Settled>> }> {
    const { effects, reply } = this.step(o, e as Event, now, this.host.random());
    let fetch: Promise<Result<Settled>> | undefined;
    try {
      // (Wrapped: an async function would adopt a returned promise, not hand it over.)
      ({ fetch } = await this.perform(o, effects, now));
    } catch (error) {
      this.owner = undefined;
      this.loading = undefined;
      throw error;
    }
    return { ...(reply !== undefined ? { reply } : {}), ...(fetch ? { fetch } : {}) };
  }

  private async perform(
    o: O,
    effects: Effect<Held, Draft>[],
    now: number,
  ): Promise<{ fetch: Promise<Result<Settled>> | undefined }> {
    let fetch: Promise<Result<Settled>> | undefined;
    let lastSave = -1;
    effects.forEach((f, i) => {
      if (f.do === "save") lastSave = i;
    });
    for (const [i, f] of effects.entries()) {
      switch (f.do) {
        case "save":
          if (i === lastSave && o.state) await this.persist(o);
          break;
        case "alarm":
          if (!f.ifNone || (await this.storage.getAlarm?.()) === null)
            await this.storage.setAlarm(f.at);
          break;
        case "forget":
          await this.storage.deleteAll?.();
          break;
        case "fetch":
          fetch = this.inflight ??= this.fetchOnce(o);
          break;
        case "lookupIssuer":
          if (o.state) {
            const issuer = await this.host.currentIssuer(o.state.issuer.id);
            fetch = (await this.run(o, { on: "issuer", issuer }, now)).fetch ?? fetch;
          }
          break;
        case "report":
          if (this.host.inlineBackground?.()) await this.deliver(o, f.report);
          else if (this.host.background) this.host.background(this.deliver(o, f.report));
          else void this.deliver(o, f.report);
          break;
        case "log":
          log(f.event, f.fields);
          break;
        default:
          await this.own(f, now);
      }
    }
    return { fetch };
  }

  /**
   * One fetch: the state it started with is the one its result is recorded in, even if the owner
   * was forgotten meanwhile (a guess's forget alarm firing while a client's fetch is in flight).
   */
  private async fetchOnce(o: O): Promise<Result<Settled>> {
    const state = o.state;
    try {
      return await this.refresh(o, () => {
        o.state ??= state;
      });
    } finally {
      this.inflight = undefined;
    }
  }

  protected now(): number {
    return this.host.now();
  }

  /**
   * Runs an alarm's work; if it throws (a KV read of the registry, storage), the alarm re-arms
   * itself with the owners' backoff instead of leaving it to the platform, whose retries give up
   * after a few: a pinned certificate nobody asks about never stops refreshing because of one
   * failed read.
   */
  protected async alarmed(work: () => Promise<void>): Promise<void> {
    try {
      await work();
      if (this.alarmFailed) await this.storage.put("alarmFailures", 0);
      this.alarmFailed = false;
    } catch (e) {
      // Counted in storage: the object may be evicted between two retries, and the backoff
      // (1 min doubling to 1 h) must still grow while the failure lasts.
      const failures = ((await this.storage.get<number>("alarmFailures").catch(() => 0)) ?? 0) + 1;
      this.alarmFailed = true;
      const at = retryAt(failures, this.now(), undefined, this.host.schedule);
      log("alarm.failed", { failures, retryAt: new Date(at).toISOString(), detail: message(e) });
      await this.storage.put("alarmFailures", failures).catch(() => undefined);
      await this.storage.setAlarm(at);
    }
  }
}

export const message = (e: unknown) => (e instanceof Error ? e.message : String(e));
