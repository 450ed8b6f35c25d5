// Where the parts meet (after Boulder's cmd/ocsp-responder/main.go): the relay of one isolate,
// built from the Env and the Platform, each tier wrapping the one below it. Read top to bottom,
// CACHE_TIERS and wireRelay are the request path: isolate memory -> edge cache -> KV -> the
// certificate's owner (a Durable Object, the only code that asks the CA). Adding a tier is one
// line in CACHE_TIERS (docs/architecture.md "How to add a tier").

import { configFrom } from "./config.ts";
import { depsFrom, type Deps } from "./deps.ts";
import type { Env } from "./env.ts";
import { FleetKeys } from "./http/fleet-keys.ts";
import { registrarOf } from "./issuers/registrar-do.ts";
import { IssuerRegistry } from "./issuers/registry.ts";
import type { Platform } from "./platform.ts";
import { Relay } from "./relay.ts";
import { EdgeTier } from "./sources/edge.ts";
import { KvTier } from "./sources/kv.ts";
import { MemoryTier } from "./sources/memory.ts";
import { OwnerSource } from "./sources/owner.ts";
import type { Source } from "./sources/source.ts";
import { Touches } from "./sources/touch.ts";

/** A tier between isolate memory and the owner: built from the Deps, around the tier below it. */
export type CacheTier = (deps: Deps, next: Source) => Source;

/** The tiers between isolate memory and the owner, cheapest first: each asks the next on a miss. */
export const CACHE_TIERS: readonly CacheTier[] = [
  (deps, next) => new EdgeTier(deps.cache, next),
  (deps, next) => new KvTier(deps.kv, next),
];

/**
 * The relay of one isolate. `cacheTiers`: the tiers between memory and the owner (production:
 * CACHE_TIERS; a test may wire another list to show a tier of its own end to end).
 */
export function wireRelay(
  env: Env,
  platform: Platform,
  cacheTiers: readonly CacheTier[] = CACHE_TIERS,
): Relay {
  const deps = depsFrom(env, platform);
  const config = configFrom(env);
  const owners = new OwnerSource(deps.owners, { access: config.access, budget: config.budget });
  const below = cacheTiers.reduceRight<Source>((next, tier) => tier(deps, next), owners);
  const memory = new MemoryTier(below);
  return new Relay({
    deps,
    config,
    fleetKeys: new FleetKeys(config.fleetKeys),
    registry: new IssuerRegistry(
      deps.kv,
      () => registrarOf({ REGISTRAR: deps.registrar }),
      deps.cache,
    ),
    chain: memory,
    memory,
    owners,
    touches: new Touches((lookup) => owners.touch(lookup)),
  });
}

/**
 * One Relay per Env, built on first use: the runtime hands every request of an isolate the same
 * Env object, so in production this is one Relay per isolate (tests make several). `cacheTiers`:
 * as wireRelay's (production passes none).
 */
export class Relays {
  private readonly byEnv = new WeakMap<Env, Relay>();
  private last: { env: Env; relay: Relay } | undefined;

  constructor(
    private readonly platform: Platform,
    private readonly cacheTiers: readonly CacheTier[] = CACHE_TIERS,
  ) {}

  of(env: Env): Relay {
    if (this.last?.env === env) return this.last.relay;
    let relay = this.byEnv.get(env);
    if (!relay) {
      relay = wireRelay(env, this.platform, this.cacheTiers);
      this.byEnv.set(env, relay);
    }
    this.last = { env, relay };
    return relay;
  }
}
