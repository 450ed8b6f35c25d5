// The owner of one CertID, as the rest of the relay sees it: what a request asks of it, what it
// answers, what it keeps, and which certificates deserve a refresh. Types and one pure predicate;
// the rules are fleet/ocsp-rules.ts, the host that performs them fleet/owner.ts.

import type { CachedAnswer, CertStatusName } from "../cache/record.ts";
import type { IssuerRecord } from "../issuers/issuer.ts";
import type { CertId } from "../ocsp/request.ts";
import type { LeafInfo } from "../sources/source.ts";
import { DEFAULT_BUDGET, type BudgetConfig } from "./budget.ts";
import type { Attempts, Memory } from "./kernel.ts";

/** How the worker is configured to treat unpinned certificates (from the Env, never a client). */
export interface OwnerPolicy {
  /** "registered": only pinned certificates are relayed. */
  access: "open" | "registered";
  budget: BudgetConfig;
}

export const OPEN_POLICY: OwnerPolicy = { access: "open", budget: DEFAULT_BUDGET };

export interface OwnerRequest {
  certIdKey: string;
  certId: CertId;
  issuer: IssuerRecord;
  /** Keep refreshing even when nobody asks (registered certificates). */
  pin?: boolean;
  /** What is known of the certificate itself, when a client sent it (admin API, /check). */
  leaf?: LeafInfo;
  /** An authenticated caller of /check asked: its revocation alerts the operator, like a pin's. */
  watch?: boolean;
  /** The worker's policy for unpinned certificates (default: open, the default budget). */
  policy?: OwnerPolicy;
}

export interface OwnerAnswer {
  answer: CachedAnswer;
  /** Whether the CA was asked for this request (false: the owner already held it). */
  fetched: boolean;
}

export interface OwnerState extends Attempts {
  certIdKey: string;
  certId: CertId;
  issuer: IssuerRecord;
  pinned: boolean;
  /** Checked by an authenticated caller (/check with a fleet key or the admin token). */
  watched?: boolean;
  leaf?: LeafInfo;
  lastRequestedAt: number;
  /** Set once a validly signed `revoked` answer was seen: no later `good` is served. */
  revokedSeen?: { revocationTime: number | undefined; seenAt: number };
  /** Status of the last answer accepted. */
  lastStatus?: CertStatusName;
  /** The CA has answered `good` or `revoked` for this CertID at least once: a real certificate. */
  vouched?: boolean;
  /** Access policy of the last request (alarms have no request). */
  access?: OwnerPolicy["access"];
  /** Not worth refreshing: everything here is deleted at this time. */
  forgetAt?: number;
}

/** Whether the owner refreshes this certificate ahead of time (and writes its answers to KV). */
export function worthRefreshing(state: Pick<OwnerState, "pinned" | "vouched" | "access">): boolean {
  if (state.pinned) return true;
  return Boolean(state.vouched) && state.access !== "registered";
}

/** One CertID's owner as its rules see it: the persisted state and answer, and its memory. */
export interface OcspOwner {
  state: OwnerState | undefined;
  held: CachedAnswer | undefined;
  memory: Memory & { revokedBefore?: boolean };
}
