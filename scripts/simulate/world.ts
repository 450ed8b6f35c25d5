// One deployment of the worker under simulation: the KV namespace, a Durable Object namespace per
// exported class, and locations, each with its Cache API and its isolates. A request goes to a
// location's isolate picked at random (Cloudflare spreads a location's requests over its machines);
// an isolate ends after ISOLATE idle or life limits, and the next request there starts a new one
// (empty memory, its registry copy to read again), as on the platform.

import type { WorkerModule } from "./bundle.ts";
import type { Clock } from "./clock.ts";
import { Bill, EdgeCache, Kv, Objects } from "./platform.ts";

export interface WorldOptions {
  locations: number;
  isolatesPerLocation: number;
  /** An isolate without a request for this long is gone. */
  isolateIdleMs: number;
  /** Nor does one live longer than this. */
  isolateLifeMs: number;
  /**
   * false: no Cache API; "noop": one that keeps nothing (a workers.dev hostname, plain workerd
   * without a cache service: calls are made and counted, nothing is found).
   */
  cacheApi: boolean | "noop";
  vars: Record<string, string>;
  /** The Durable Object bindings of the checkout's wrangler.toml. */
  durableObjects: { binding: string; className: string }[];
}

interface Isolate {
  worker: ReturnType<WorkerModule["createWorker"]>;
  env: Record<string, unknown>;
  born: number;
  lastUsed: number;
}

export class World {
  readonly bill = new Bill();
  readonly kv: Kv;
  private readonly objects: Objects[] = [];
  private readonly bindings: Record<string, unknown> = {};
  private readonly caches: EdgeCache[] = [];
  private readonly slots: (Isolate | undefined)[][] = [];
  isolatesStarted = 0;

  constructor(
    private readonly mod: WorkerModule,
    private readonly clock: Clock,
    private readonly random: () => number,
    private readonly o: WorldOptions,
  ) {
    this.kv = new Kv(clock, this.bill);
    for (const { binding, className } of o.durableObjects) {
      const ctor = mod.classes[className];
      if (!ctor) throw new Error(`the bundle exports no Durable Object class ${className}`);
      const objects = new Objects(className, ctor, () => this.doEnv(), clock, this.bill);
      this.objects.push(objects);
      this.bindings[binding] = objects.namespace();
    }
    for (let l = 0; l < o.locations; l++) {
      this.caches.push(new EdgeCache(clock, this.bill, o.cacheApi === "noop"));
      this.slots.push(new Array<Isolate | undefined>(o.isolatesPerLocation).fill(undefined));
    }
  }

  /** A request from a client near `location`, answered by one of its isolates. */
  async request(location: number, request: Request): Promise<Response> {
    this.bill.workersRequests++;
    const slots = this.slots[location]!;
    const i = Math.floor(this.random() * slots.length);
    const now = this.clock.now;
    let isolate = slots[i];
    if (
      !isolate ||
      now - isolate.lastUsed > this.o.isolateIdleMs ||
      now - isolate.born > this.o.isolateLifeMs
    ) {
      isolate = {
        worker: this.mod.createWorker({
          now: () => this.clock.now,
          random: this.random,
          fetch: () => Promise.reject(new Error("an isolate never fetches from the CA")),
        }),
        env: { ...this.vars(), OCSP_CACHE: this.kv.at(`loc${location}`), ...this.bindings },
        born: now,
        lastUsed: now,
      };
      slots[i] = isolate;
      this.isolatesStarted++;
    }
    isolate.lastUsed = now;
    // The worker reads `caches.default` when an isolate wires its relay (src/deps.ts).
    const g = globalThis as { caches?: unknown };
    if (this.o.cacheApi) g.caches = { default: this.caches[location] };
    else delete g.caches;
    const ctx = {
      waitUntil: (p: Promise<unknown>) => this.clock.waitUntil(p),
      passThroughOnException() {},
    };
    return isolate.worker.fetch(request, isolate.env, ctx);
  }

  /** Objects holding state, by class. */
  liveObjects(): Record<string, number> {
    return Object.fromEntries(this.objects.map((o) => [o.className, o.live()]));
  }

  private vars(): Record<string, string> {
    return this.o.vars;
  }

  /** Durable Objects run in one place; their KV binding reads through that location's copy. */
  private doEnv(): Record<string, unknown> {
    return { ...this.vars(), OCSP_CACHE: this.kv.at("objects"), ...this.bindings };
  }
}
