// The one writer of the issuer registry (run inside the Registrar Durable Object, a singleton):
// changes are applied one at a time to its strongly consistent storage, one key per issuer, so N
// concurrent registrations and deletions from any number of isolates all take effect, and a change
// is acknowledged only once stored. It then publishes the whole registry to KV (`v1:issuers`, the
// read path of every isolate), grouping the changes that arrive during a write into the next one.

import { KV_KEYS } from "../cache/record.ts";
import { ops } from "../instrumentation.ts";
import { log } from "../log.ts";
import type { IssuerRecord } from "./issuer.ts";

export interface RegistrarStorage {
  get<T>(key: string): Promise<T | undefined>;
  put<T>(key: string, value: T): Promise<void>;
  delete(key: string): Promise<boolean>;
  list<T>(options: { prefix: string }): Promise<Map<string, T>>;
  setAlarm(scheduledTime: number): Promise<void>;
}

export interface RegistrarDeps {
  storage: RegistrarStorage;
  kv: KVNamespace;
  now: () => number;
  /** Waits between KV write attempts (real time: KV limits writes to one key to 1 per second). */
  sleep?: (ms: number) => Promise<void>;
}

export interface RegistryChange {
  records: IssuerRecord[];
}

const PREFIX = "issuer:";
/** Set once the registry found in KV (written before the Registrar existed) was imported. */
const IMPORTED = "imported";
const KV_WRITE_DELAYS_MS = [1_000, 2_000];
/** After a KV write failed three times, the alarm tries again this much later. */
export const PUBLISH_RETRY_MS = 10_000;

export class RegistrarLogic {
  private queue: Promise<unknown> = Promise.resolve();
  private publishing: Promise<void> | undefined;
  private dirty = false;

  constructor(private readonly deps: RegistrarDeps) {}

  /** Every registered issuer, oldest first. */
  list(): Promise<IssuerRecord[]> {
    return this.serially(() => this.records());
  }

  /** Adds or replaces the record with the same id (keeping its createdAt); stored before it returns. */
  async upsert(
    record: IssuerRecord,
  ): Promise<RegistryChange & { created: boolean; record: IssuerRecord }> {
    const kept = await this.serially(async () => {
      const existing = await this.deps.storage.get<IssuerRecord>(PREFIX + record.id);
      const stored = existing ? merged(existing, record) : record;
      await this.deps.storage.put(PREFIX + record.id, stored);
      return { created: !existing, record: stored };
    });
    await this.publish();
    return { ...kept, records: await this.list() };
  }

  async remove(id: string): Promise<RegistryChange & { removed: boolean }> {
    const removed = await this.serially(() => this.deps.storage.delete(PREFIX + id));
    if (removed) await this.publish();
    return { removed, records: await this.list() };
  }

  /** The alarm: publishes again after KV writes failed. */
  async alarm(): Promise<void> {
    await this.publish();
  }

  /** Runs `work` after every change queued before it (the one-writer rule). */
  private serially<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(async () => {
      await this.importOnce();
      return work();
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async records(): Promise<IssuerRecord[]> {
    const stored = await this.deps.storage.list<IssuerRecord>({ prefix: PREFIX });
    return [...stored.values()].sort(
      (a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id),
    );
  }

  /** Deployments older than the Registrar kept the registry in KV only: taken over once. */
  private async importOnce(): Promise<void> {
    const { storage, kv } = this.deps;
    if (await storage.get<boolean>(IMPORTED)) return;
    ops.kvReads++;
    const found = await kv.get<IssuerRecord[]>(KV_KEYS.issuers, "json");
    for (const r of Array.isArray(found) ? found : []) {
      if (r && typeof r.id === "string" && !(await storage.get(PREFIX + r.id))) {
        await storage.put(PREFIX + r.id, r);
      }
    }
    await storage.put(IMPORTED, true);
  }

  /**
   * Writes the registry to KV. Callers that arrive while a write is under way wait for it and then
   * share one more write, which reads storage after all their changes: every change reaches KV.
   */
  private async publish(): Promise<void> {
    this.dirty = true;
    while (this.dirty) {
      if (this.publishing) {
        await this.publishing;
        continue;
      }
      this.dirty = false;
      this.publishing = this.writeKv().finally(() => {
        this.publishing = undefined;
      });
      await this.publishing;
    }
  }

  private async writeKv(): Promise<void> {
    const { deps } = this;
    const sleep = deps.sleep ?? ((ms) => new Promise((done) => setTimeout(done, ms)));
    const body = JSON.stringify(await this.list());
    for (let attempt = 0; ; attempt++) {
      try {
        ops.kvWrites++;
        await deps.kv.put(KV_KEYS.issuers, body);
        return;
      } catch (e) {
        const delay = KV_WRITE_DELAYS_MS[attempt];
        if (delay === undefined) {
          // Stored, but not yet readable by other isolates: the alarm tries again.
          log("registry.kv_write_failed", {
            detail: e instanceof Error ? e.message : String(e),
            retryInMs: PUBLISH_RETRY_MS,
          });
          await deps.storage.setAlarm(deps.now() + PUBLISH_RETRY_MS);
          return;
        }
        await sleep(delay);
      }
    }
  }
}

/** At most this many CRL URLs are kept per issuer. */
export const MAX_CRL_URLS = 8;

/**
 * A re-registration: the new record, keeping when the issuer was first registered, the responder
 * already registered unless a new one is given, and every CRL URL registered before.
 */
function merged(existing: IssuerRecord, record: IssuerRecord): IssuerRecord {
  const responderUrl = record.responderUrl ?? existing.responderUrl;
  const crlUrls = [...new Set([...(existing.crlUrls ?? []), ...(record.crlUrls ?? [])])].slice(
    -MAX_CRL_URLS,
  );
  const { responderUrl: _r, crlUrls: _c, ...rest } = record;
  return {
    ...rest,
    createdAt: existing.createdAt,
    ...(responderUrl ? { responderUrl } : {}),
    ...(crlUrls.length ? { crlUrls } : {}),
  };
}
