// In-memory stand-ins of what Cloudflare runs the worker on, each counting the operations its
// price list bills: Workers KV (one store, each location reading through its own copy that lags a
// write by up to KV_PROPAGATION_MS, as KV's edge caching does), a Cache API per location (max-age
// honoured), and Durable Objects (one instance per name, storage that serialises what it keeps,
// alarms on the virtual clock, an instance evicted after DO_IDLE_EVICT_MS without a call).

import type { Clock } from "./clock.ts";

/** KV's documented eventual consistency: other locations may read the old value for 60 s. */
export const KV_PROPAGATION_MS = 60_000;
/** An idle Durable Object leaves memory after about this long (its next call reads storage). */
export const DO_IDLE_EVICT_MS = 120_000;

/** Every billable (or limited) operation, by kind. */
export class Bill {
  workersRequests = 0;
  kvReads = 0;
  kvWrites = 0;
  kvDeletes = 0;
  kvLists = 0;
  cacheReads = 0;
  cacheWrites = 0;
  caRequests = 0;
  /** Durable Object requests (RPC calls and alarm invocations), by class. */
  readonly doRequests: Record<string, number> = {};
  /** Calls by `Class.method` (alarms as `Class.alarm`). */
  readonly doCalls: Record<string, number> = {};
  readonly rowsWritten: Record<string, number> = {};
  readonly rowsRead: Record<string, number> = {};
  /** Objects ever created, by class. */
  readonly objects: Record<string, number> = {};

  call(cls: string, method: string): void {
    this.doRequests[cls] = (this.doRequests[cls] ?? 0) + 1;
    this.doCalls[`${cls}.${method}`] = (this.doCalls[`${cls}.${method}`] ?? 0) + 1;
  }
}

const add = (o: Record<string, number>, k: string, n = 1) => (o[k] = (o[k] ?? 0) + n);

interface KvEntry {
  bytes: Uint8Array;
  metadata: unknown;
  expiresAt: number;
}

/** One KV namespace; `at(location)` is the binding an isolate (or Durable Object) there holds. */
export class Kv {
  private readonly store = new Map<string, KvEntry>();
  private readonly seen = new Map<
    string,
    Map<string, { entry: KvEntry | undefined; at: number }>
  >();

  constructor(
    private readonly clock: Clock,
    private readonly bill: Bill,
  ) {}

  at(location: string): unknown {
    const read = (key: string): KvEntry | undefined => {
      this.bill.kvReads++;
      let local = this.seen.get(location);
      if (!local) this.seen.set(location, (local = new Map()));
      const copy = local.get(key);
      const now = this.clock.now;
      const entry =
        copy && now - copy.at < KV_PROPAGATION_MS
          ? copy.entry
          : (local.set(key, { entry: this.store.get(key), at: now }), this.store.get(key));
      return entry && now < entry.expiresAt ? entry : undefined;
    };
    const decode = (e: KvEntry | undefined, type: unknown) => {
      if (!e) return null;
      const t = typeof type === "string" ? type : ((type as { type?: string })?.type ?? "text");
      if (t === "arrayBuffer") return e.bytes.slice().buffer;
      const text = new TextDecoder().decode(e.bytes);
      return t === "json" ? JSON.parse(text) : text;
    };
    const kv = {
      get: async (key: string, type?: unknown) => decode(read(key), type),
      getWithMetadata: async (key: string, type?: unknown) => {
        const e = read(key);
        return { value: decode(e, type), metadata: e ? structuredClone(e.metadata) : null };
      },
      put: async (
        key: string,
        value: string | ArrayBuffer | ArrayBufferView,
        o: { expirationTtl?: number; expiration?: number; metadata?: unknown } = {},
      ) => {
        this.bill.kvWrites++;
        const bytes =
          typeof value === "string"
            ? new TextEncoder().encode(value)
            : value instanceof ArrayBuffer
              ? new Uint8Array(value.slice(0))
              : new Uint8Array(
                  value.buffer.slice(value.byteOffset, value.byteOffset + value.byteLength),
                );
        const expiresAt = o.expirationTtl
          ? this.clock.now + o.expirationTtl * 1000
          : o.expiration
            ? o.expiration * 1000
            : Infinity;
        const entry = { bytes, metadata: structuredClone(o.metadata ?? null), expiresAt };
        this.store.set(key, entry);
        this.seen.get(location)?.set(key, { entry, at: this.clock.now }); // read-your-writes here
      },
      delete: async (key: string) => {
        this.bill.kvDeletes++;
        this.store.delete(key);
        this.seen.get(location)?.delete(key);
      },
      list: async (o: { prefix?: string; limit?: number } = {}) => {
        this.bill.kvLists++;
        const keys = [...this.store.keys()]
          .filter((k) => k.startsWith(o.prefix ?? ""))
          .sort()
          .slice(0, o.limit ?? 1000)
          .map((name) => ({ name }));
        return { keys, list_complete: true, cacheStatus: null };
      },
    };
    return kv;
  }

  size(): number {
    return this.store.size;
  }
}

/** The Cache API of one location (`caches.default`): entries live for their max-age. */
export class EdgeCache {
  private readonly entries = new Map<
    string,
    { body: Uint8Array; headers: [string, string][]; until: number }
  >();

  constructor(
    private readonly clock: Clock,
    private readonly bill: Bill,
    /** Keeps nothing (workers.dev, or workerd without a cache service). */
    private readonly noop = false,
  ) {}

  async match(request: RequestInfo | URL): Promise<Response | undefined> {
    this.bill.cacheReads++;
    const url = String(request instanceof Request ? request.url : request);
    const e = this.entries.get(url);
    if (!e) return undefined;
    if (this.clock.now >= e.until) {
      this.entries.delete(url);
      return undefined;
    }
    return new Response(e.body.slice(), { headers: e.headers });
  }

  async put(request: RequestInfo | URL, response: Response): Promise<void> {
    this.bill.cacheWrites++;
    const url = String(request instanceof Request ? request.url : request);
    const maxAge = /max-age=(\d+)/.exec(response.headers.get("Cache-Control") ?? "")?.[1];
    const body = new Uint8Array(await response.arrayBuffer());
    if (this.noop || maxAge === undefined || Number(maxAge) <= 0) return;
    this.entries.set(url, {
      body,
      headers: headerList(response.headers),
      until: this.clock.now + Number(maxAge) * 1000,
    });
  }

  async delete(request: RequestInfo | URL): Promise<boolean> {
    return this.entries.delete(String(request instanceof Request ? request.url : request));
  }
}

type Instance = Record<string, unknown> & { alarm?: () => Promise<void> };
type Constructor = new (ctx: unknown, env: unknown) => Instance;

interface Held {
  instance: Instance | undefined;
  lastUsed: number;
  storage: Map<string, unknown>;
  alarm: number | null;
  alarmRetries: number;
}

/** One Durable Object namespace: a stub's every method call is one request to the named object. */
export class Objects {
  private readonly held = new Map<string, Held>();
  private calls = 0;

  constructor(
    readonly className: string,
    private readonly cls: Constructor,
    private readonly env: () => unknown,
    private readonly clock: Clock,
    private readonly bill: Bill,
  ) {}

  namespace(): unknown {
    const ns = {
      idFromName: (name: string) => ({
        name,
        toString: () => name,
        equals: (o: { name: string }) => o.name === name,
      }),
      get: (id: { name: string }) =>
        new Proxy(
          {},
          {
            get: (_, method) =>
              method === "then" || typeof method !== "string"
                ? undefined
                : (...args: unknown[]) => this.call(id.name, method, args),
          },
        ),
    };
    return ns;
  }

  /** Objects holding anything in storage. */
  live(): number {
    let n = 0;
    for (const h of this.held.values()) if (h.storage.size > 0 || h.alarm !== null) n++;
    return n;
  }

  private async call(name: string, method: string, args: unknown[]): Promise<unknown> {
    this.bill.call(this.className, method);
    const instance = this.instance(name);
    const fn = instance[method];
    if (typeof fn !== "function") throw new Error(`${this.className} has no method ${method}`);
    // (Arguments and results are not copied as RPC would: the worker never changes either after the
    // call, and copying every touch's issuer record was most of the simulator's time.)
    return (fn as (...a: unknown[]) => unknown).apply(instance, args);
  }

  /**
   * Every so often: instances idle past DO_IDLE_EVICT_MS leave memory, and an object with nothing
   * stored and no alarm is gone (as on the platform: it costs nothing until called again).
   */
  private sweep(): void {
    const now = this.clock.now;
    for (const [name, h] of this.held) {
      if (now - h.lastUsed <= DO_IDLE_EVICT_MS) continue;
      h.instance = undefined;
      if (h.storage.size === 0 && h.alarm === null) this.held.delete(name);
    }
  }

  private instance(name: string): Instance {
    if (++this.calls % 10_000 === 0) this.sweep();
    let h = this.held.get(name);
    if (!h) {
      h = { instance: undefined, lastUsed: 0, storage: new Map(), alarm: null, alarmRetries: 0 };
      this.held.set(name, h);
      add(this.bill.objects, this.className);
    }
    if (h.instance && this.clock.now - h.lastUsed > DO_IDLE_EVICT_MS) h.instance = undefined;
    h.lastUsed = this.clock.now;
    h.instance ??= new this.cls(this.ctx(name, h), this.env());
    return h.instance;
  }

  private ctx(name: string, h: Held): unknown {
    const cls = this.className;
    const bill = this.bill;
    const clock = this.clock;
    const fire = (at: number) =>
      clock.at(at, async () => {
        if (h.alarm !== at) return; // replaced or deleted since
        h.alarm = null;
        bill.call(cls, "alarm");
        const instance = this.instance(name);
        try {
          await instance.alarm?.();
          h.alarmRetries = 0;
        } catch {
          // The platform retries a failed alarm with backoff, a few times.
          if (h.alarm === null && h.alarmRetries < 6) {
            h.alarmRetries++;
            h.alarm = clock.now + 2 ** h.alarmRetries * 1000;
            fire(h.alarm);
          }
        }
      });
    const storage = {
      get: async (key: string | string[]) => {
        if (Array.isArray(key)) {
          add(bill.rowsRead, cls, key.length);
          return new Map(
            key.filter((k) => h.storage.has(k)).map((k) => [k, structuredClone(h.storage.get(k))]),
          );
        }
        add(bill.rowsRead, cls);
        return structuredClone(h.storage.get(key));
      },
      put: async (key: string | Record<string, unknown>, value?: unknown) => {
        const entries = typeof key === "string" ? [[key, value] as const] : Object.entries(key);
        add(bill.rowsWritten, cls, entries.length);
        for (const [k, v] of entries) h.storage.set(k, structuredClone(v));
      },
      delete: async (key: string | string[]) => {
        const keys = Array.isArray(key) ? key : [key];
        add(bill.rowsWritten, cls, keys.length);
        let n = 0;
        for (const k of keys) if (h.storage.delete(k)) n++;
        return Array.isArray(key) ? n : n > 0;
      },
      deleteAll: async () => {
        add(bill.rowsWritten, cls, Math.max(1, h.storage.size));
        h.storage.clear();
      },
      list: async (
        o: { prefix?: string; start?: string; startAfter?: string; limit?: number } = {},
      ) => {
        const keys = [...h.storage.keys()]
          .filter((k) => k.startsWith(o.prefix ?? ""))
          .filter(
            (k) =>
              (o.start === undefined || k >= o.start) &&
              (o.startAfter === undefined || k > o.startAfter),
          )
          .sort()
          .slice(0, o.limit ?? Infinity);
        add(bill.rowsRead, cls, keys.length);
        return new Map(keys.map((k) => [k, structuredClone(h.storage.get(k))]));
      },
      setAlarm: async (at: number | Date) => {
        add(bill.rowsWritten, cls);
        h.alarm = Number(at);
        fire(h.alarm);
      },
      getAlarm: async () => h.alarm,
      deleteAlarm: async () => {
        h.alarm = null;
      },
    };
    return {
      id: { name, toString: () => name },
      storage,
      waitUntil: (work: Promise<unknown>) => clock.waitUntil(work),
      blockConcurrencyWhile: <T>(f: () => Promise<T>) => f(),
    };
  }
}

function headerList(headers: Headers): [string, string][] {
  const list: [string, string][] = [];
  headers.forEach((value, name) => list.push([name, value]));
  return list;
}
