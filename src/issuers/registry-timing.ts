// How fresh an isolate keeps its copy of the issuer registry (issuers/registry.ts). A module of its
// own, with no imports, so that Node code (the benchmark) can import the figures it reports.

/**
 * How long an isolate trusts its copy of the registry before reading it again; a change made
 * through another isolate takes effect within this (plus KV's own propagation, up to 60 s).
 */
export const REGISTRY_TTL_MS = 10_000;

/**
 * How long the hot path may keep using a copy while it is re-read in the background (a KV read
 * that fails or hangs): past this, requests take the full path, which waits for KV.
 */
export const REGISTRY_MAX_STALE_MS = 60_000;
