// The Source chain (after Boulder's ocsp/responder): a request for one CertID flows through tiers,
// each one file, cheapest first: memory -> edge cache -> KV -> the certificate's owner (a Durable
// Object that alone fetches from the CA). A tier answers from what it holds or asks the next one.
// The chain is wired once per isolate, in wiring.ts.

import type { CachedAnswer } from "../cache/record.ts";
import type { RelayError, Result } from "../errors.ts";
import type { IssuerRecord } from "../issuers/issuer.ts";
import type { CertificateFacts } from "../ocsp/certificate.ts";
import type { CertId } from "../ocsp/request.ts";

/** What is known of a certificate itself, when a client sent it (admin API, /check). */
export interface LeafInfo {
  subject: string;
  mustStaple: boolean;
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

/** Where an answer came from: a cache tier, the owner's storage, or the CA for this request. */
export type Tier = "memory" | "edge" | "kv" | "owner" | "upstream";

export interface Served {
  answer: CachedAnswer;
  tier: Tier;
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
