// The owner of one CRL, fleet-wide (run inside the CrlOwner Durable Object, one per registered
// issuer and CRL URL, as CertOwner is per CertID): it alone fetches the CRL, believes it only once
// verified (crl/verify.ts: signed by the registered issuer, times, CRL number never going back,
// extensions, scope), keeps the revoked serials in its storage (in chunks, sorted: a lookup never
// re-parses the CRL), and refreshes it ahead of nextUpdate with the owners' jitter and backoff. A
// CRL that fails never evicts the one held while that is still valid. Clock, randomness and the
// fetch are injected.

import { err, ok, type RelayError, type Result } from "../errors.ts";
import type { IssuerRecord } from "../issuers/issuer.ts";
import { log } from "../log.ts";
import { fromBase64 } from "../ocsp/bytes.ts";
import { parseCertificate } from "../ocsp/certificate.ts";
import {
  crlFacts,
  lookupSerial,
  verifyCrl,
  type RevocationFacts,
  type RevokedTuple,
} from "../crl/verify.ts";
import type { LeafInfo } from "../sources/source.ts";
import { refreshAt, retryAt, type ScheduleConfig } from "./schedule.ts";

/** Revoked entries per storage value (a 50 000-entry CRL is 25 values of ~100 KB). */
export const CHUNK_ENTRIES = 2_000;
/**
 * Certificates checked by authenticated callers of /check whose status this owner reports to the
 * ledger on each new CRL (first come; they never displace a pinned one, which has its own list).
 */
export const MAX_WATCHED = 1_000;
/** Certificates pinned through the admin API that this owner reports (a pin beyond is refused). */
export const MAX_PINNED = 10_000;
/** A failure with nothing valid held is remembered this long before the CRL is fetched again. */
export const CRL_FAILURE_MEMORY_MS = 3_000;

export interface CrlOwnerStorage {
  get<T>(key: string): Promise<T | undefined>;
  put<T>(key: string, value: T): Promise<void>;
  delete(key: string): Promise<boolean>;
  setAlarm(scheduledTime: number): Promise<void>;
}

/** What a caller asks: the CRL at `url` of `issuer`, and optionally one serial's status in it. */
export interface CrlRequest {
  url: string;
  issuer: IssuerRecord;
  /** serialHex of the certificate asked about. */
  serial?: string;
  /** The certificate itself, when a client sent it (a pin, /check). */
  leaf?: LeafInfo;
  /**
   * The certificate names this CRL (its CRL distribution point). Only then, or when the CRL is
   * complete for its issuer, is the certificate pinned or watched here (issuers/revocation.ts).
   */
  names?: boolean;
  /** An authenticated caller of /check: the certificate is watched (alerts, /status rows). */
  watch?: boolean;
  /** ALLOW_PRIVATE_RESPONDERS of the worker asking (never a client's). */
  allowPrivate?: boolean;
  /** Registered through the admin API: refreshed even when nobody asks, the leaf always watched. */
  pin?: boolean;
}

/** The held CRL, without its entries. */
export interface CrlMeta {
  url: string;
  issuerId: string;
  thisUpdate: number;
  nextUpdate: number;
  /** cRLNumber in decimal, or null. */
  number: string | null;
  signatureAlgorithm: string;
  revokedCount: number;
  chunks: number;
  fetchedAt: number;
  /**
   * The URLs its issuingDistributionPoint names: empty for a CRL complete for its issuer.
   * Undefined in metas stored before it was kept: not taken as complete until the next fetch.
   */
  idpUrls?: string[];
}

/** The CRL covers every certificate of its issuer (RFC 5280 §5.2.5: no IDP distribution point). */
export function isComplete(meta: Pick<CrlMeta, "idpUrls">): boolean {
  return meta.idpUrls !== undefined && meta.idpUrls.length === 0;
}

export interface CrlOwnerState {
  url: string;
  issuer: IssuerRecord;
  lastRequestedAt: number;
  fetches: number;
  failures: number;
  lastFetchAt?: number;
  lastError?: string;
  lastErrorAt?: number;
  nextAttemptAt?: number;
  /**
   * serialHex → the certificate, for the ledger's rows and the revocation alert: checked by an
   * authenticated caller (bounded by MAX_WATCHED). Reported only while this CRL speaks for it.
   */
  watched: Record<string, Watched>;
  /** serialHex → the certificate, pinned through the admin API (bounded by MAX_PINNED). */
  pins?: Record<string, Watched>;
  /**
   * 2: the watch lists hold only what the rule of issuers/revocation.ts lets in. Absent (stored
   * before): `watched` may hold anonymous checks and pins of other shards, and is dropped.
   */
  version?: 2;
  /** Whether the CRL URL may be private (the worker's setting at the last request). */
  allowPrivate: boolean;
  /** A certificate was registered with it: it never goes idle. */
  pinned?: boolean;
}

/** A certificate a CRL owner reports, and whether it names this CRL (its CRL distribution point). */
export interface Watched extends LeafInfo {
  names: boolean;
}

export interface CrlStatus {
  crl: CrlMeta;
  /** The serial is pinned or watched here, and this CRL speaks for it. */
  watches: boolean;
  /** The serial's entry, when it is listed (revoked); undefined: not listed (good). */
  revoked: RevocationFacts | undefined;
  /** Whether the CRL was fetched for this request. */
  fetched: boolean;
}

/** What the owner tells the fleet ledger after each fetch (metrics, /status, alerts). */
export interface CrlReport {
  url: string;
  issuerId: string;
  issuerSubject: string;
  at: number;
  ms: number;
  ok: boolean;
  failures: number;
  error?: string;
  rejectReason?: string;
  crl?: Pick<CrlMeta, "thisUpdate" | "nextUpdate" | "number">;
  /** Each watched certificate's status in the CRL now held (when one is valid). */
  certificates: {
    serial: string;
    subject: string;
    mustStaple: boolean;
    status: "good" | "revoked";
    revocationTime?: number;
    revocationReason?: string;
  }[];
}

export interface CrlOwnerDeps {
  storage: CrlOwnerStorage;
  /** GETs the CRL (bounded in time and size; the URL checked against the no-open-proxy rules). */
  fetchCrl: (url: string, allowPrivate: boolean) => Promise<Result<Uint8Array, string>>;
  /** The issuer as registered now (undefined once deleted: refresh stops). */
  currentIssuer: (issuerId: string) => Promise<IssuerRecord | undefined>;
  now: () => number;
  random: () => number;
  schedule: ScheduleConfig;
  report?: (report: CrlReport) => Promise<void>;
}

export class CrlOwnerLogic {
  private inflight: Promise<Result<CrlMeta>> | undefined;
  private recentFailure: { until: number; error: RelayError } | undefined;
  /** The held entries, read from storage once per object life. */
  private entries: { fetchedAt: number; revoked: RevokedTuple[] } | undefined;

  constructor(private readonly deps: CrlOwnerDeps) {}

  /** The CRL held (fetched now when none is valid) and the serial's entry in it. */
  async status(req: CrlRequest): Promise<Result<CrlStatus>> {
    const now = this.deps.now();
    const state = await this.remember(req, now);
    // Recorded before any fetch: a pin made while the CRL cannot be fetched is not lost.
    const recorded = await this.watch(req, state);
    if (!recorded.ok) return recorded;
    let meta = await this.meta();
    let fetched = false;
    if (!meta || now >= meta.nextUpdate) {
      if (this.recentFailure && this.recentFailure.until > now)
        return err(this.recentFailure.error);
      // After a failure, a client does not make the relay download the CRL again before the
      // planned retry (up to 14 MiB each time): it gets the last error until then.
      if (state.failures > 0 && state.nextAttemptAt !== undefined && now < state.nextAttemptAt) {
        return err({
          kind: "tryLater",
          detail: `${state.lastError ?? "the CRL could not be fetched"} (next try ${new Date(state.nextAttemptAt).toISOString()})`,
        });
      }
      const result = await this.fetchOnce(state);
      if (!result.ok) return result;
      meta = result.value;
      fetched = meta.fetchedAt >= now;
    }
    return ok({
      crl: meta,
      revoked: await this.lookup(meta, req.serial),
      fetched,
      watches: req.serial !== undefined && watching(state, req.serial, meta),
    });
  }

  /** What is held, never fetching (GET /check). */
  async inspect(serial?: string): Promise<CrlInspection> {
    const meta = await this.meta();
    const state = await this.state();
    return {
      state,
      crl: meta,
      revoked: meta ? await this.lookup(meta, serial) : undefined,
      watches:
        serial !== undefined && state !== undefined && meta !== undefined
          ? watching(state, serial, meta)
          : false,
    };
  }

  /** The scheduled refresh (or retry). */
  async alarm(): Promise<void> {
    const state = await this.state();
    if (!state) return;
    const now = this.deps.now();
    if (!state.pinned && now - state.lastRequestedAt > this.deps.schedule.idleAfterMs) {
      log("refresh.stopped", { crl: state.url, reason: "idle" });
      return;
    }
    const issuer = await this.deps.currentIssuer(state.issuer.id);
    if (!issuer || !(issuer.crlUrls ?? []).includes(state.url)) {
      log("refresh.stopped", { crl: state.url, reason: "no longer registered for its issuer" });
      return;
    }
    state.issuer = issuer;
    await this.fetchOnce(state);
  }

  async state(): Promise<CrlOwnerState | undefined> {
    const state = await this.deps.storage.get<CrlOwnerState>("state");
    if (state && state.version !== 2) {
      // Watch lists stored before version 2 were filled by anyone (and pins could land in another
      // shard's list): dropped, not trusted. Pinned certificates are pinned again by registering
      // them again (README, "Certificates without OCSP").
      const dropped = Object.keys(state.watched ?? {}).length;
      if (dropped > 0) log("crl.watch_reset", { crl: state.url, dropped });
      state.watched = {};
      state.version = 2;
    }
    return state;
  }

  meta(): Promise<CrlMeta | undefined> {
    return this.deps.storage.get<CrlMeta>("meta");
  }

  /**
   * Pins or watches the certificate asked about, when the caller may: a pin (admin) always, in its
   * own bounded list; an authenticated /check in the watch list while it has room (never
   * displacing a pin); an anonymous one never. Whether this CRL speaks for it is judged when it
   * is read (watching), against the CRL then held.
   */
  private async watch(req: CrlRequest, state: CrlOwnerState): Promise<Result<void>> {
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
    } else {
      return ok(undefined);
    }
    await this.deps.storage.put("state", state);
    return ok(undefined);
  }

  private async remember(req: CrlRequest, now: number): Promise<CrlOwnerState> {
    const prev = await this.state();
    const state: CrlOwnerState = {
      fetches: 0,
      failures: 0,
      ...prev,
      url: req.url,
      issuer: req.issuer,
      lastRequestedAt: now,
      watched: prev?.watched ?? {},
      version: 2,
      allowPrivate: req.allowPrivate ?? prev?.allowPrivate ?? false,
      ...(req.pin || prev?.pinned ? { pinned: true } : {}),
    };
    await this.deps.storage.put("state", state);
    return state;
  }

  private async lookup(meta: CrlMeta, serial: string | undefined) {
    if (!serial) return undefined;
    if (!this.entries || this.entries.fetchedAt !== meta.fetchedAt) {
      const revoked: RevokedTuple[] = [];
      for (let i = 0; i < meta.chunks; i++) {
        revoked.push(...((await this.deps.storage.get<RevokedTuple[]>(`chunk:${i}`)) ?? []));
      }
      this.entries = { fetchedAt: meta.fetchedAt, revoked };
    }
    return lookupSerial(this.entries, serial);
  }

  private fetchOnce(state: CrlOwnerState): Promise<Result<CrlMeta>> {
    this.inflight ??= this.refresh(state).finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  private async refresh(state: CrlOwnerState): Promise<Result<CrlMeta>> {
    const { deps } = this;
    const now = deps.now();
    const held = await this.meta();
    const stillValid = held && now < held.nextUpdate ? held : undefined;
    state.fetches += 1;
    state.lastFetchAt = now;
    const accepted = await this.fetchAndVerify(state, held, now);
    const ms = deps.now() - now;
    if (accepted.ok) {
      state.failures = 0;
      delete state.lastError;
      this.recentFailure = undefined;
      state.nextAttemptAt = refreshAt(
        {
          thisUpdate: Math.max(accepted.value.thisUpdate, now),
          nextUpdate: accepted.value.nextUpdate,
        },
        now,
        deps.random(),
        deps.schedule,
      );
    } else {
      state.failures += 1;
      state.lastError = accepted.error.detail;
      state.lastErrorAt = now;
      this.recentFailure = { until: now + CRL_FAILURE_MEMORY_MS, error: accepted.error };
      const window = stillValid
        ? { thisUpdate: stillValid.thisUpdate, nextUpdate: stillValid.nextUpdate }
        : undefined;
      state.nextAttemptAt = retryAt(state.failures, now, window, deps.schedule);
      log("refresh.failed", {
        crl: state.url,
        failures: state.failures,
        retryAt: new Date(state.nextAttemptAt).toISOString(),
        detail: state.lastError,
      });
    }
    await deps.storage.put("state", state);
    await deps.storage.setAlarm(state.nextAttemptAt);
    const current = accepted.ok ? accepted.value : stillValid;
    await this.report(state, now, ms, accepted, current);
    if (!accepted.ok && stillValid) return ok(stillValid); // a failing CA never evicts
    return accepted;
  }

  private async fetchAndVerify(
    state: CrlOwnerState,
    held: CrlMeta | undefined,
    now: number,
  ): Promise<Result<CrlMeta>> {
    const issuerCert = parseCertificate(fromBase64(state.issuer.certificate) ?? new Uint8Array());
    if (!issuerCert.ok)
      return err({
        kind: "internal",
        detail: `stored issuer unreadable: ${issuerCert.error.detail}`,
      });
    const body = await this.deps.fetchCrl(state.url, state.allowPrivate);
    if (!body.ok) {
      log("upstream.error", { issuer: state.issuer.id, crl: state.url, detail: body.error });
      return err({
        kind: "tryLater",
        cause: "upstream",
        detail: `the CRL at ${state.url} could not be fetched: ${body.error}`,
      });
    }
    const verdict = await verifyCrl({
      crl: body.value,
      issuer: issuerCert.value,
      now: new Date(now),
      expectedUrl: state.url,
      ...(held?.number != null ? { previousNumber: BigInt(held.number) } : {}),
    });
    if (!verdict.ok) {
      log("upstream.rejected", {
        issuer: state.issuer.id,
        crl: state.url,
        reason: verdict.reason,
        detail: verdict.detail,
      });
      return err({
        kind: "tryLater",
        cause: "rejected",
        reason: verdict.reason,
        detail: `the CRL at ${state.url} was rejected: ${verdict.reason}: ${verdict.detail}`,
      });
    }
    const facts = crlFacts(verdict);
    if (held && facts.thisUpdate < held.thisUpdate) {
      log("cache.kept", { crl: state.url, reason: "the CA sent an older CRL than the one held" });
      return now < held.nextUpdate
        ? ok(held)
        : err({ kind: "tryLater", cause: "rule", detail: "the CA sent a CRL older than one held" });
    }
    const meta: CrlMeta = {
      url: state.url,
      issuerId: state.issuer.id,
      thisUpdate: facts.thisUpdate,
      nextUpdate: facts.nextUpdate,
      number: facts.number,
      signatureAlgorithm: facts.signatureAlgorithm,
      revokedCount: facts.revoked.length,
      chunks: Math.ceil(facts.revoked.length / CHUNK_ENTRIES),
      fetchedAt: now,
      idpUrls: facts.idpUrls,
    };
    for (let i = 0; i < meta.chunks; i++) {
      await this.deps.storage.put(
        `chunk:${i}`,
        facts.revoked.slice(i * CHUNK_ENTRIES, (i + 1) * CHUNK_ENTRIES),
      );
    }
    for (let i = meta.chunks; i < (held?.chunks ?? 0); i++)
      await this.deps.storage.delete(`chunk:${i}`);
    await this.deps.storage.put("meta", meta);
    this.entries = { fetchedAt: now, revoked: facts.revoked };
    log("upstream.fetch", {
      issuer: state.issuer.id,
      crl: state.url,
      number: meta.number,
      revoked: meta.revokedCount,
      nextUpdate: new Date(meta.nextUpdate).toISOString(),
    });
    return ok(meta);
  }

  private async report(
    state: CrlOwnerState,
    at: number,
    ms: number,
    accepted: Result<CrlMeta>,
    current: CrlMeta | undefined,
  ): Promise<void> {
    if (!this.deps.report) return;
    const certificates: CrlReport["certificates"] = [];
    if (current) {
      for (const [serial, leaf] of Object.entries({ ...state.watched, ...state.pins })) {
        if (!watching(state, serial, current)) continue;
        const entry = await this.lookup(current, serial);
        certificates.push({
          serial,
          subject: leaf.subject,
          mustStaple: leaf.mustStaple,
          status: entry ? "revoked" : "good",
          ...(entry ? { revocationTime: entry.revocationTime } : {}),
          ...(entry?.reason ? { revocationReason: entry.reason } : {}),
        });
      }
    }
    const r: CrlReport = {
      url: state.url,
      issuerId: state.issuer.id,
      issuerSubject: state.issuer.subject,
      at,
      ms,
      ok: accepted.ok,
      failures: state.failures,
      certificates,
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
    };
    await this.deps.report(r).catch((e: unknown) =>
      log("ledger.failed", {
        crl: state.url,
        detail: e instanceof Error ? e.message : String(e),
      }),
    );
  }
}

export interface CrlInspection {
  state: CrlOwnerState | undefined;
  crl: CrlMeta | undefined;
  revoked: RevocationFacts | undefined;
  /** The serial is pinned or watched here. */
  watches: boolean;
}

/** The serial is pinned or watched here and `meta`'s CRL speaks for it (revocation.ts's rule). */
function watching(state: CrlOwnerState, serial: string, meta: CrlMeta): boolean {
  const entry = state.pins?.[serial] ?? state.watched[serial];
  return entry !== undefined && (entry.names || isComplete(meta));
}
