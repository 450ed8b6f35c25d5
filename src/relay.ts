// The relay's state in one isolate: the issuer registry and the Source chain
// memory -> KV -> upstream. Created once per isolate (per KV binding) by the app.

import { configFrom, type Config, type Env } from "./env.ts";
import { IssuerRegistry } from "./issuers/registry.ts";
import { KvTier } from "./sources/kv.ts";
import { MemoryTier } from "./sources/memory.ts";
import { UpstreamSource } from "./sources/upstream.ts";

/** A failure for a CertID with nothing cached is remembered this long (issue: ≤ 5 s). */
export const FAILURE_MEMORY_MS = 3_000;

export interface RelayDeps {
  /** The fetch used for CA responders (tests replace it). */
  fetch?: typeof fetch;
  /** The clock, epoch milliseconds (tests replace it). */
  now?: () => number;
}

export class Relay {
  readonly config: Config;
  readonly registry: IssuerRegistry;
  readonly kv: KvTier;
  readonly memory: MemoryTier;
  readonly upstream: UpstreamSource;
  readonly now: () => number;

  constructor(env: Env, deps: RelayDeps = {}) {
    this.config = configFrom(env);
    this.now = deps.now ?? Date.now;
    this.registry = new IssuerRegistry(env.OCSP_CACHE);
    this.upstream = new UpstreamSource({
      fetch: deps.fetch ?? ((input, init) => fetch(input, init)),
      timeoutMs: this.config.upstreamTimeoutMs,
      allowPrivate: this.config.allowPrivateResponders,
      failureMemoryMs: FAILURE_MEMORY_MS,
    });
    this.kv = new KvTier(env.OCSP_CACHE, this.upstream);
    this.memory = new MemoryTier(this.kv);
  }
}
