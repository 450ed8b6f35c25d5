// The issuer registry as an isolate sees it: read from KV (key `v1:issuers`, one JSON document
// published by the Registrar, the one writer; see storage-schema.md) through the location's copy
// (the Cache API, REGISTRY_EDGE_TTL_MS) and isolate memory. An isolate re-reads it REGISTRY_TTL_MS
// after its last read, so the OCSP path does not read KV per request, nor each isolate per 10 s.
// The hot path never waits for that read: it keeps using the copy it has (for at most
// REGISTRY_MAX_STALE_MS) while the re-read runs after its response. Changes go to the Registrar
// (issuers/registrar.ts), which stores them before answering; this isolate (and its location's
// copy) uses the result at once.

import { KV_KEYS } from "../cache/record.ts";
import { IssuerIndex, type IssuerRecord } from "./issuer.ts";
import { ops } from "../instrumentation.ts";
import {
  REGISTRY_EDGE_TTL_MS,
  REGISTRY_MAX_STALE_MS,
  REGISTRY_TTL_MS,
  REGISTRY_UNKNOWN_RECHECK_MS,
} from "./registry-timing.ts";
import type { Registrar } from "./registrar-do.ts";

type RegistrarStub = DurableObjectStub<Registrar>;

export { REGISTRY_MAX_STALE_MS, REGISTRY_TTL_MS } from "./registry-timing.ts";

/** The location's copy in the Cache API: an internal URL no client request can name. */
export const REGISTRY_EDGE_KEY = `https://ocsp-relay.cache/${KV_KEYS.issuers}`;
const EDGE_KEY = REGISTRY_EDGE_KEY;

export class IssuerRegistry {
  private cached: { index: IssuerIndex; loadedAt: number } | undefined;
  private loading: Promise<IssuerIndex> | undefined;
  private lastBackgroundRead = -Infinity;
  private lastKvRead = -Infinity;

  constructor(
    private readonly kv: KVNamespace,
    /** The Registrar's stub (one per use); undefined: read-only (certificate owners). */
    private readonly registrar?: () => RegistrarStub,
    /** The location's Cache API (undefined where there is none: every re-read is a KV read). */
    private readonly cache?: Cache,
  ) {}

  async index(now: number): Promise<IssuerIndex> {
    const current = this.current(now);
    if (current) return current;
    // Requests arriving while the copy is reloaded share one KV read.
    this.loading ??= this.load(now).finally(() => {
      this.loading = undefined;
    });
    return this.loading;
  }

  private async load(now: number, fromKv = false): Promise<IssuerIndex> {
    const shared = fromKv ? undefined : await this.readEdge();
    let records = shared;
    if (!records) {
      ops.kvReads++;
      this.lastKvRead = now;
      const read = await this.kv.get<IssuerRecord[]>(KV_KEYS.issuers, "json");
      records = Array.isArray(read) ? read : [];
      // Kept for the location, but not by a re-check for an unknown issuer: a client's request
      // must not be what refreshes (and so extends) the location's copy.
      if (!fromKv) await this.writeEdge(records);
    }
    const index = new IssuerIndex(records);
    this.cached = { index, loadedAt: now };
    return index;
  }

  /**
   * For an issuer the copy does not know: the registry read from KV itself (not the location's
   * copy), at most once per REGISTRY_UNKNOWN_RECHECK_MS in this isolate; undefined when not due.
   */
  async recheck(now: number): Promise<IssuerIndex | undefined> {
    if (now - this.lastKvRead < REGISTRY_UNKNOWN_RECHECK_MS && now >= this.lastKvRead)
      return undefined;
    this.lastKvRead = now;
    return this.load(now, true);
  }

  private async readEdge(): Promise<IssuerRecord[] | undefined> {
    if (!this.cache) return undefined;
    try {
      ops.cacheReads++;
      const held = await this.cache.match(EDGE_KEY);
      const records: unknown = held ? await held.json() : undefined;
      return Array.isArray(records) ? (records as IssuerRecord[]) : undefined;
    } catch {
      return undefined; // the location's copy is an optimisation: KV is the source of truth
    }
  }

  private async writeEdge(records: readonly IssuerRecord[]): Promise<void> {
    if (!this.cache) return;
    try {
      ops.cacheWrites++;
      await this.cache.put(
        EDGE_KEY,
        new Response(JSON.stringify(records), {
          headers: { "Cache-Control": `max-age=${REGISTRY_EDGE_TTL_MS / 1000}` },
        }),
      );
    } catch {
      // ignored: see readEdge()
    }
  }

  /**
   * The index for the hot path, which never waits for KV: the copy held, while younger than
   * REGISTRY_MAX_STALE_MS; once it is older than REGISTRY_TTL_MS, one re-read is started in the
   * background (a failed one is retried by a later request, at most once a second).
   */
  forHotPath(now: number, ctx: Pick<ExecutionContext, "waitUntil">): IssuerIndex | undefined {
    const c = this.cached;
    if (!c || now < c.loadedAt) return undefined;
    const age = now - c.loadedAt;
    if (age >= REGISTRY_TTL_MS && !this.loading && now - this.lastBackgroundRead >= 1000) {
      this.lastBackgroundRead = now;
      ctx.waitUntil(this.index(now).catch(() => null));
    }
    return age < REGISTRY_MAX_STALE_MS ? c.index : undefined;
  }

  /** The index held in memory if still within its TTL; never reads KV. */
  current(now: number): IssuerIndex | undefined {
    const c = this.cached;
    return c && now - c.loadedAt < REGISTRY_TTL_MS && now >= c.loadedAt ? c.index : undefined;
  }

  /** Adds or replaces the record with the same id, stored by the Registrar before this returns. */
  async upsert(
    record: IssuerRecord,
    now: number,
  ): Promise<{ created: boolean; record: IssuerRecord }> {
    const change = await this.writer().upsert(record);
    await this.adopt(change.records, now);
    return { created: change.created, record: change.record };
  }

  async remove(id: string, now: number): Promise<boolean> {
    const change = await this.writer().remove(id);
    await this.adopt(change.records, now);
    return change.removed;
  }

  /** The registry as the Registrar holds it now (strongly consistent; admin listing). */
  async list(now: number): Promise<IssuerIndex> {
    const records = await this.writer().list();
    await this.adopt(records, now);
    return this.cached!.index;
  }

  private writer(): RegistrarStub {
    if (!this.registrar) throw new Error("this registry copy is read-only");
    return this.registrar();
  }

  /**
   * Uses the Registrar's answer in this isolate at once, and drops its location's copy, so the
   * location's other isolates read KV (which the Registrar wrote) at their next re-read. Dropped
   * rather than replaced: two changes made at once through two isolates could otherwise leave the
   * older list there for REGISTRY_EDGE_TTL_MS. Other locations see it when their copy ends.
   */
  private async adopt(records: IssuerRecord[], now: number): Promise<void> {
    this.cached = { index: new IssuerIndex(records), loadedAt: now };
    if (this.cache) await this.cache.delete(EDGE_KEY).catch(() => false);
  }
}
