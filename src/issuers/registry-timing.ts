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

/**
 * How long a location's copy (the Cache API) serves its isolates before one of them reads KV
 * again: KV is read about once per location per this, not once per isolate per REGISTRY_TTL_MS.
 * A change made through another location takes effect within this (+ KV's 60 s, + REGISTRY_TTL_MS).
 */
export const REGISTRY_EDGE_TTL_MS = 10 * 60_000;

/**
 * An issuer not in the copy: KV itself is read again, at most this often per isolate, so a CA just
 * registered through another location is relayed within about a minute (and a stream of requests
 * for unregistered issuers costs at most one KV read per isolate per this).
 */
export const REGISTRY_UNKNOWN_RECHECK_MS = 60_000;
