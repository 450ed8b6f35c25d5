// The issuer registry as an isolate sees it: read from KV (key `v1:issuers`, one JSON document
// published by the Registrar, the one writer; see storage-schema.md) through isolate memory. An
// isolate re-reads it REGISTRY_TTL_MS after its last read, so the OCSP path does not read KV per
// request. The hot path never waits for that read: it keeps using the copy it has (for at most
// REGISTRY_MAX_STALE_MS) while the re-read runs after its response. Changes go to the Registrar
// (issuers/registrar.ts), which stores them before answering; this isolate uses the result at once.

import { KV_KEYS } from "../cache/record.ts";
import { IssuerIndex, type IssuerRecord } from "./issuer.ts";
import { ops } from "../instrumentation.ts";
import { REGISTRY_MAX_STALE_MS, REGISTRY_TTL_MS } from "./registry-timing.ts";
import type { Registrar } from "./registrar-do.ts";

type RegistrarStub = DurableObjectStub<Registrar>;

export { REGISTRY_MAX_STALE_MS, REGISTRY_TTL_MS } from "./registry-timing.ts";

export class IssuerRegistry {
  private cached: { index: IssuerIndex; loadedAt: number } | undefined;
  private loading: Promise<IssuerIndex> | undefined;
  private lastBackgroundRead = -Infinity;

  constructor(
    private readonly kv: KVNamespace,
    /** The Registrar's stub (one per use); undefined: read-only (certificate owners). */
    private readonly registrar?: () => RegistrarStub,
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

  private async load(now: number): Promise<IssuerIndex> {
    ops.kvReads++;
    const records = (await this.kv.get<IssuerRecord[]>(KV_KEYS.issuers, "json")) ?? [];
    const index = new IssuerIndex(Array.isArray(records) ? records : []);
    this.cached = { index, loadedAt: now };
    return index;
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
    this.adopt(change.records, now);
    return { created: change.created, record: change.record };
  }

  async remove(id: string, now: number): Promise<boolean> {
    const change = await this.writer().remove(id);
    this.adopt(change.records, now);
    return change.removed;
  }

  /** The registry as the Registrar holds it now (strongly consistent; admin listing). */
  async list(now: number): Promise<IssuerIndex> {
    const records = await this.writer().list();
    this.adopt(records, now);
    return this.cached!.index;
  }

  private writer(): RegistrarStub {
    if (!this.registrar) throw new Error("this registry copy is read-only");
    return this.registrar();
  }

  /** Uses the Registrar's answer in this isolate at once (other isolates read KV). */
  private adopt(records: IssuerRecord[], now: number): void {
    this.cached = { index: new IssuerIndex(records), loadedAt: now };
  }
}
