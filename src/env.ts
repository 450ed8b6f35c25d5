// The worker's bindings and configuration, typed once and parsed in one place.

export interface Env {
  OCSP_CACHE: KVNamespace;
  /** Bearer token of the admin API; without it the admin API is refused. */
  ADMIN_TOKEN?: string;
  /** Upstream timeout in milliseconds (default 5000, at most 30000). */
  UPSTREAM_TIMEOUT_MS?: string;
  /** "true" lets issuers use loopback/private responder URLs (local setups and tests). */
  ALLOW_PRIVATE_RESPONDERS?: string;
}

export interface Config {
  adminToken: string | undefined;
  upstreamTimeoutMs: number;
  allowPrivateResponders: boolean;
}

export function configFrom(env: Env): Config {
  const timeout = Number(env.UPSTREAM_TIMEOUT_MS ?? "5000");
  return {
    adminToken: env.ADMIN_TOKEN || undefined,
    upstreamTimeoutMs: Number.isFinite(timeout) && timeout > 0 ? Math.min(timeout, 30_000) : 5000,
    allowPrivateResponders: env.ALLOW_PRIVATE_RESPONDERS === "true",
  };
}
