// The relay's state in one isolate: the issuer registry and the Source chain
// touch -> memory -> edge cache -> KV -> owner (Durable Object). Created once per isolate.

import { configFrom, type Config } from "./config.ts";
import type { Env } from "./env.ts";
import { registrarOf } from "./issuers/registrar-do.ts";
import { FleetKeys } from "./http/fleet-keys.ts";
import { IssuerRegistry } from "./issuers/registry.ts";
import { ledgerOf } from "./fleet/ledger-do.ts";
import { budgetOf } from "./fleet/budget-do.ts";
import type { BudgetSnapshot } from "./fleet/budget.ts";
import { Counters } from "./metrics/counters.ts";
import { runtime } from "./runtime.ts";
import { EdgeTier } from "./sources/edge.ts";
import { KvTier } from "./sources/kv.ts";
import { ops } from "./instrumentation.ts";
import { MEMORY_LIMITS, MemoryTier } from "./sources/memory.ts";
import { OwnerSource } from "./sources/owner.ts";
import type { Lookup, Source } from "./sources/source.ts";
import { TouchOwner } from "./sources/touch.ts";

/** Bound of the URL → CertID map (twice the memory tier's entry cap). */
const MAX_PATHS = 2 * MEMORY_LIMITS.maxEntries;

export type PathEntry = Pick<Lookup, "key" | "certId" | "issuer" | "issuerCert">;

export class Relay {
  readonly registry: IssuerRegistry;
  readonly memory: MemoryTier;
  readonly owners: OwnerSource;
  readonly chain: Source;
  private readonly touch: TouchOwner;
  /** Request URL → what it asks for, learnt from answered GETs: lets a repeat GET skip decoding. */
  private readonly paths = new Map<string, PathEntry>();
  readonly counters = new Counters();
  readonly config: Config;
  readonly fleetKeys: FleetKeys;
  private readonly env: Env;

  constructor(env: Env) {
    this.env = env;
    this.config = configFrom(env);
    this.fleetKeys = new FleetKeys(this.config.fleetKeys);
    this.registry = new IssuerRegistry(env.OCSP_CACHE, () => registrarOf(env));
    this.owners = new OwnerSource(env.CERT_OWNER, {
      access: this.config.access,
      budget: this.config.budget,
    });
    const edgeCache =
      typeof caches !== "undefined" ? (caches as unknown as { default: Cache }).default : undefined;
    this.memory = new MemoryTier(new EdgeTier(edgeCache, new KvTier(env.OCSP_CACHE, this.owners)));
    this.touch = new TouchOwner(this.memory, (lookup) => this.owners.touch(lookup));
    this.chain = this.touch;
  }

  /**
   * The hot path: a GET whose exact URL was answered before, for an issuer still registered, with
   * the answer current in isolate memory. No decoding, no routing, no KV, no verification; work
   * it owes (counters, touching the owner, refreshing the registry copy) goes to `ctx.waitUntil`
   * after the response. Everything else takes the full path (src/routes/ocsp.ts).
   */
  fastAnswer(request: Request, ctx: Pick<ExecutionContext, "waitUntil">): Response | undefined {
    const entry = this.paths.get(request.url);
    if (!entry || request.headers.has("If-None-Match")) return undefined;
    const now = runtime.now();
    const index = this.registry.forHotPath(now, ctx);
    if (!index?.get(entry.issuer.id)) return undefined; // deleted: the full path answers
    const held = this.memory.peekEntry(entry.key, now);
    if (!held) return undefined;
    ops.requests++;
    ops.hotPathHits++;
    this.counters.incMemoryHit();
    if (this.counters.due(now)) ctx.waitUntil(this.flushCounters(now));
    if (this.touch.due(entry.key, now)) {
      this.touch.maybeTouch({ ...entry, now, background: (work) => ctx.waitUntil(work) });
    }
    return new Response(held.answer.der, { headers: held.headers.at(now) });
  }

  /** Remembers what a GET URL asks for (bounded; forgotten wholesale when full). */
  rememberPath(url: string, entry: PathEntry): void {
    if (this.paths.size >= MAX_PATHS) this.paths.clear();
    this.paths.set(url, entry);
  }

  now(): number {
    return runtime.now();
  }

  /** Sends this isolate's counters to the fleet ledger (they are kept if that fails). */
  async flushCounters(now: number): Promise<void> {
    const { deltas, restore } = this.counters.take(now);
    if (Object.keys(deltas).length === 0) return;
    await this.ledger().addCounters(deltas).catch(restore);
  }

  /** The upstream budget of each issuer (for /metrics and /status). */
  budgets(issuers: readonly { id: string }[]): Promise<BudgetSnapshot[]> {
    return Promise.all(
      issuers.map((r) => budgetOf(this.env, r.id).snapshot(r.id, this.config.budget)),
    );
  }

  /** The fleet ledger's stub. A stub belongs to the request that made it: make one per use. */
  ledger() {
    return ledgerOf(this.env);
  }
}
