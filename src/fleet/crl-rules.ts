// The CRL rule set over the owners' kernel (fleet/kernel.ts): what the owner of one registered CRL
// does when X happens at time T. It alone fetches the CRL (the host verifies it: crl/verify.ts),
// keeps the newest one that verified (never an older thisUpdate, the CRL number never backwards),
// refreshes it ahead of nextUpdate with the owners' jitter and backoff, never lets a failing CRL
// server evict a CRL still valid, and reports to the ledger the certificates it watches: those
// pinned (admin) or checked by an authenticated caller, while this CRL speaks for them (it is the
// one they name, or complete: issuers/revocation.ts; partitioned CRLs speak for their own only).
// Pure: a step changes the owner in place and returns the effects for its host (fleet/crl-owner.ts).

import type { CrlFacts, RevocationFacts, RevokedTuple } from "../crl/verify.ts";
import { err, ok, type RelayError, type Result } from "../errors.ts";
import {
  CHUNK_ENTRIES,
  MAX_PINNED,
  MAX_WATCHED,
  watching,
  type CrlMeta,
  type CrlOwnerState,
  type CrlReport,
  type CrlRequest,
  type Watched,
} from "./crl-types.ts";
import {
  attempting,
  failed,
  refreshFailed,
  rememberedFailure,
  succeeded,
  type Effect,
  type KernelEvent,
  type Memory,
} from "./kernel.ts";
import { refreshAt, type ScheduleConfig } from "./schedule.ts";

/** What a verified CRL gives its owner: its facts (crl/verify.ts crlFacts), entries sorted. */
export type VerifiedCrl = Omit<CrlFacts, "version">;

/** One CRL's owner as its rules see it: the persisted state and CRL (without entries), its memory. */
export interface CrlOwner {
  state: CrlOwnerState | undefined;
  meta: CrlMeta | undefined;
  memory: Memory;
}

/** A report before the host looks up each watched certificate in the CRL now held. */
export interface CrlReportDraft {
  report: Omit<CrlReport, "certificates">;
  /** The CRL current after this fetch, if any: each watched certificate is looked up in it. */
  current: CrlMeta | undefined;
}

export type CrlEffect = Effect<{ meta: CrlMeta; revoked: RevokedTuple[] }, CrlReportDraft>;

export type CrlEvent =
  | { on: "request"; req: CrlRequest }
  /** The operator unpinned a certificate (DELETE /admin/certificates, or its renewal). */
  | { on: "unpin"; serial: string }
  | KernelEvent<VerifiedCrl>;

export type CrlReply =
  /** Serve this CRL (the host looks the serial up in it). */
  | { serve: CrlMeta }
  | { reply: Result<never> }
  | { join: true }
  | { settled: Result<CrlMeta> }
  /** For "unpin": whether it was pinned here. */
  | { unpinned: boolean };

export interface CrlStep {
  effects: CrlEffect[];
  reply?: CrlReply;
}

export function newCrlOwner(): CrlOwner {
  return { state: undefined, meta: undefined, memory: {} };
}

export function crlStep(
  o: CrlOwner,
  e: CrlEvent,
  now: number,
  random: number,
  schedule: ScheduleConfig,
): CrlStep {
  const effects: CrlEffect[] = [];
  const out = (reply?: CrlReply): CrlStep => (reply ? { effects, reply } : { effects });
  switch (e.on) {
    case "request": {
      const state = remember(o, e.req, now, effects);
      // Recorded before any fetch: a pin made while the CRL cannot be fetched is not lost.
      const recorded = watch(e.req, state, effects);
      if (!recorded.ok) return out({ reply: recorded });
      if (o.meta && now < o.meta.nextUpdate) return out({ serve: o.meta });
      const failure = rememberedFailure(o.memory, now);
      if (failure) return out({ reply: err(failure) });
      // After a failure, a client does not make the relay download the CRL again before the
      // planned retry (up to 14 MiB each time): it gets the last error until then.
      if (state.failures > 0 && state.nextAttemptAt !== undefined && now < state.nextAttemptAt)
        return out({
          reply: err({
            kind: "tryLater",
            detail: `${state.lastError ?? "the CRL could not be fetched"} (next try ${new Date(state.nextAttemptAt).toISOString()})`,
          }),
        });
      effects.push({ do: "fetch" });
      return out({ join: true });
    }
    case "unpin": {
      const pins = o.state?.pins;
      if (!pins?.[e.serial]) return out({ unpinned: false });
      delete pins[e.serial];
      effects.push({ do: "save" });
      return out({ unpinned: true });
    }
    case "alarm": {
      const state = o.state;
      if (!state) return out();
      // Pinned certificates left (not unpinned, not ended) keep the CRL refreshed; else it goes
      // idle like any other once nobody asks.
      const pinned = Object.keys(state.pins ?? {}).length > 0;
      if (!pinned && now - state.lastRequestedAt > schedule.idleAfterMs) {
        effects.push(stopped(state, "idle"));
        return out();
      }
      effects.push({ do: "lookupIssuer" });
      return out();
    }
    case "issuer": {
      const state = o.state;
      if (!state) return out();
      if (!e.issuer || !(e.issuer.crlUrls ?? []).includes(state.url)) {
        effects.push(stopped(state, "no longer registered for its issuer"));
        return out();
      }
      state.issuer = e.issuer;
      effects.push({ do: "fetch" });
      return out();
    }
    case "fetching":
      if (o.state) attempting(o.state, now);
      return out();
    case "fetched":
      return out({ settled: fetched(o, e.result, e.startedAt, now, random, schedule, effects) });
  }
}

function fetched(
  o: CrlOwner,
  result: Result<VerifiedCrl>,
  startedAt: number,
  now: number,
  random: number,
  schedule: ScheduleConfig,
  effects: CrlEffect[],
): Result<CrlMeta> {
  const state = o.state!;
  const held = o.meta;
  const stillValid = held && startedAt < held.nextUpdate ? held : undefined;
  let accepted: Result<CrlMeta>;
  if (!result.ok) accepted = result;
  else if (held && result.value.thisUpdate < held.thisUpdate) {
    effects.push({
      do: "log",
      event: "cache.kept",
      fields: { crl: state.url, reason: "the CA sent an older CRL than the one held" },
    });
    accepted = stillValid ? ok(held) : err(rule("the CA sent a CRL older than one held"));
  } else {
    const crl = result.value;
    const meta: CrlMeta = {
      url: state.url,
      issuerId: state.issuer.id,
      thisUpdate: crl.thisUpdate,
      nextUpdate: crl.nextUpdate,
      number: crl.number,
      signatureAlgorithm: crl.signatureAlgorithm,
      revokedCount: crl.revoked.length,
      chunks: Math.ceil(crl.revoked.length / CHUNK_ENTRIES),
      fetchedAt: startedAt,
      idpUrls: crl.idpUrls,
    };
    o.meta = meta;
    effects.push(
      { do: "keep", held: { meta, revoked: crl.revoked } },
      {
        do: "log",
        event: "upstream.fetch",
        fields: {
          issuer: state.issuer.id,
          crl: state.url,
          number: meta.number,
          revoked: meta.revokedCount,
          nextUpdate: new Date(meta.nextUpdate).toISOString(),
        },
      },
    );
    accepted = ok(meta);
  }
  if (accepted.ok) {
    succeeded(state, o.memory);
    state.nextAttemptAt = refreshAt(
      {
        thisUpdate: Math.max(accepted.value.thisUpdate, startedAt),
        nextUpdate: accepted.value.nextUpdate,
      },
      startedAt,
      random,
      schedule,
    );
  } else {
    const window = stillValid
      ? { thisUpdate: stillValid.thisUpdate, nextUpdate: stillValid.nextUpdate }
      : undefined;
    failed(state, o.memory, accepted.error, startedAt, window, schedule);
    effects.push(refreshFailed({ crl: state.url }, state, true));
  }
  ended(state, startedAt);
  effects.push({ do: "save" }, { do: "alarm", at: state.nextAttemptAt! });
  const current = accepted.ok ? accepted.value : stillValid;
  effects.push({
    do: "report",
    report: {
      current,
      report: {
        url: state.url,
        issuerId: state.issuer.id,
        issuerSubject: state.issuer.subject,
        at: startedAt,
        ms: now - startedAt,
        ok: accepted.ok,
        failures: state.failures,
        ...(current
          ? {
              crl: {
                thisUpdate: current.thisUpdate,
                nextUpdate: current.nextUpdate,
                number: current.number,
              },
            }
          : {}),
        ...(!accepted.ok ? { error: accepted.error.detail } : {}),
        ...(!accepted.ok && accepted.error.kind === "tryLater" && accepted.error.reason
          ? { rejectReason: accepted.error.reason }
          : {}),
      },
    },
  });
  if (!accepted.ok && stillValid) return ok(stillValid); // a failing server never evicts
  return accepted;
}

const rule = (detail: string): RelayError => ({ kind: "tryLater", cause: "rule", detail });

/** Certificates that have ended (their notAfter passed) are watched no more. */
function ended(state: CrlOwnerState, now: number): void {
  for (const list of [state.watched, state.pins ?? {}])
    for (const [serial, leaf] of Object.entries(list))
      if (leaf.notAfter !== undefined && leaf.notAfter <= now) delete list[serial];
}

/** Records a request in the one state object of this owner, changed in place. */
function remember(o: CrlOwner, req: CrlRequest, now: number, effects: CrlEffect[]): CrlOwnerState {
  const state: CrlOwnerState = (o.state ??= {
    url: req.url,
    issuer: req.issuer,
    lastRequestedAt: now,
    fetches: 0,
    failures: 0,
    watched: {},
    allowPrivate: false,
    version: 2,
  });
  state.url = req.url;
  state.issuer = req.issuer;
  state.lastRequestedAt = now;
  state.allowPrivate = req.allowPrivate ?? state.allowPrivate;
  if (req.pin) state.pinned = true;
  effects.push({ do: "save" });
  return state;
}

/**
 * Pins or watches the certificate asked about, when the caller may: a pin (admin) always, in its
 * own bounded list; an authenticated /check in the watch list while it has room (never displacing
 * a pin); an anonymous one never. Whether this CRL speaks for it is judged when it is read
 * (watching), against the CRL then held.
 */
function watch(req: CrlRequest, state: CrlOwnerState, effects: CrlEffect[]): Result<void> {
  if (!req.serial || !req.leaf || !(req.pin || req.watch)) return ok(undefined);
  const entry: Watched = { ...req.leaf, names: Boolean(req.names) };
  const pins = (state.pins ??= {});
  if (req.pin) {
    if (!pins[req.serial] && Object.keys(pins).length >= MAX_PINNED)
      return err({
        kind: "tooLarge",
        detail: `the CRL at ${state.url} already watches ${MAX_PINNED} pinned certificates`,
      });
    pins[req.serial] = entry;
    delete state.watched[req.serial];
  } else if (
    !pins[req.serial] &&
    (state.watched[req.serial] || Object.keys(state.watched).length < MAX_WATCHED)
  ) {
    state.watched[req.serial] = entry;
  }
  effects.push({ do: "save" });
  return ok(undefined);
}

/**
 * Watch lists stored before version 2 were filled by anyone (and a pin could land in another
 * shard's list): dropped when the state is read, not trusted. Pinned certificates are pinned
 * again by registering them again (README, "Certificates without OCSP").
 */
export function upgraded(state: CrlOwnerState): { state: CrlOwnerState; dropped: number } {
  if (state.version === 2) return { state, dropped: 0 };
  const dropped = Object.keys(state.watched ?? {}).length;
  return { state: { ...state, watched: {}, version: 2 }, dropped };
}

function stopped(state: CrlOwnerState, reason: string): CrlEffect {
  return { do: "log", event: "refresh.stopped", fields: { crl: state.url, reason } };
}

/** The certificates a report carries: each watched one this CRL speaks for, with its status. */
export function watchedStatuses(
  state: CrlOwnerState,
  current: CrlMeta,
  lookup: (serial: string) => RevocationFacts | undefined,
): CrlReport["certificates"] {
  const out: CrlReport["certificates"] = [];
  for (const [serial, leaf] of Object.entries({ ...state.watched, ...state.pins })) {
    if (!watching(state, serial, current)) continue;
    const entry = lookup(serial);
    out.push({
      serial,
      subject: leaf.subject,
      mustStaple: leaf.mustStaple,
      status: entry ? "revoked" : "good",
      ...(entry ? { revocationTime: entry.revocationTime } : {}),
      ...(entry?.reason ? { revocationReason: entry.reason } : {}),
    });
  }
  return out;
}
