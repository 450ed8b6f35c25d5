// A registered CRL's owner as the rest of the relay sees it: what a caller asks, what the owner
// keeps (the CRL without its entries, its state, its watch lists), what it answers and reports.
// Types, bounds and the one predicate every reader of a watch list uses. Pure.

import type { RevocationFacts } from "../crl/verify.ts";
import type { IssuerRecord } from "../issuers/issuer.ts";
import type { LeafInfo } from "../sources/source.ts";
import type { Attempts } from "./kernel.ts";

/** Revoked entries per storage value (a 50 000-entry CRL is 25 values of ~100 KB). */
export const CHUNK_ENTRIES = 2_000;
/**
 * Certificates checked by authenticated callers of /check whose status this owner reports to the
 * ledger on each new CRL (first come; they never displace a pinned one, which has its own list).
 */
export const MAX_WATCHED = 1_000;
/** Certificates pinned through the admin API that this owner reports (a pin beyond is refused). */
export const MAX_PINNED = 10_000;

/** What a caller asks: the CRL at `url` of `issuer`, and optionally one serial's status in it. */
export interface CrlRequest {
  url: string;
  issuer: IssuerRecord;
  /** serialHex of the certificate asked about. */
  serial?: string;
  /** The certificate itself, when a client sent it (a pin, /check). */
  leaf?: LeafInfo;
  /**
   * The certificate names this CRL (its CRL distribution point). Only then, or when the CRL is
   * complete for its issuer, is the certificate pinned or watched here (issuers/revocation.ts).
   */
  names?: boolean;
  /** An authenticated caller of /check: the certificate is watched (alerts, /status rows). */
  watch?: boolean;
  /** ALLOW_PRIVATE_RESPONDERS of the worker asking (never a client's). */
  allowPrivate?: boolean;
  /** Registered through the admin API: refreshed even when nobody asks, the leaf always watched. */
  pin?: boolean;
}

/** The held CRL, without its entries. */
export interface CrlMeta {
  url: string;
  issuerId: string;
  thisUpdate: number;
  nextUpdate: number;
  /** cRLNumber in decimal, or null. */
  number: string | null;
  signatureAlgorithm: string;
  revokedCount: number;
  chunks: number;
  fetchedAt: number;
  /**
   * The URLs its issuingDistributionPoint names: empty for a CRL complete for its issuer.
   * Undefined in metas stored before it was kept: not taken as complete until the next fetch.
   */
  idpUrls?: string[];
}

/** The CRL covers every certificate of its issuer (RFC 5280 §5.2.5: no IDP distribution point). */
export function isComplete(meta: Pick<CrlMeta, "idpUrls">): boolean {
  return meta.idpUrls !== undefined && meta.idpUrls.length === 0;
}

export interface CrlOwnerState extends Attempts {
  url: string;
  issuer: IssuerRecord;
  lastRequestedAt: number;
  /**
   * serialHex → the certificate, for the ledger's rows and the revocation alert: checked by an
   * authenticated caller (bounded by MAX_WATCHED). Reported only while this CRL speaks for it.
   */
  watched: Record<string, Watched>;
  /** serialHex → the certificate, pinned through the admin API (bounded by MAX_PINNED). */
  pins?: Record<string, Watched>;
  /**
   * 2: the watch lists hold only what the rule of issuers/revocation.ts lets in. Absent (stored
   * before): `watched` may hold anonymous checks and pins of other shards, and is dropped.
   */
  version?: 2;
  /** Whether the CRL URL may be private (the worker's setting at the last request). */
  allowPrivate: boolean;
  /** A certificate was registered with it: it never goes idle. */
  pinned?: boolean;
}

/** A certificate a CRL owner reports, and whether it names this CRL (its CRL distribution point). */
export interface Watched extends LeafInfo {
  names: boolean;
}

export interface CrlStatus {
  crl: CrlMeta;
  /** The serial is pinned or watched here, and this CRL speaks for it. */
  watches: boolean;
  /** The serial's entry, when it is listed (revoked); undefined: not listed (good). */
  revoked: RevocationFacts | undefined;
  /** Whether the CRL was fetched for this request. */
  fetched: boolean;
}

/** What the owner tells the fleet ledger after each fetch (metrics, /status, alerts). */
export interface CrlReport {
  url: string;
  issuerId: string;
  issuerSubject: string;
  at: number;
  ms: number;
  ok: boolean;
  failures: number;
  error?: string;
  rejectReason?: string;
  crl?: Pick<CrlMeta, "thisUpdate" | "nextUpdate" | "number">;
  /** Each watched certificate's status in the CRL now held (when one is valid). */
  certificates: {
    serial: string;
    subject: string;
    mustStaple: boolean;
    status: "good" | "revoked";
    revocationTime?: number;
    revocationReason?: string;
  }[];
}

export interface CrlInspection {
  state: CrlOwnerState | undefined;
  crl: CrlMeta | undefined;
  revoked: RevocationFacts | undefined;
  /** The serial is pinned or watched here. */
  watches: boolean;
}

/** The serial is pinned or watched here and `meta`'s CRL speaks for it (revocation.ts's rule). */
export function watching(state: CrlOwnerState, serial: string, meta: CrlMeta): boolean {
  const entry = state.pins?.[serial] ?? state.watched[serial];
  return entry !== undefined && (entry.names || isComplete(meta));
}
