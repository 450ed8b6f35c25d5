// The Source chain (after Boulder's ocsp/responder): a request for one CertID flows through tiers,
// each one file, cheapest first: memory -> KV -> upstream. A tier answers from what it holds or asks
// the next one and keeps what comes back.

import type { CachedAnswer } from "../cache/record.ts";
import type { RelayError, Result } from "../errors.ts";
import type { IssuerRecord } from "../issuers/issuer.ts";
import type { CertificateFacts } from "../ocsp/certificate.ts";
import type { CertId } from "../ocsp/request.ts";

export interface Lookup {
  /** certIdKey(certId): the cache key body. */
  key: string;
  certId: CertId;
  issuer: IssuerRecord;
  issuerCert: CertificateFacts;
  /** Epoch milliseconds. */
  now: number;
}

export type Tier = "memory" | "kv" | "upstream";

export interface Served {
  answer: CachedAnswer;
  tier: Tier;
}

export interface Source {
  get(lookup: Lookup): Promise<Result<Served, RelayError>>;
}
