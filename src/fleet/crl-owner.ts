// The host of one registered CRL's owner (run inside the CrlOwner Durable Object, one per issuer
// and CRL URL, as CertOwner is per CertID): it holds the one in-place owner (fleet/crl-rules.ts
// decides everything), runs one fetch at a time, verifies what the CRL server sends
// (crl/verify.ts: signed by the registered issuer, times, CRL number, extensions, scope), keeps the
// revoked serials in its storage in sorted chunks (a lookup never re-parses the CRL), and performs
// each step's effects; the ledger hears after the reply. Clock, randomness and the fetch are
// injected.

import {
  crlFacts,
  lookupSerial,
  verifyCrl,
  type RevocationFacts,
  type RevokedTuple,
} from "../crl/verify.ts";
import { err, ok, type Result } from "../errors.ts";
import { log } from "../log.ts";
import { fromBase64 } from "../ocsp/bytes.ts";
import { parseCertificate } from "../ocsp/certificate.ts";
import {
  crlStep,
  newCrlOwner,
  upgraded,
  watchedStatuses,
  type CrlEffect,
  type CrlEvent,
  type CrlOwner,
  type CrlReply,
  type CrlReportDraft,
  type VerifiedCrl,
} from "./crl-rules.ts";
import {
  CHUNK_ENTRIES,
  watching,
  type CrlInspection,
  type CrlMeta,
  type CrlOwnerState,
  type CrlReport,
  type CrlRequest,
  type CrlStatus,
} from "./crl-types.ts";
import { message, Runner, type RunnerDeps } from "./runner.ts";

export * from "./crl-types.ts";
export { FAILURE_MEMORY_MS as CRL_FAILURE_MEMORY_MS } from "./kernel.ts";

export interface CrlOwnerStorage {
  get<T>(key: string): Promise<T | undefined>;
  put<T>(key: string, value: T): Promise<void>;
  delete(key: string): Promise<boolean>;
  setAlarm(scheduledTime: number): Promise<void>;
}

export interface CrlOwnerDeps extends RunnerDeps {
  storage: CrlOwnerStorage;
  /** GETs the CRL (bounded in time and size; the URL checked against the no-open-proxy rules). */
  fetchCrl: (url: string, allowPrivate: boolean) => Promise<Result<Uint8Array, string>>;
  report?: (report: CrlReport) => Promise<void>;
}

export class CrlOwnerLogic extends Runner<
  CrlOwner,
  { meta: CrlMeta; revoked: RevokedTuple[] },
  CrlReportDraft,
  CrlEvent,
  CrlReply,
  CrlMeta
> {
  /** The held entries, read from storage once per CRL held. */
  private entries: { fetchedAt: number; revoked: RevokedTuple[] } | undefined;

  constructor(private readonly deps: CrlOwnerDeps) {
    super(deps, deps.storage);
  }

  /** The CRL held (fetched now when none is valid) and the serial's entry in it. */
  async status(req: CrlRequest): Promise<Result<CrlStatus>> {
    const o = await this.load();
    const now = this.now();
    const { reply, fetch } = await this.run(o, { on: "request", req }, now);
    if (reply && "reply" in reply) return reply.reply;
    let meta: CrlMeta;
    let fetched = false;
    if (reply && "serve" in reply) meta = reply.serve;
    else {
      const result = await fetch!;
      if (!result.ok) return result;
      meta = result.value;
      fetched = meta.fetchedAt >= now;
    }
    return ok({
      crl: meta,
      revoked: await this.lookup(meta, req.serial),
      fetched,
      watches: watches(o.state, req.serial, meta),
    });
  }

  /** What is held, never fetching (GET /check). */
  async inspect(serial?: string): Promise<CrlInspection> {
    const { state, meta } = await this.load();
    return {
      state,
      crl: meta,
      revoked: meta ? await this.lookup(meta, serial) : undefined,
      watches: meta ? watches(state, serial, meta) : false,
    };
  }

  /** The operator unpinned a certificate: no longer watched here; false: it was not pinned. */
  async unpin(serial: string): Promise<boolean> {
    const { reply } = await this.run(await this.load(), { on: "unpin", serial }, this.now());
    return Boolean(reply && "unpinned" in reply && reply.unpinned);
  }

  /** The scheduled refresh (or retry). */
  async alarm(): Promise<void> {
    await this.alarmed(async () => {
      const { fetch } = await this.run(await this.load(), { on: "alarm" }, this.now());
      if (fetch) await fetch;
    });
  }

  async state(): Promise<CrlOwnerState | undefined> {
    return (await this.load()).state;
  }

  async meta(): Promise<CrlMeta | undefined> {
    return (await this.load()).meta;
  }

  protected async read(): Promise<CrlOwner> {
    const o = newCrlOwner();
    const stored = await this.deps.storage.get<CrlOwnerState>("state");
    if (stored) {
      const { state, dropped } = upgraded(stored);
      if (dropped > 0) log("crl.watch_reset", { crl: state.url, dropped });
      o.state = state;
    }
    o.meta = await this.deps.storage.get<CrlMeta>("meta");
    return o;
  }

  protected step(o: CrlOwner, e: CrlEvent, now: number, random: number) {
    return crlStep(o, e, now, random, this.deps.schedule);
  }

  protected async own(f: CrlEffect): Promise<void> {
    if (f.do === "keep") await this.keep(f.held.meta, f.held.revoked);
  }

  /** Fetches and verifies the CRL once, and performs what it means. */
  protected async refresh(o: CrlOwner, restore: () => void): Promise<Result<CrlMeta>> {
    const state = o.state!;
    const startedAt = this.now();
    await this.run(o, { on: "fetching" }, startedAt);
    const result = await this.fetchAndVerify(state, o.meta, startedAt);
    restore();
    const { reply } = await this.run(o, { on: "fetched", result, startedAt }, this.now());
    return reply && "settled" in reply
      ? reply.settled
      : err({ kind: "internal", detail: "the CRL owner settled nothing" });
  }

  private async fetchAndVerify(
    state: CrlOwnerState,
    held: CrlMeta | undefined,
    now: number,
  ): Promise<Result<VerifiedCrl>> {
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
    return ok(crlFacts(verdict));
  }

  /** Stores a CRL that verified: its entries in sorted chunks, then its meta. */
  private async keep(meta: CrlMeta, revoked: RevokedTuple[]): Promise<void> {
    const { storage } = this.deps;
    const before = (await storage.get<CrlMeta>("meta"))?.chunks ?? 0;
    for (let i = 0; i < meta.chunks; i++)
      await storage.put(`chunk:${i}`, revoked.slice(i * CHUNK_ENTRIES, (i + 1) * CHUNK_ENTRIES));
    for (let i = meta.chunks; i < before; i++) await storage.delete(`chunk:${i}`);
    await storage.put("meta", meta);
    this.entries = { fetchedAt: meta.fetchedAt, revoked };
  }

  private async lookup(meta: CrlMeta, serial: string | undefined) {
    if (!serial) return undefined;
    return lookupSerial(await this.entriesOf(meta), serial);
  }

  private async entriesOf(meta: CrlMeta): Promise<{ revoked: RevokedTuple[] }> {
    if (!this.entries || this.entries.fetchedAt !== meta.fetchedAt) {
      const revoked: RevokedTuple[] = [];
      for (let i = 0; i < meta.chunks; i++)
        revoked.push(...((await this.deps.storage.get<RevokedTuple[]>(`chunk:${i}`)) ?? []));
      this.entries = { fetchedAt: meta.fetchedAt, revoked };
    }
    return this.entries;
  }

  protected async deliver(o: CrlOwner, draft: CrlReportDraft): Promise<void> {
    if (!this.deps.report || !o.state) return;
    let certificates: CrlReport["certificates"] = [];
    if (draft.current) {
      const entries = await this.entriesOf(draft.current);
      const find = (serial: string): RevocationFacts | undefined => lookupSerial(entries, serial);
      certificates = watchedStatuses(o.state, draft.current, find);
    }
    await this.deps.report({ ...draft.report, certificates }).catch((e: unknown) =>
      log("ledger.failed", {
        crl: draft.report.url,
        detail: e instanceof Error ? e.message : String(e),
      }),
    );
  }
}

/** The serial is pinned or watched by this owner, and `meta`'s CRL speaks for it. */
function watches(state: CrlOwnerState | undefined, serial: string | undefined, meta: CrlMeta) {
  return serial !== undefined && state !== undefined && watching(state, serial, meta);
}
