// The issuer registry in KV (key `v1:issuers`, one JSON document; see storage-schema.md), read
// through isolate memory for REGISTRY_TTL_MS so the OCSP path does not read KV per request.

import { KV_KEYS } from "../cache/record.ts";
import { IssuerIndex, type IssuerRecord } from "./issuer.ts";
import { ops } from "../instrumentation.ts";

/** How long an isolate trusts its copy of the registry; a deletion takes effect within this. */
export const REGISTRY_TTL_MS = 10_000;

export class IssuerRegistry {
  private cached: { index: IssuerIndex; loadedAt: number } | undefined;
  private loading: Promise<IssuerIndex> | undefined;

  constructor(private readonly kv: KVNamespace) {}

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

  /** The index held in memory if still within its TTL; never reads KV (the fast path). */
  current(now: number): IssuerIndex | undefined {
    const c = this.cached;
    return c && now - c.loadedAt < REGISTRY_TTL_MS && now >= c.loadedAt ? c.index : undefined;
  }

  /** Adds or replaces the record with the same id. Returns whether it was new. */
  async upsert(
    record: IssuerRecord,
    now: number,
  ): Promise<{ created: boolean; record: IssuerRecord }> {
    const current = await this.fresh(now);
    const existing = current.get(record.id);
    const kept = existing ? { ...record, createdAt: existing.createdAt } : record;
    await this.write([...current.records.filter((r) => r.id !== record.id), kept], now);
    return { created: !existing, record: kept };
  }

  async remove(id: string, now: number): Promise<boolean> {
    const current = await this.fresh(now);
    if (!current.get(id)) return false;
    await this.write(
      current.records.filter((r) => r.id !== id),
      now,
    );
    return true;
  }

  private async fresh(now: number): Promise<IssuerIndex> {
    this.cached = undefined;
    return this.index(now);
  }

  private async write(records: IssuerRecord[], now: number): Promise<void> {
    ops.kvWrites++;
    await this.kv.put(KV_KEYS.issuers, JSON.stringify(records));
    this.cached = { index: new IssuerIndex(records), loadedAt: now };
  }
}
