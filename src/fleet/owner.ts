// The owner of one certificate's answer, fleet-wide (run inside the CertOwner Durable Object, one
// per CertID): it alone fetches from the CA, so concurrent misses from every location share one
// fetch; it keeps the last verified answer in its own strongly consistent storage (KV may lag);
// it writes KV, the read path of every isolate; and it refreshes ahead of nextUpdate with an alarm.
// Safety rules across time: never an older thisUpdate, never `good` after a validly signed `revoked`.
// Only certificates that deserve it are refreshed: pinned ones, and those the CA has answered
// `good` or `revoked` at least once. A CertID the CA has only answered `unknown` for (or failed on)
// is a guess, maybe an attacker's: its first fetch spends from the issuer's upstream budget, it is
// never refreshed, never written to KV, and its owner forgets it when its serve window ends.
// Clock, randomness and the upstream are injected.

import { isFresh, type CachedAnswer, type CertStatusName } from "../cache/record.ts";
import { writeAnswer } from "../sources/kv.ts";
import { err, ok, type RelayError, type Result } from "../errors.ts";
import type { IssuerRecord } from "../issuers/issuer.ts";
import { log } from "../log.ts";
import { parseCertificate } from "../ocsp/certificate.ts";
import { fromBase64, toHex } from "../ocsp/bytes.ts";
import { DEFAULT_BUDGET, type BudgetConfig } from "./budget.ts";
import type { FetchReport } from "./ledger.ts";
import type { CertId } from "../ocsp/request.ts";
import type { LeafInfo } from "../sources/source.ts";
import type { UpstreamQuery } from "./upstream.ts";
import { refreshAt, retryAt, type ScheduleConfig } from "./schedule.ts";

/** A failure with nothing valid held is remembered this long before the CA is asked again. */
export const FAILURE_MEMORY_MS = 3_000;

export interface OwnerStorage {
  get<T>(key: string): Promise<T | undefined>;
  put<T>(key: string, value: T): Promise<void>;
  setAlarm(scheduledTime: number): Promise<void>;
  getAlarm(): Promise<number | null>;
  deleteAlarm(): Promise<void>;
  /** Forgets everything (the alarm too). */
  deleteAll(): Promise<void>;
}

/** How the worker is configured to treat unpinned certificates (from the Env, never a client). */
export interface OwnerPolicy {
  /** "registered": only pinned certificates are relayed. */
  access: "open" | "registered";
  budget: BudgetConfig;
}

export const OPEN_POLICY: OwnerPolicy = { access: "open", budget: DEFAULT_BUDGET };

export interface OwnerRequest {
  certIdKey: string;
  certId: CertId;
  issuer: IssuerRecord;
  /** Keep refreshing even when nobody asks (registered certificates). */
  pin?: boolean;
  /** What is known of the certificate itself, when a client sent it (admin API, /check). */
  leaf?: LeafInfo;
  /** An authenticated caller of /check asked: its revocation alerts the operator, like a pin's. */
  watch?: boolean;
  /** The worker's policy for unpinned certificates (default: open, the default budget). */
  policy?: OwnerPolicy;
}

export interface OwnerAnswer {
  answer: CachedAnswer;
  /** Whether the CA was asked for this request (false: the owner already held it). */
  fetched: boolean;
}

export interface OwnerState {
  certIdKey: string;
  certId: CertId;
  issuer: IssuerRecord;
  pinned: boolean;
  /** Checked by an authenticated caller (/check with a fleet key or the admin token). */
  watched?: boolean;
  leaf?: LeafInfo;
  lastRequestedAt: number;
  failures: number;
  fetches: number;
  lastFetchAt?: number;
  lastError?: string;
  lastErrorAt?: number;
  nextAttemptAt?: number;
  /** Set once a validly signed `revoked` answer was seen: no later `good` is served. */
  revokedSeen?: { revocationTime: number | undefined; seenAt: number };
  /** Status of the last answer accepted. */
  lastStatus?: CertStatusName;
  /** The CA has answered `good` or `revoked` for this CertID at least once: a real certificate. */
  vouched?: boolean;
  /** Access policy of the last request (alarms have no request). */
  access?: OwnerPolicy["access"];
  /** Not worth refreshing: everything here is deleted at this time. */
  forgetAt?: number;
}

/** Whether the owner refreshes this certificate ahead of time (and writes its answers to KV). */
export function worthRefreshing(state: Pick<OwnerState, "pinned" | "vouched" | "access">): boolean {
  if (state.pinned) return true;
  return Boolean(state.vouched) && state.access !== "registered";
}

export interface OwnerDeps {
  storage: OwnerStorage;
  kv: KVNamespace;
  /** Fetch and verify from the CA (fleet/upstream.ts fetchVerified). */
  fetchVerified: (query: UpstreamQuery) => Promise<Result<CachedAnswer>>;
  /** The issuer as registered now (undefined once deleted: alarms stop). */
  currentIssuer: (issuerId: string) => Promise<IssuerRecord | undefined>;
  now: () => number;
  random: () => number;
  schedule: ScheduleConfig;
  /** Tells the fleet ledger about each fetch (metrics, status page, alerts). */
  report?: (report: FetchReport) => Promise<void>;
  /** Takes one token from the issuer's upstream budget (fleet/budget.ts); false: over budget. */
  spendBudget?: (issuerId: string, budget: BudgetConfig) => Promise<boolean>;
}

const NOT_LOADED = Symbol("not loaded");

export class CertOwnerLogic {
  private inflight: Promise<Result<CachedAnswer>> | undefined;
  /** Concurrent first requests for a guess share one token of the budget. */
  private admitting: Promise<boolean> | undefined;
  /** The state, once read (storage hands out copies: one object keeps concurrent changes). */
  private current: OwnerState | undefined | typeof NOT_LOADED = NOT_LOADED;
  private recentFailure: { until: number; error: RelayError } | undefined;

  constructor(private readonly deps: OwnerDeps) {}

  /** The valid answer, from storage or fetched now (one fetch at a time). */
  async answer(req: OwnerRequest): Promise<Result<OwnerAnswer>> {
    const now = this.deps.now();
    const policy = req.policy ?? OPEN_POLICY;
    const prev = await this.state();
    // Read before remember(), which changes the same object.
    const wasPinned = Boolean(prev?.pinned);
    const pinned = wasPinned || Boolean(req.pin);
    if (policy.access === "registered" && !pinned) {
      return err({
        kind: "unauthorized",
        detail: "this relay answers only for registered certificates (OCSP_ACCESS=registered)",
      });
    }
    const held = await this.held();
    // A pin trusts only what the CA vouched for: an `unknown` held (maybe asked for before the
    // certificate was issued, by anyone) is fetched again for it.
    const trusted = held && !(req.pin && held.status === "unknown") ? held : undefined;
    if (trusted && isFresh(trusted, now)) {
      const state = await this.remember(req, now);
      if (pinned && !wasPinned) {
        // Newly pinned: refreshed from now on, and readable from KV like every pinned answer.
        await this.schedule(state, trusted, now);
        await this.writeKv(state, trusted, now);
      }
      return ok({ answer: trusted, fetched: false });
    }
    if (this.recentFailure && this.recentFailure.until > now) return err(this.recentFailure.error);
    const guess = !worthRefreshing({ pinned, vouched: prev?.vouched, access: policy.access });
    if (guess && !this.inflight) {
      this.admitting ??= this.admit(req, policy).finally(() => {
        this.admitting = undefined;
      });
      if (!(await this.admitting)) {
        return err({
          kind: "tryLater",
          cause: "budget",
          detail:
            "the issuer's upstream budget for certificates nobody registered is spent; try later",
        });
      }
      // While the budget answered, a request that shared the token may have fetched already.
      const fetched = await this.held();
      if (!this.inflight && fetched && isFresh(fetched, this.deps.now())) {
        await this.remember(req, now);
        return ok({ answer: fetched, fetched: fetched.fetchedAt >= now });
      }
    }
    const state = await this.remember(req, now);
    const result = await this.fetchOnce(state);
    // A pin that joined a fetch another request started is in the state that fetch writes back
    // (the same object), so the refresh schedule and the KV write follow from it.
    return result.ok
      ? ok({ answer: result.value, fetched: result.value.fetchedAt >= now })
      : result;
  }

  /** A client asked (served from a cache tier): keeps a certificate worth refreshing from going idle. */
  async touch(req: OwnerRequest): Promise<void> {
    const prev = await this.state();
    // Nothing here (forgotten, or never fetched) or not worth refreshing: a touch revives nothing.
    if (!prev || !worthRefreshing(prev)) return;
    const now = this.deps.now();
    await this.remember(req, now);
    if ((await this.deps.storage.getAlarm()) === null) await this.deps.storage.setAlarm(now);
  }

  /** The scheduled refresh (or retry), or the end of a guessed CertID's window. */
  async alarm(): Promise<void> {
    const state = await this.state();
    if (!state) return;
    const now = this.deps.now();
    if (!worthRefreshing(state)) {
      const at = state.forgetAt ?? now;
      if (now >= at) await this.forget(state, "not worth refreshing, window over");
      else await this.deps.storage.setAlarm(at);
      return;
    }
    const idle = now - state.lastRequestedAt > this.deps.schedule.idleAfterMs;
    if (idle && !state.pinned) {
      // Nobody asked for IDLE_REFRESH_SECONDS and nobody registered it: refresh stops, and nothing
      // is kept of it, but for a revocation seen (the rule that no later `good` is served).
      if (state.revokedSeen) log("refresh.stopped", { certId: state.certIdKey, reason: "idle" });
      else await this.forget(state, "idle");
      return;
    }
    const issuer = await this.deps.currentIssuer(state.issuer.id);
    if (issuer && !issuer.responderUrl) {
      log("refresh.stopped", {
        certId: state.certIdKey,
        reason: "the issuer has no OCSP responder now",
      });
      return;
    }
    if (!issuer) {
      log("refresh.stopped", { certId: state.certIdKey, reason: "issuer no longer registered" });
      return;
    }
    state.issuer = issuer; // a re-registration may have changed the responder URL
    await this.fetchOnce(state);
  }

  /** This owner's state: read from storage once, then the one object every path changes. */
  async state(): Promise<OwnerState | undefined> {
    if (this.current === NOT_LOADED) {
      this.current = await this.deps.storage.get<OwnerState>("state");
    }
    return this.current;
  }

  async held(): Promise<CachedAnswer | undefined> {
    return this.deps.storage.get<CachedAnswer>("answer");
  }

  /** Spends a token of the issuer's upstream budget for a guessed CertID; false: over budget. */
  private async admit(req: OwnerRequest, policy: OwnerPolicy): Promise<boolean> {
    if (!this.deps.spendBudget) return true;
    const admitted = await this.deps.spendBudget(req.issuer.id, policy.budget);
    if (!admitted)
      log("upstream.budget_exceeded", { issuer: req.issuer.id, certId: req.certIdKey });
    return admitted;
  }

  /** Plans the next alarm from what is held: a refresh, a retry, or forgetting a guess. */
  private async schedule(state: OwnerState, held: CachedAnswer | undefined, now: number) {
    const { deps } = this;
    if (!worthRefreshing(state)) {
      state.forgetAt = Math.max(
        now + FAILURE_MEMORY_MS,
        held ? held.serveUntil : now + deps.schedule.unknownMaxAgeMs,
      );
      delete state.nextAttemptAt;
      await this.save(state);
      await deps.storage.setAlarm(state.forgetAt);
      return;
    }
    delete state.forgetAt;
    state.nextAttemptAt = held
      ? refreshAt(refreshWindow(held), now, deps.random(), deps.schedule)
      : retryAt(Math.max(1, state.failures), now, undefined, deps.schedule);
    await this.save(state);
    await deps.storage.setAlarm(state.nextAttemptAt);
  }

  /** Deletes the owner's storage and alarm: a guessed CertID leaves nothing behind. */
  private async forget(state: OwnerState, reason: string): Promise<void> {
    await this.deps.storage.deleteAll();
    this.current = undefined;
    this.recentFailure = undefined;
    log("owner.forgotten", { certId: state.certIdKey, reason });
  }

  /** KV is the read path of every isolate; if a write fails the owner still holds and serves. */
  private async writeKv(state: OwnerState, answer: CachedAnswer, now: number): Promise<void> {
    await writeAnswer(this.deps.kv, answer, now).catch((e: unknown) =>
      log("cache.write_failed", {
        certId: state.certIdKey,
        detail: e instanceof Error ? e.message : String(e),
      }),
    );
  }

  /**
   * Records a request in the one state object of this owner, changed in place: a refresh that is
   * awaiting the CA holds the same object, so what a request records meanwhile (a pin, the leaf)
   * is in what the refresh writes back.
   */
  private async remember(req: OwnerRequest, now: number): Promise<OwnerState> {
    const state: OwnerState = (await this.state()) ?? {
      failures: 0,
      fetches: 0,
      certIdKey: req.certIdKey,
      certId: req.certId,
      issuer: req.issuer,
      pinned: false,
      lastRequestedAt: now,
    };
    state.certIdKey = req.certIdKey;
    state.certId = req.certId;
    state.issuer = req.issuer;
    state.pinned = Boolean(state.pinned || req.pin);
    if (req.watch) state.watched = true;
    if (req.leaf) state.leaf = req.leaf;
    state.access = req.policy?.access ?? state.access ?? "open";
    state.lastRequestedAt = now;
    await this.save(state);
    return state;
  }

  private async save(state: OwnerState): Promise<void> {
    this.current = state;
    await this.deps.storage.put("state", state);
  }

  private fetchOnce(state: OwnerState): Promise<Result<CachedAnswer>> {
    this.inflight ??= this.refresh(state).finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  private async refresh(state: OwnerState): Promise<Result<CachedAnswer>> {
    const { deps } = this;
    const now = deps.now();
    const cert = parseCertificate(fromBase64(state.issuer.certificate) ?? new Uint8Array());
    if (!cert.ok)
      return err({ kind: "internal", detail: `stored issuer unreadable: ${cert.error.detail}` });
    state.fetches += 1;
    state.lastFetchAt = now;
    const revokedBefore = Boolean(state.revokedSeen);
    const fetched = await deps.fetchVerified({
      key: state.certIdKey,
      certId: state.certId,
      issuer: state.issuer,
      issuerCert: cert.value,
      now,
    });
    const held = await this.held();
    const accepted = fetched.ok ? this.accept(state, held, fetched.value) : fetched;
    const stillValid = held && isFresh(held, now) ? held : undefined;
    if (accepted.ok) {
      state.failures = 0;
      delete state.lastError;
      this.recentFailure = undefined;
      state.lastStatus = accepted.value.status;
      if (accepted.value.status !== "unknown") state.vouched = true;
      if (accepted.value !== held) {
        await deps.storage.put("answer", accepted.value);
        // A guess's `unknown` stays in the owner (and the isolates' memory): no KV write for it.
        if (worthRefreshing(state)) await this.writeKv(state, accepted.value, now);
      }
      await this.schedule(state, accepted.value, now);
    } else {
      state.failures += 1;
      state.lastError = accepted.error.detail;
      state.lastErrorAt = now;
      this.recentFailure = { until: now + FAILURE_MEMORY_MS, error: accepted.error };
      if (worthRefreshing(state)) {
        const window = stillValid ? windowOf(stillValid) : undefined;
        delete state.forgetAt;
        state.nextAttemptAt = retryAt(state.failures, now, window, deps.schedule);
        await this.save(state);
        await deps.storage.setAlarm(state.nextAttemptAt);
      } else {
        await this.schedule(state, stillValid, now); // no retry: forgotten after its window
      }
      log("refresh.failed", {
        certId: state.certIdKey,
        failures: state.failures,
        ...(state.nextAttemptAt !== undefined && !state.forgetAt
          ? { retryAt: new Date(state.nextAttemptAt).toISOString() }
          : { retry: "none (not worth refreshing)" }),
        detail: state.lastError,
      });
    }
    await this.report(state, now, deps.now() - now, accepted, fetched, stillValid, revokedBefore);
    if (!accepted.ok && stillValid) return ok(stillValid); // a failing CA never evicts
    return accepted;
  }

  private async report(
    state: OwnerState,
    at: number,
    ms: number,
    accepted: Result<CachedAnswer>,
    fetched: Result<CachedAnswer>,
    stillValid: CachedAnswer | undefined,
    revokedBefore: boolean,
  ): Promise<void> {
    if (!this.deps.report) return;
    const a = accepted.ok ? accepted.value : undefined;
    const r: FetchReport = {
      certIdKey: state.certIdKey,
      issuerId: state.issuer.id,
      issuerSubject: state.issuer.subject,
      responderUrl: state.issuer.responderUrl ?? "",
      serial: toHex(state.certId.serialNumber),
      at,
      ms,
      ok: accepted.ok,
      failures: state.failures,
      pinned: state.pinned,
      vouched: Boolean(state.vouched),
      ...(state.watched ? { watched: true } : {}),
      ...(state.forgetAt !== undefined ? { forgetAt: state.forgetAt } : {}),
      ...(state.leaf ? { subject: state.leaf.subject, mustStaple: state.leaf.mustStaple } : {}),
      ...(a
        ? {
            status: a.status,
            thisUpdate: a.thisUpdate,
            nextUpdate: a.nextUpdate,
            serveUntil: a.serveUntil,
            ...(a.revocationTime !== undefined ? { revocationTime: a.revocationTime } : {}),
            ...(a.revocationReason ? { revocationReason: a.revocationReason } : {}),
          }
        : {}),
      ...(!accepted.ok ? { error: accepted.error.detail } : {}),
      ...(!fetched.ok && fetched.error.kind === "tryLater" && fetched.error.reason
        ? { rejectReason: fetched.error.reason }
        : {}),
      ...(!accepted.ok && stillValid ? { heldNextUpdate: stillValid.serveUntil } : {}),
      ...(!revokedBefore && state.revokedSeen ? { revokedFirstSeen: true } : {}),
      ...(fetched.ok && a && fetched.value.status !== a.status ? { inconsistent: true } : {}),
    };
    await this.deps.report(r).catch((e: unknown) =>
      log("ledger.failed", {
        certId: state.certIdKey,
        detail: e instanceof Error ? e.message : String(e),
      }),
    );
  }

  /** The safety rules: which answer stands after a verified fetch. */
  private accept(
    state: OwnerState,
    held: CachedAnswer | undefined,
    fresh: CachedAnswer,
  ): Result<CachedAnswer> {
    const now = this.deps.now();
    if (held && held.thisUpdate > fresh.thisUpdate) {
      log("cache.kept", {
        certId: state.certIdKey,
        reason: "the CA sent an older thisUpdate than the held answer",
      });
      return isFresh(held, now)
        ? ok(held)
        : err({
            kind: "tryLater",
            cause: "rule",
            detail: "the CA sent an answer older than one already seen",
          });
    }
    if (state.revokedSeen && fresh.status !== "revoked") {
      log("ca.inconsistent", {
        level: "error",
        certId: state.certIdKey,
        issuer: state.issuer.id,
        detail: `the CA answered "${fresh.status}" after a validly signed "revoked" (seen ${new Date(state.revokedSeen.seenAt).toISOString()}); not served`,
      });
      return held && held.status === "revoked" && isFresh(held, now)
        ? ok(held)
        : err({
            kind: "tryLater",
            cause: "rule",
            detail: "the CA contradicts an earlier revocation",
          });
    }
    if (fresh.status === "revoked" && !state.revokedSeen) {
      state.revokedSeen = { revocationTime: fresh.revocationTime, seenAt: now };
    }
    return ok(fresh);
  }
}

/** The window an answer is served in: thisUpdate to serveUntil (nextUpdate, sooner for unknown). */
function windowOf(a: CachedAnswer): { thisUpdate: number; nextUpdate: number } {
  return { thisUpdate: a.thisUpdate, nextUpdate: a.serveUntil };
}

/**
 * The window a refresh is planned in: from when the answer was fetched (or its thisUpdate, if
 * later) to serveUntil. A CA serving pre-signed answers already past their midpoint then gets asked
 * again half-way through what is left, not over and over.
 */
function refreshWindow(a: CachedAnswer): { thisUpdate: number; nextUpdate: number } {
  return {
    thisUpdate: Math.max(a.thisUpdate, Math.min(a.fetchedAt, a.serveUntil)),
    nextUpdate: a.serveUntil,
  };
}
