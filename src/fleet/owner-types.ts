// The owner of one CertID, as the rest of the relay sees it: what a request asks of it, what it
// answers, what it keeps, and which certificates deserve a refresh; the events, effects and replies
// of its rules. Types and one pure predicate; the rules are fleet/ocsp-rules.ts, the host that
// performs them fleet/owner.ts.

import type { CachedAnswer, CertStatusName } from "../cache/record.ts";
import type { Result } from "../errors.ts";
import type { IssuerRecord } from "../issuers/issuer.ts";
import type { CertId } from "../ocsp/request.ts";
import type { LeafInfo } from "../sources/source.ts";
import { DEFAULT_BUDGET, type BudgetConfig } from "./budget.ts";
import type { Attempts, Effect, KernelEvent, Memory } from "./kernel.ts";
import type { OwnerReport } from "./ledger.ts";

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

/**
 * One CertID's owner as its rules see it: the persisted state and answer (one row, `owner`), and
 * its memory. `legacyKeys`: it was read from the keys stored before that row (`state`, `answer`),
 * which the next save deletes (a forget, which deletes everything, clears it with the memory).
 */
export interface OcspOwner {
  state: OwnerState | undefined;
  held: CachedAnswer | undefined;
  memory: Memory & { revokedBefore?: boolean; legacyKeys?: boolean };
}

/** What a CertOwner stores under `owner`: its state and the answer it holds, written together. */
export interface StoredOwner {
  state: OwnerState;
  held?: CachedAnswer;
}

/** What a step of the OCSP rules (fleet/ocsp-rules.ts) takes, asks of its host, and answers. */
export type OcspEffect = Effect<CachedAnswer, OwnerReport>;

export type OcspEvent =
  /** A client asked (`fetching`: a fetch is in flight, which it may join). */
  | { on: "request"; req: OwnerRequest; fetching: boolean }
  /** The budget's verdict for a guess first asked at `requestedAt`. */
  | { on: "admitted"; req: OwnerRequest; admitted: boolean; fetching: boolean; requestedAt: number }
  /** A client was served from a cache tier. */
  | { on: "touch"; req: OwnerRequest }
  /** The operator unpinned it (DELETE /admin/certificates, or its renewal replaced it). */
  | { on: "unpin" }
  | KernelEvent<CachedAnswer>;

/** What a request gets: its answer now, the fetch to join, or the budget to ask first. */
export type Reply =
  | { reply: Result<OwnerAnswer> }
  /** For "unpin": whether it was pinned. */
  | { unpinned: boolean }
  | { join: true }
  | { spend: true }
  /** For "fetched": what every request waiting on the fetch gets. */
  | { settled: Result<CachedAnswer> };

export interface Step {
  effects: OcspEffect[];
  reply?: Reply;
}

/**
 * An owner stored by this version (`row`) and by an older one after a rollback (`legacy`, which it
 * wrote without reading `row`: it may have started afresh, unpinned): the older version's state,
 * with what neither may drop kept from both (a pin, a watch, a revocation seen, the CA's
 * vouching), and the answer to hold: after a revocation seen, only a `revoked` one; else the newer.
 */
export function afterRollback(
  row: StoredOwner,
  legacy: OwnerState,
  legacyHeld: CachedAnswer | undefined,
): StoredOwner {
  const before = row.state;
  const revokedSeen = [before.revokedSeen, legacy.revokedSeen]
    .filter((r) => r !== undefined)
    .sort((a, b) => a.seenAt - b.seenAt)[0];
  const state: OwnerState = {
    ...legacy,
    pinned: legacy.pinned || before.pinned,
    lastRequestedAt: Math.max(legacy.lastRequestedAt, before.lastRequestedAt),
    ...(legacy.watched || before.watched ? { watched: true } : {}),
    ...(legacy.vouched || before.vouched ? { vouched: true } : {}),
    ...((legacy.leaf ?? before.leaf) ? { leaf: (legacy.leaf ?? before.leaf)! } : {}),
    ...(revokedSeen ? { revokedSeen } : {}),
  };
  const held = [row.held, legacyHeld]
    .filter((a) => a !== undefined)
    .filter((a) => !revokedSeen || a.status === "revoked")
    .sort((a, b) => b.thisUpdate - a.thisUpdate)[0];
  return { state, ...(held ? { held } : {}) };
}
