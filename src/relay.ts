// The relay's state in one isolate: the issuer registry and the Source chain
// touch -> memory -> edge cache -> KV -> owner (Durable Object). Created once per isolate.

import type { Env } from "./env.ts";
import { IssuerRegistry } from "./issuers/registry.ts";
import { ledgerOf } from "./fleet/ledger-do.ts";
import { Counters } from "./metrics/counters.ts";
import { runtime } from "./runtime.ts";
import { EdgeTier } from "./sources/edge.ts";
import { KvTier } from "./sources/kv.ts";
import { MemoryTier } from "./sources/memory.ts";
import { OwnerSource } from "./sources/owner.ts";
import type { Source } from "./sources/source.ts";
import { TouchOwner } from "./sources/touch.ts";

export class Relay {
  readonly registry: IssuerRegistry;
  readonly memory: MemoryTier;
  readonly owners: OwnerSource;
  readonly chain: Source;
  readonly counters = new Counters();
  private readonly env: Env;

  constructor(env: Env) {
    this.env = env;
    this.registry = new IssuerRegistry(env.OCSP_CACHE);
    this.owners = new OwnerSource(env.CERT_OWNER);
    const edgeCache =
      typeof caches !== "undefined" ? (caches as unknown as { default: Cache }).default : undefined;
    this.memory = new MemoryTier(new EdgeTier(edgeCache, new KvTier(env.OCSP_CACHE, this.owners)));
    this.chain = new TouchOwner(this.memory, (lookup) => this.owners.touch(lookup));
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

  /** The fleet ledger's stub. A stub belongs to the request that made it: make one per use. */
  ledger() {
    return ledgerOf(this.env);
  }
}
