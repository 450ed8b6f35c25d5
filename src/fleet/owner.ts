// The host of one CertID's owner (run inside the CertOwner Durable Object, one per CertID): it holds
// the one in-place owner (fleet/ocsp-rules.ts decides everything), runs one CA fetch at a time that
// concurrent misses from every location share, and performs the effects each step returns: storage
// (strongly consistent; KV may lag), KV (the read path of every isolate), the alarm, the budget,
// the ledger (after the reply: a miss never waits for it), logs. Clock, randomness, the upstream
// and KV are injected. Storage is one row, `owner` (the state and the answer held), written once
// per step that saves: a refresh writes it and the alarm, two rows. Owners stored before it (the
// `state` and `answer` keys) are read from those, which their first save deletes.

import type { CachedAnswer } from "../cache/record.ts";
import { err, ok, type Result } from "../errors.ts";
import { log } from "../log.ts";
import { fromBase64 } from "../ocsp/bytes.ts";
import { parseCertificate } from "../ocsp/certificate.ts";
import type { BudgetConfig } from "./budget.ts";
import type { OwnerReport } from "./ledger.ts";
import { message, Runner, type RunnerDeps } from "./runner.ts";
import { newOwner, step } from "./ocsp-rules.ts";
import {
  afterRollback,
  OPEN_POLICY,
  type OcspEffect,
  type OcspEvent,
  type OcspOwner,
  type OwnerAnswer,
  type OwnerRequest,
  type OwnerState,
  type Reply,
  type StoredOwner,
} from "./owner-types.ts";
import type { UpstreamQuery } from "./upstream.ts";

export { FAILURE_MEMORY_MS } from "./kernel.ts";
export {
  OPEN_POLICY,
  worthRefreshing,
  type OwnerAnswer,
  type OwnerPolicy,
  type OwnerRequest,
  type OwnerState,
  type StoredOwner,
} from "./owner-types.ts";

/** Where owners were stored before `owner` (read, then deleted by their first save). */
const LEGACY_KEYS = ["state", "answer"];

export interface OwnerStorage {
  get<T>(key: string): Promise<T | undefined>;
  put<T>(key: string, value: T): Promise<void>;
  /** Deletes these keys (each a row written); how many there were. */
  delete(keys: string[]): Promise<number>;
  setAlarm(scheduledTime: number): Promise<void>;
  getAlarm(): Promise<number | null>;
  deleteAlarm(): Promise<void>;
  /** Forgets everything (the alarm too). */
  deleteAll(): Promise<void>;
}

export interface OwnerDeps extends RunnerDeps {
  storage: OwnerStorage;
  /** Writes an answer to KV, the isolates' read path (sources/kv.ts writeAnswer). */
  publish: (answer: CachedAnswer, now: number) => Promise<void>;
  /** Fetch and verify from the CA (fleet/upstream.ts fetchVerified). */
  fetchVerified: (query: UpstreamQuery) => Promise<Result<CachedAnswer>>;
  /** Tells the fleet ledger about each fetch and each certificate let go (metrics, /status). */
  report?: (report: OwnerReport) => Promise<void>;
  /** Takes one token from the issuer's upstream budget (fleet/budget.ts); false: over budget. */
  spendBudget?: (issuerId: string, budget: BudgetConfig) => Promise<boolean>;
}

export class CertOwnerLogic extends Runner<
  OcspOwner,
  CachedAnswer,
  OwnerReport,
  OcspEvent,
  Reply,
  CachedAnswer
> {
  /** Concurrent first requests for a guess share one token of the budget. */
  private admitting: Promise<boolean> | undefined;

  constructor(private readonly deps: OwnerDeps) {
    super(deps, deps.storage);
  }

  /** The valid answer, from storage or fetched now (one fetch at a time). */
  async answer(req: OwnerRequest): Promise<Result<OwnerAnswer>> {
    const o = await this.load();
    const now = this.now();
    let step = await this.run(o, { on: "request", req, fetching: this.fetching() }, now);
    if (step.reply && "spend" in step.reply) {
      this.admitting ??= this.spend(req).finally(() => {
        this.admitting = undefined;
      });
      const admitted = await this.admitting;
      step = await this.run(
        o,
        { on: "admitted", req, admitted, fetching: this.fetching(), requestedAt: now },
        this.now(),
      );
    }
    if (step.reply && "reply" in step.reply) return step.reply.reply;
    const result = await step.fetch!;
    return result.ok
      ? ok({ answer: result.value, fetched: result.value.fetchedAt >= now })
      : result;
  }

  /** A client asked (served from a cache tier): keeps a certificate worth refreshing from going idle. */
  async touch(req: OwnerRequest): Promise<void> {
    await this.run(await this.load(), { on: "touch", req }, this.now());
  }

  /** The operator unpinned it; false: it was not pinned. */
  async unpin(): Promise<boolean> {
    const { reply } = await this.run(await this.load(), { on: "unpin" }, this.now());
    return Boolean(reply && "unpinned" in reply && reply.unpinned);
  }

  /** The scheduled refresh (or retry), or the end of a guessed CertID's window. */
  async alarm(): Promise<void> {
    await this.alarmed(async () => {
      const { fetch } = await this.run(await this.load(), { on: "alarm" }, this.now());
      if (fetch) await fetch; // the refresh this alarm started (or joined), not a client's
    });
  }

  /** This owner's state: read from storage once, then the one object every path changes. */
  async state(): Promise<OwnerState | undefined> {
    return (await this.load()).state;
  }

  async held(): Promise<CachedAnswer | undefined> {
    return (await this.load()).held;
  }

  /**
   * The owner as stored. This version deletes the keys stored before `owner` (`state`, `answer`)
   * in the batch of writes that stores `owner`, so if they are there they were never migrated, or
   * an older version wrote them after a rollback: newer than `owner`, which it does not read, but
   * perhaps started afresh (it found no state), so merged with it (afterRollback: no pin, watch or
   * revocation seen is lost). Their first save here migrates them again.
   */
  protected async read(): Promise<OcspOwner> {
    const o = newOwner();
    const legacy = await this.deps.storage.get<OwnerState>("state");
    const row = await this.deps.storage.get<StoredOwner>("owner");
    if (legacy) {
      const legacyHeld = await this.deps.storage.get<CachedAnswer>("answer");
      const read = row
        ? afterRollback(row, legacy, legacyHeld)
        : { state: legacy, held: legacyHeld };
      o.state = read.state;
      o.held = read.held;
      o.memory.legacyKeys = true;
      return o;
    }
    o.state = row?.state;
    o.held = row?.held;
    return o;
  }

  /**
   * A save: the state and the answer held, one row. The first after a read of the legacy keys
   * deletes them in the same batch of writes (no await between: a Durable Object commits them
   * together), so `owner` and the legacy keys are never both there from this version.
   */
  protected override async persist(o: OcspOwner): Promise<void> {
    if (!o.state) return;
    const row: StoredOwner = { state: o.state, ...(o.held ? { held: o.held } : {}) };
    const legacy = o.memory.legacyKeys;
    delete o.memory.legacyKeys; // (before the awaits: a step that saves meanwhile deletes nothing)
    const put = this.deps.storage.put("owner", row);
    const deleted = legacy ? this.deps.storage.delete(LEGACY_KEYS) : undefined;
    await Promise.all([put, deleted]);
  }

  protected step(o: OcspOwner, e: OcspEvent, now: number, random: number) {
    return step(o, e, now, random, this.deps.schedule);
  }

  protected async own(f: OcspEffect, now: number): Promise<void> {
    if (f.do === "publish")
      await this.deps
        .publish(f.held, now)
        .catch((e: unknown) =>
          log("cache.write_failed", { certId: f.held.certIdKey, detail: message(e) }),
        );
    // "spend" is asked through the reply (answer): its verdict is the next event. The OCSP rules
    // emit no "keep": the answer held is written with the state, by "save" (persist).
  }

  /** Asks the CA once, and performs what its answer means. */
  protected async refresh(o: OcspOwner, restore: () => void): Promise<Result<CachedAnswer>> {
    const state = o.state!;
    const cert = parseCertificate(fromBase64(state.issuer.certificate) ?? new Uint8Array());
    if (!cert.ok)
      return err({ kind: "internal", detail: `stored issuer unreadable: ${cert.error.detail}` });
    const startedAt = this.now();
    await this.run(o, { on: "fetching" }, startedAt);
    const result = await this.deps.fetchVerified({
      key: state.certIdKey,
      certId: state.certId,
      issuer: state.issuer,
      issuerCert: cert.value,
      now: startedAt,
    });
    restore();
    const { reply } = await this.run(o, { on: "fetched", result, startedAt }, this.now());
    return reply && "settled" in reply ? reply.settled : result;
  }

  protected async deliver(_: OcspOwner, r: OwnerReport): Promise<void> {
    await this.deps
      .report?.(r)
      .catch((e: unknown) => log("ledger.failed", { certId: r.certIdKey, detail: message(e) }));
  }

  private fetching(): boolean {
    return this.inflight !== undefined;
  }

  /** Spends a token of the issuer's upstream budget for a guessed CertID; false: over budget. */
  private async spend(req: OwnerRequest): Promise<boolean> {
    const policy = req.policy ?? OPEN_POLICY;
    if (!this.deps.spendBudget) return true;
    const admitted = await this.deps.spendBudget(req.issuer.id, policy.budget);
    // Once per token refused, however many requests shared it.
    if (!admitted)
      log("upstream.budget_exceeded", { issuer: req.issuer.id, certId: req.certIdKey });
    return admitted;
  }
}
