// Where the parts meet (after Boulder's cmd/ocsp-responder/main.go): the relay of one isolate,
// built from the Env and the Platform, each tier wrapping the one below it. Read top to bottom,
// wireRelay is the request path: isolate memory -> edge cache -> KV -> the certificate's owner
// (a Durable Object, the only code that asks the CA). docs/architecture.md says how to add a tier.

import { configFrom } from "./config.ts";
import { depsFrom } from "./deps.ts";
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
import { Touches } from "./sources/touch.ts";

export function wireRelay(env: Env, platform: Platform): Relay {
  const deps = depsFrom(env, platform);
  const config = configFrom(env);
  const owners = new OwnerSource(deps.owners, { access: config.access, budget: config.budget });
  const kv = new KvTier(deps.kv, owners);
  const edge = new EdgeTier(deps.cache, kv);
  const memory = new MemoryTier(edge);
  return new Relay({
    deps,
    config,
    fleetKeys: new FleetKeys(config.fleetKeys),
    registry: new IssuerRegistry(deps.kv, () => registrarOf({ REGISTRAR: deps.registrar })),
    chain: memory,
    memory,
    owners,
    touches: new Touches((lookup) => owners.touch(lookup)),
  });
}

/**
 * One Relay per Env, built on first use: the runtime hands every request of an isolate the same
 * Env object, so in production this is one Relay per isolate (tests make several).
 */
export class Relays {
  private readonly byEnv = new WeakMap<Env, Relay>();
  private last: { env: Env; relay: Relay } | undefined;

  constructor(private readonly platform: Platform) {}

  of(env: Env): Relay {
    if (this.last?.env === env) return this.last.relay;
    let relay = this.byEnv.get(env);
    if (!relay) {
      relay = wireRelay(env, this.platform);
      this.byEnv.set(env, relay);
    }
    this.last = { env, relay };
    return relay;
  }
}
