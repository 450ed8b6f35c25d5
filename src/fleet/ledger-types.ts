// What the fleet ledger takes and keeps (fleet/ledger.ts): the owners' fetch reports, its
// per-certificate and per-issuer summaries, the alerts it sends, and what it is given. Types only.

/** What an owner reports after each attempt to fetch from the CA. Times are epoch ms. */
export interface FetchReport {
  certIdKey: string;
  issuerId: string;
  issuerSubject: string;
  responderUrl: string;
  serial: string;
  at: number;
  ms: number;
  ok: boolean;
  status?: "good" | "revoked" | "unknown";
  revocationTime?: number;
  revocationReason?: string;
  thisUpdate?: number;
  nextUpdate?: number;
  /** Until when the answer is served (nextUpdate, sooner for `unknown`). */
  serveUntil?: number;
  error?: string;
  /** The core's rejection reason when the CA's answer was refused. */
  rejectReason?: string;
  /** nextUpdate of the valid answer still held after a failure, if any. */
  heldNextUpdate?: number;
  failures: number;
  pinned: boolean;
  /** The CA has answered `good` or `revoked` for this CertID: a real certificate, not a guess. */
  vouched?: boolean;
  /** Checked by an authenticated caller of /check: alerts as a pinned certificate does. */
  watched?: boolean;
  subject?: string;
  mustStaple?: boolean;
  /** This fetch was the first validly signed `revoked` for the CertID. */
  revokedFirstSeen?: boolean;
  /** The CA answered `good` after `revoked`: not served. */
  inconsistent?: boolean;
  /** Not worth refreshing (unpinned, never answered good or revoked): its owner forgets it then. */
  forgetAt?: number;
  /** Where the status comes from: an OCSP answer (default), or the issuer's CRL. */
  revocationSource?: "ocsp" | "crl";
}

export interface CertSummary {
  certIdKey: string;
  issuerId: string;
  serial: string;
  subject?: string;
  mustStaple: boolean;
  pinned: boolean;
  status?: "good" | "revoked" | "unknown";
  revocationTime?: number;
  revocationReason?: string;
  thisUpdate?: number;
  nextUpdate?: number;
  serveUntil?: number;
  lastFetchAt: number;
  lastSuccessAt?: number;
  lastError?: string;
  lastErrorAt?: number;
  failures: number;
  /** A guessed CertID (not worth refreshing): dropped from the ledger at this time, as its owner forgets it. */
  forgetAt?: number;
  /** "crl" for a certificate without OCSP whose status comes from its issuer's CRL. */
  revocationSource?: "ocsp" | "crl";
}

export interface IssuerHealth {
  issuerId: string;
  subject: string;
  responderUrl: string;
  fetches: number;
  errors: number;
  rejections: number;
  latencyMsSum: number;
  consecutiveFailures: number;
  lastSuccessAt?: number;
  lastFailureAt?: number;
  lastError?: string;
}

export interface FailureEntry {
  at: number;
  certIdKey: string;
  issuerId: string;
  serial: string;
  error: string;
}

export interface LedgerSnapshot {
  counters: Record<string, number>;
  issuers: IssuerHealth[];
  certs: CertSummary[];
  failures: FailureEntry[];
}

export type AlertKind = "certificate.revoked" | "mustStaple.atRisk" | "responder.failing";

export interface Alert {
  kind: AlertKind;
  at: string;
  message: string;
  [field: string]: unknown;
}

export interface AlertConfig {
  /** A Must-Staple certificate is at risk once its answer has less than this left and refresh fails. */
  mustStapleMarginMs: number;
  /** A responder is failing after this many consecutive failed fetches. */
  responderFailures: number;
}

export interface LedgerStorage {
  get<T>(key: string): Promise<T | undefined>;
  put<T>(key: string, value: T): Promise<void>;
  delete(key: string): Promise<boolean>;
  list<T>(options: { prefix: string }): Promise<Map<string, T>>;
}

export interface LedgerDeps {
  storage: LedgerStorage;
  now: () => number;
  /** Delivers an alert (the webhook); undefined when no webhook is configured. */
  sendAlert: ((alert: Alert) => Promise<void>) | undefined;
  alerts: AlertConfig;
  /** Keeps work alive after the call returns (DurableObjectState.waitUntil). */
  background?: (work: Promise<unknown>) => void;
}
