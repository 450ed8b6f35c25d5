// Everything the worker reaches outside itself, built once per isolate from the Env and the
// Platform: the clock and randomness, KV, the edge cache and the Durable Object namespaces. Tests
// build their own (test/integration/support.ts) instead of patching shared state.

import type { Env } from "./env.ts";
import type { Platform } from "./platform.ts";

export interface Deps {
  now: () => number;
  random: () => number;
  kv: KVNamespace;
  /** The location's Cache API (undefined where there is none). */
  cache: Cache | undefined;
  owners: Env["CERT_OWNER"];
  ledger: Env["FLEET_LEDGER"];
  budgets: Env["UPSTREAM_BUDGET"];
  registrar: Env["REGISTRAR"];
  crlOwners: Env["CRL_OWNER"];
}

export function depsFrom(env: Env, platform: Platform): Deps {
  return {
    now: () => platform.now(),
    random: () => platform.random(),
    kv: env.OCSP_CACHE,
    cache:
      typeof caches !== "undefined" ? (caches as unknown as { default: Cache }).default : undefined,
    owners: env.CERT_OWNER,
    ledger: env.FLEET_LEDGER,
    budgets: env.UPSTREAM_BUDGET,
    registrar: env.REGISTRAR,
    crlOwners: env.CRL_OWNER,
  };
}
