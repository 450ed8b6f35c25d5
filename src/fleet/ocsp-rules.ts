// The OCSP rule set over the owners' kernel (fleet/kernel.ts): what the owner of one CertID does
// when X happens at time T. It alone fetches from the CA; it refreshes ahead of nextUpdate what
// deserves it (pinned certificates, and CertIDs the CA answered `good` or `revoked` at least once);
// a guess (only `unknown` or failures) spends from the issuer's upstream budget, is never refreshed,
// never published to KV, and is forgotten when its serve window ends. Across time: never an older
// thisUpdate, never `good` after a validly signed `revoked`; a pin trusts only `good` or `revoked`.
// Pure: a step takes the owner, an event, `now` and a random draw, changes the owner in place and
// returns the effects for its host (fleet/owner.ts) to perform.

import { TIER_MAX_AGE_MS } from "../cache/freshness.ts";
import { isFresh, type CachedAnswer } from "../cache/record.ts";
import { err, ok, type RelayError, type Result } from "../errors.ts";
import { relaysOcsp } from "../issuers/revocation.ts";
import {
  attempting,
  failed,
  FAILURE_MEMORY_MS,
  refreshFailed,
  rememberedFailure,
  succeeded,
} from "./kernel.ts";
import type { RetireReason } from "./ledger.ts";
import type {
  OcspEffect,
  OcspEvent,
  OcspOwner,
  OwnerRequest,
  OwnerState,
  Reply,
  Step,
} from "./owner-types.ts";
import { OPEN_POLICY, worthRefreshing } from "./owner-types.ts";
import { report, retired } from "./ocsp-report.ts";
import { refreshAt, refreshWindow, retryAt, type ScheduleConfig } from "./schedule.ts";

/** A touch within at least this long of the last request recorded writes nothing (see "touch"). */
export const TOUCH_WRITE_INTERVAL_MS = 60 * 60 * 1000;

/**
 * How long after the last request recorded a touch writes nothing new: a day short of what the idle
 * limit allows once a location's longest silence (TIER_MAX_AGE_MS) is taken off, and at least an
 * hour. So a certificate still asked for is recorded at most this + 3 days before its owner looks,
 * a day inside the limit, and its touches write about once per this, not once per touch.
 */
export function touchWriteAfter(schedule: ScheduleConfig): number {
  return Math.max(TOUCH_WRITE_INTERVAL_MS, schedule.idleAfterMs - TIER_MAX_AGE_MS - DAY_MS);
}
const DAY_MS = 24 * 60 * 60 * 1000;

export function newOwner(): OcspOwner {
  return { state: undefined, held: undefined, memory: {} };
}

export function step(
  o: OcspOwner,
  e: OcspEvent,
  now: number,
  random: number,
  schedule: ScheduleConfig,
): Step {
  const effects: OcspEffect[] = [];
  const out = (reply?: Reply): Step => (reply ? { effects, reply } : { effects });
  switch (e.on) {
    case "request": {
      const policy = e.req.policy ?? OPEN_POLICY;
      const wasPinned = Boolean(o.state?.pinned);
      const pinned = wasPinned || Boolean(e.req.pin);
      if (policy.access === "registered" && !pinned)
        return out({
          reply: err({
            kind: "unauthorized",
            cause: "registeredOnly",
            detail: "this relay answers only for registered certificates (OCSP_ACCESS=registered)",
          }),
        });
      // A pin trusts only what the CA vouched for: an `unknown` held (maybe asked for before the
      // certificate was issued, by anyone) is fetched again for it.
      const trusted = o.held && !(e.req.pin && o.held.status === "unknown") ? o.held : undefined;
      if (trusted && isFresh(trusted, now)) {
        const state = remember(o, e.req, now, effects);
        if (pinned && !wasPinned) {
          // Newly pinned: refreshed from now on, and readable from KV like every pinned answer.
          plan(state, trusted, now, random, schedule, effects);
          effects.push({ do: "publish", held: trusted });
        }
        return out({ reply: ok({ answer: trusted, fetched: false }) });
      }
      const failure = rememberedFailure(o.memory, now);
      if (failure) return out({ reply: err(failure) });
      const guess = !worthRefreshing({ pinned, vouched: o.state?.vouched, access: policy.access });
      if (guess && !e.fetching) return out({ spend: true });
      remember(o, e.req, now, effects);
      effects.push({ do: "fetch" });
      // A pin that joins a fetch already started is in the state that fetch writes back (the same
      // object), so the refresh schedule and the KV write follow from it.
      return out({ join: true });
    }
    case "admitted": {
      if (!e.admitted) {
        // (The host logs upstream.budget_exceeded once per token refused.)
        return out({
          reply: err({
            kind: "tryLater",
            cause: "budget",
            detail:
              "the issuer's upstream budget for certificates nobody registered is spent; try later",
          }),
        });
      }
      // While the budget answered, a request that shared the token may have fetched already.
      if (!e.fetching && o.held && isFresh(o.held, now)) {
        remember(o, e.req, e.requestedAt, effects);
        return out({
          reply: ok({ answer: o.held, fetched: o.held.fetchedAt >= e.requestedAt }),
        });
      }
      remember(o, e.req, e.requestedAt, effects);
      effects.push({ do: "fetch" });
      return out({ join: true });
    }
    case "touch": {
      const state = o.state;
      // Nothing here (forgotten, or never fetched) or not worth refreshing: a touch revives nothing.
      if (!state || !worthRefreshing(state)) return out();
      // An ended certificate (its notAfter passed) is not revived: nothing is refreshed for it.
      const ended = state.leaf?.notAfter;
      if (ended !== undefined && now >= ended) return out();
      // Heard of recently enough and nothing new to keep (a first watch, a changed leaf): no
      // storage write (touchWriteAfter: 3 days with the default 7-day idle limit).
      const recent = now - state.lastRequestedAt < touchWriteAfter(schedule);
      const news =
        (e.req.watch && !state.watched) ||
        (e.req.leaf && JSON.stringify(e.req.leaf) !== JSON.stringify(state.leaf));
      if (!news && state.pinned) {
        // Pinned, it never goes idle: when it was last asked for decides nothing until an unpin
        // (which restarts its idle clock), so it is noted in memory only and stored by the next
        // refresh's save. The alarm is checked (set if none) as an unpinned one's touch does.
        state.lastRequestedAt = now;
        if (!recent) effects.push({ do: "alarm", at: now, ifNone: true });
        return out();
      }
      if (recent && !news) return out();
      remember(o, e.req, now, effects);
      effects.push({ do: "alarm", at: now, ifNone: true });
      return out();
    }
    case "unpin": {
      const state = o.state;
      if (!state?.pinned) return out({ unpinned: false });
      // Retired by the operator: neither pinned nor watched (no more alerts for it). Its idle clock
      // starts now: a full IDLE_REFRESH period to show whether clients still ask (a pinned one's
      // touches are not stored: after an eviction the time known may be long past).
      state.pinned = false;
      delete state.watched;
      state.lastRequestedAt = now;
      // Refreshed from now on only while clients ask (or, never vouched for, forgotten).
      if (!worthRefreshing(state)) plan(state, o.held, now, random, schedule, effects);
      else effects.push({ do: "save" });
      retire(state, "unpinned", now, effects);
      return out({ unpinned: true });
    }
    case "alarm":
      return out(alarm(o, now, schedule, effects));
    case "issuer": {
      const state = o.state;
      if (!state) return out();
      if (!e.issuer || !relaysOcsp(e.issuer)) {
        const reason = e.issuer
          ? "the issuer has no OCSP responder now"
          : "issuer no longer registered";
        effects.push(stopped(state, reason));
        return out();
      }
      state.issuer = e.issuer; // a re-registration may have changed the responder URL
      effects.push({ do: "fetch" });
      return out();
    }
    case "fetching": {
      if (!o.state) return out();
      attempting(o.state, now);
      o.memory.revokedBefore = Boolean(o.state.revokedSeen);
      return out();
    }
    case "fetched":
      return out({ settled: fetched(o, e.result, e.startedAt, now, random, schedule, effects) });
  }
}

/** The scheduled refresh (or retry), or the end of a guessed CertID's window. */
function alarm(
  o: OcspOwner,
  now: number,
  schedule: ScheduleConfig,
  effects: OcspEffect[],
): Reply | undefined {
  const state = o.state;
  if (!state) return undefined;
  if (!worthRefreshing(state)) {
    const at = state.forgetAt ?? now;
    if (now >= at) forget(o, "not worth refreshing, window over", effects);
    else effects.push({ do: "alarm", at });
    return undefined;
  }
  const ended = state.leaf?.notAfter;
  if (ended !== undefined && now >= ended) {
    // The certificate has ended (its notAfter passed): nobody can use an answer for it any more,
    // pinned or not. Nothing is kept of it, but for a revocation seen.
    if (state.revokedSeen) effects.push(stopped(state, "the certificate has expired"));
    else forget(o, "the certificate has expired", effects);
    retire(state, "ended", now, effects);
    return undefined;
  }
  if (now - state.lastRequestedAt > schedule.idleAfterMs && !state.pinned) {
    // Nobody asked for IDLE_REFRESH_SECONDS and nobody registered it: refresh stops, and nothing
    // is kept of it, but for a revocation seen (the rule that no later `good` is served).
    if (state.revokedSeen) effects.push(stopped(state, "idle"));
    else forget(o, "idle", effects);
    retire(state, "idle", now, effects);
    return undefined;
  }
  effects.push({ do: "lookupIssuer" });
  return undefined;
}

/** A verified answer (or a failure) from the CA: which answer stands, and what comes next. */
function fetched(
  o: OcspOwner,
  result: Result<CachedAnswer>,
  startedAt: number,
  now: number,
  random: number,
  schedule: ScheduleConfig,
  effects: OcspEffect[],
): Result<CachedAnswer> {
  const state = o.state!;
  const held = o.held;
  const accepted = result.ok ? accept(state, held, result.value, now, effects) : result;
  const stillValid = held && isFresh(held, startedAt) ? held : undefined;
  if (accepted.ok) {
    succeeded(state, o.memory);
    state.lastStatus = accepted.value.status;
    if (accepted.value.status !== "unknown") state.vouched = true;
    const changed = accepted.value !== held;
    o.held = accepted.value; // stored with the state by plan's save, before any KV write
    plan(state, accepted.value, startedAt, random, schedule, effects);
    // A guess's `unknown` stays in the owner (and the isolates' memory): no KV write for it.
    if (changed && worthRefreshing(state)) effects.push({ do: "publish", held: accepted.value });
  } else {
    const window = stillValid
      ? { thisUpdate: stillValid.thisUpdate, nextUpdate: stillValid.serveUntil }
      : undefined;
    failed(state, o.memory, accepted.error, startedAt, window, schedule);
    if (worthRefreshing(state)) {
      delete state.forgetAt;
      untilEnd(state, startedAt);
      effects.push({ do: "save" }, { do: "alarm", at: state.nextAttemptAt! });
    } else {
      plan(state, stillValid, startedAt, random, schedule, effects); // no retry: forgotten later
    }
    effects.push(refreshFailed({ certId: state.certIdKey }, state, worthRefreshing(state)));
  }
  effects.push({
    do: "report",
    report: report(o, startedAt, now - startedAt, accepted, result, stillValid),
  });
  if (!accepted.ok && stillValid) return ok(stillValid); // a failing CA never evicts
  return accepted;
}

/** The safety rules across time: which answer stands after a verified fetch. */
function accept(
  state: OwnerState,
  held: CachedAnswer | undefined,
  fresh: CachedAnswer,
  now: number,
  effects: OcspEffect[],
): Result<CachedAnswer> {
  if (held && held.thisUpdate > fresh.thisUpdate) {
    effects.push({
      do: "log",
      event: "cache.kept",
      fields: {
        certId: state.certIdKey,
        reason: "the CA sent an older thisUpdate than the held answer",
      },
    });
    return isFresh(held, now)
      ? ok(held)
      : err(rule("the CA sent an answer older than one already seen"));
  }
  if (state.revokedSeen && fresh.status !== "revoked") {
    effects.push({
      do: "log",
      event: "ca.inconsistent",
      fields: {
        level: "error",
        certId: state.certIdKey,
        issuer: state.issuer.id,
        detail: `the CA answered "${fresh.status}" after a validly signed "revoked" (seen ${new Date(state.revokedSeen.seenAt).toISOString()}); not served`,
      },
    });
    return held && held.status === "revoked" && isFresh(held, now)
      ? ok(held)
      : err(rule("the CA contradicts an earlier revocation"));
  }
  if (fresh.status === "revoked" && !state.revokedSeen) {
    state.revokedSeen = { revocationTime: fresh.revocationTime, seenAt: now };
  }
  return ok(fresh);
}

const rule = (detail: string): RelayError => ({ kind: "tryLater", cause: "rule", detail });

/** Plans the next alarm from what is held: a refresh, a retry, or forgetting a guess. */
function plan(
  state: OwnerState,
  held: CachedAnswer | undefined,
  now: number,
  random: number,
  schedule: ScheduleConfig,
  effects: OcspEffect[],
): void {
  if (!worthRefreshing(state)) {
    state.forgetAt = Math.max(
      now + FAILURE_MEMORY_MS,
      held ? held.serveUntil : now + schedule.unknownMaxAgeMs,
    );
    delete state.nextAttemptAt;
    effects.push({ do: "save" }, { do: "alarm", at: state.forgetAt });
    return;
  }
  delete state.forgetAt;
  state.nextAttemptAt = held
    ? refreshAt(refreshWindow(held), now, random, schedule)
    : retryAt(Math.max(1, state.failures), now, undefined, schedule);
  untilEnd(state, now);
  effects.push({ do: "save" }, { do: "alarm", at: state.nextAttemptAt });
}

/**
 * Records a request in the one state object of this owner, changed in place: a refresh awaiting
 * the CA holds the same object, so what a request records meanwhile (a pin, the leaf) is in what
 * the refresh writes back.
 */
function remember(o: OcspOwner, req: OwnerRequest, now: number, effects: OcspEffect[]): OwnerState {
  const state: OwnerState = (o.state ??= {
    failures: 0,
    fetches: 0,
    certIdKey: req.certIdKey,
    certId: req.certId,
    issuer: req.issuer,
    pinned: false,
    lastRequestedAt: now,
  });
  state.certIdKey = req.certIdKey;
  state.certId = req.certId;
  state.issuer = req.issuer;
  state.pinned = Boolean(state.pinned || req.pin);
  if (req.watch) state.watched = true;
  if (req.leaf) state.leaf = req.leaf;
  state.access = req.policy?.access ?? state.access ?? "open";
  state.lastRequestedAt = now;
  effects.push({ do: "save" });
  return state;
}

/** No refresh or retry after the certificate ends: the alarm then is its end (alarm() stops). */
function untilEnd(state: OwnerState, now: number): void {
  const ended = state.leaf?.notAfter;
  if (ended !== undefined && state.nextAttemptAt !== undefined && ended < state.nextAttemptAt)
    state.nextAttemptAt = Math.max(ended, now);
}

/** Deletes the owner's storage and alarm: a guessed CertID leaves nothing behind. */
function forget(o: OcspOwner, reason: string, effects: OcspEffect[]): void {
  const certId = o.state?.certIdKey;
  o.state = undefined;
  o.held = undefined;
  o.memory = {};
  effects.push(
    { do: "forget" },
    { do: "log", event: "owner.forgotten", fields: { certId, reason } },
  );
}

/**
 * Tells the ledger the owner let the certificate go, once per event (an unpin, the alarm that
 * forgets it): its row goes, or says unpinned. Not when no fetch was ever made (every fetch is
 * reported: the ledger has no row), nor at the end of a guess's window: the ledger drops that
 * row at the `forgetAt` it was sent, so anonymous traffic makes no ledger request beyond its
 * fetches' own (and a vouched certificate's idle end, one per owner life, each begun by a fetch).
 */
function retire(state: OwnerState, reason: RetireReason, now: number, effects: OcspEffect[]) {
  if (state.fetches > 0) effects.push({ do: "report", report: retired(state, reason, now) });
}

function stopped(state: OwnerState, reason: string): OcspEffect {
  return { do: "log", event: "refresh.stopped", fields: { certId: state.certIdKey, reason } };
}
