// The Source chain (after Boulder's ocsp/responder): a request for one CertID flows through tiers,
// each one file, cheapest first: memory -> edge cache -> KV -> the certificate's owner (a Durable
// Object that alone fetches from the CA). A tier answers from what it holds or asks the next one,
// and says which tier it is (TierInfo) with each answer. The chain is wired once per isolate, in
// wiring.ts; docs/architecture.md "How to add a tier".

import type { CachedAnswer } from "../cache/record.ts";
import type { RelayError, Result } from "../errors.ts";
import type { IssuerRecord } from "../issuers/issuer.ts";
import type { CertificateFacts } from "../ocsp/certificate.ts";
import type { CertId } from "../ocsp/request.ts";

/** What is known of a certificate itself, when a client sent it (admin API, /check). */
export interface LeafInfo {
  subject: string;
  mustStaple: boolean;
  /** The certificate's notAfter (epoch ms): its owner stops refreshing it then. */
  notAfter?: number;
}

export interface Lookup {
  /** certIdKey(certId): the cache key body. */
  key: string;
  certId: CertId;
  issuer: IssuerRecord;
  issuerCert: CertificateFacts;
  /** Epoch milliseconds. */
  now: number;
  /** Runs work after the response is sent (ExecutionContext.waitUntil). */
  background?: (work: Promise<unknown>) => void;
  /** The certificate itself, when the client sent it (/check): its owner remembers Must-Staple. */
  leaf?: LeafInfo;
  /** An authenticated caller of /check asked: its owner alerts for it as for a pinned one. */
  watch?: boolean;
  /** inspect() reads the cache tiers only (Relay.inspect asks the owner itself, once). */
  cachedOnly?: boolean;
}

/**
 * A tier's name: the `tier` label of `requests_total` in /metrics and the `source` of /check
 * (lowercase letters: "memory", "edge", "kv", "owner", and "upstream" for a fetch made for this
 * request).
 */
export type Tier = string;

/**
 * What a tier is, declared once beside its class (`MEMORY_TIER`, `EDGE_TIER`, ...) and carried by
 * every answer it gives: all the relay needs to count the answer, set X-Cache and keep the owner
 * informed, for any tier wired between memory and the owner.
 */
export interface TierInfo {
  readonly name: Tier;
  /**
   * A cache tier: it answers with a copy of what the owner fetched (the owner did not see that
   * request). The owner's own copy and a fetch made for this request are not copies.
   */
  readonly cached: boolean;
  /**
   * A hit here tells the owner that clients still ask (sources/touch.ts), so the certificate keeps
   * being refreshed. Declared by the tier each location reads once per copy, and at least every
   * TIER_MAX_AGE_MS (KV, below the per-location edge cache): the owner then hears from every
   * location still asking, without a Durable Object call on nearly every hit
   * (docs/fleet-cost.md).
   */
  readonly touches?: true;
  /** Fetched from the CA for this request: `outcome="miss"` and X-Cache: MISS (else a hit). */
  readonly fetched?: true;
}

export interface Served {
  answer: CachedAnswer;
  /** The name of the tier that answered (`from.name`): /check's `source`. */
  tier: Tier;
  /** That tier, as it declared itself. */
  from: TierInfo;
  /**
   * When that tier's copy ends (its re-check point), for a tier holding copies of copies: a tier
   * above keeps this one no longer, so copies never stack past TIER_MAX_AGE_MS (cache/freshness.ts).
   */
  until?: number;
}

/** An answer as `from` serves it (the one way a Served is made, so `tier` is always `from.name`). */
export function served(from: TierInfo, answer: CachedAnswer): Served {
  return { answer, tier: from.name, from };
}

export interface Source {
  /** The current answer: from this tier, or asked of the next (the last asks the CA). */
  get(lookup: Lookup): Promise<Result<Served, RelayError>>;
  /**
   * What this tier or one below holds, never asking the CA: the first current copy, else the
   * newest expired one (for /check), else undefined.
   */
  inspect(lookup: Lookup): Promise<Served | undefined>;
}
