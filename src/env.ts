// The worker's bindings and configuration, typed once.

export interface Env {
  OCSP_CACHE: KVNamespace;
  ADMIN_TOKEN?: string;
  UPSTREAM_TIMEOUT_MS?: string;
  ALLOW_PRIVATE_RESPONDERS?: string;
}
