// What the fleet ledger takes and keeps (fleet/ledger.ts): the owners' reports (each fetch, and
// each certificate they let go), its per-certificate and per-issuer summaries, the alerts it sends, what it is given, and what it
// gives /metrics and /status. Types only.

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
  /** The responder refused the GET and the request was POSTed at once (fleet/upstream.ts). */
  getFallback?: true;
}

/**
 * Why an owner let a certificate go: it forgot it because its notAfter passed ("ended") or nobody
 * asked for IDLE_REFRESH_SECONDS ("idle"), or the operator unpinned it ("unpinned": DELETE
 * /admin/certificates, or its renewal replaced it). A guess's window ending is not reported: the
 * ledger has its `forgetAt` from the report that set it, and drops the row then on its own.
 */
export type RetireReason = "ended" | "idle" | "unpinned";

/** What an owner reports when it lets a certificate go (fleet/ocsp-report.ts `retired`). */
export interface RetireReport {
  retired: RetireReason;
  certIdKey: string;
  issuerId: string;
  serial: string;
  at: number;
  /** "unpinned" and never vouched for: not refreshed any more, its owner forgets it then. */
  forgetAt?: number;
}

/** Everything a certificate's owner tells the ledger (LedgerLogic.report). */
export type OwnerReport = FetchReport | RetireReport;

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
  /**
   * When the operator unpinned it (and nobody registered it since: neither pinned nor watched).
   * Still a certificate clients may ask for, refreshed while they do, but never counted at risk:
   * its operator retired it, and it alerts no more.
   */
  unpinnedAt?: number;
  /** Its CA fetches (OCSP): counted here, not in a row per issuer (fleet/ledger-totals.ts). */
  fetched?: FetchCounts;
  /** Those of them made while it was registered or vouched for: what judges its issuer's table. */
  judged?: FetchCounts;
}

/** One certificate's fetches, or an issuer's. */
export interface FetchCounts {
  fetches: number;
  /** Failed (network, HTTP, an error response): `result="error"`. */
  errors: number;
  /** Refused by the verifier: `result="rejected"`. */
  rejections: number;
  latencyMsSum: number;
}

/**
 * An issuer's responder: its verdict (stored when it changes) and its fetches. As stored, the
 * counts are a CRL's fetches and those from before rows counted them; the pages show them with the
 * certificate rows' and `retiredFetches` added (fleet/ledger-totals.ts).
 */
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

/** The ledger's rows other than certificates: a few per issuer, read whole. */
export interface LedgerHead {
  counters: Record<string, number>;
  issuers: IssuerHealth[];
  failures: FailureEntry[];
}

/** Everything the ledger holds, every certificate row included (tests, small fleets). */
export interface LedgerSnapshot extends LedgerHead {
  certs: CertSummary[];
}

/** The head and what one pass over the certificate rows kept of them (`LedgerLogic.view`). */
export type LedgerView<R> = LedgerHead & { certificates: R };

/** A certificate's last status as the pages count it: `none` when it was never answered. */
export type StatusLabel = NonNullable<CertSummary["status"]> | "none";

/**
 * What one pass over the certificate rows feeds, one row at a time: /metrics and /status each
 * keep only what they show (metrics/prometheus.ts, status/page.ts), so a pass holds one batch of
 * rows and a bounded digest, never the whole fleet.
 */
export interface CertificateVisitor {
  add(cert: CertSummary): void;
  /** Asked after a pass (`LedgerLogic.view`): true for one more over the same rows. */
  again?(): boolean;
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
  /**
   * Rows under `prefix` in key order, as Durable Object storage lists them: after `startAfter`, at
   * most `limit` (the ledger reads its certificate rows a batch at a time).
   */
  list<T>(options: {
    prefix: string;
    startAfter?: string;
    limit?: number;
  }): Promise<Map<string, T>>;
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

// ---------------------------------------------------------------------------------------------
// What the ledger gives /metrics and /status: what their digests (metrics/prometheus.ts
// MetricsDigest, status/page.ts StatusDigest) keep of a pass over the certificate rows.

export interface MetricsQuery {
  now: number;
  /** A Must-Staple certificate is at risk below this much validity left (and failing refresh). */
  mustStapleMarginMs: number;
  /** `troubled` (default): per-certificate series only for those at risk or failing, capped. */
  certificates: "troubled" | "all";
}

/** One issuer's certificates, counted. */
export interface IssuerCertificateMetrics {
  issuerId: string;
  byStatus: Record<StatusLabel, number>;
  atRisk: number;
  failing: number;
  /** Valid answers per bucket of TIME_LEFT_BUCKETS_S (not cumulative), then those above the last. */
  buckets: number[];
  /** Valid answers and the sum of their seconds left (the histogram's _count and _sum). */
  valid: number;
  leftSecondsSum: number;
}

/**
 * The per-certificate series, column by column: ?certificates=all sends one entry per valid answer
 * from the ledger, and columns take about 45 bytes each across the RPC where an object each takes
 * 120 (whose 32 MiB limit they would reach near 280 000 certificates). `issuer` indexes `issuers`.
 */
export interface CertificateSeries {
  issuer: number[];
  serial: string[];
  servedUntil: number[];
}

/** What /metrics shows of the certificate rows: bounded unless every series was asked for. */
export interface CertificateMetrics {
  valid: number;
  soonestServedUntil?: number;
  issuers: IssuerCertificateMetrics[];
  series: CertificateSeries;
  omitted: number;
}

export type LedgerMetrics = LedgerView<CertificateMetrics>;

export interface StatusQuery {
  now: number;
  /** A Must-Staple certificate is at risk below this much validity left. */
  mustStapleMarginMs: number;
  /** Shows only certificates whose serial (hex, colons ignored) or subject holds this, any case. */
  q?: string;
  /** 1-based; past the last page, the last page. */
  page?: number;
  pageSize?: number;
}

/** One issuer's certificates, counted (and the whole fleet's, as issuerId "all"). */
export interface CertificateCounts {
  issuerId: string;
  total: number;
  valid: number;
  byStatus: Record<StatusLabel, number>;
  atRisk: number;
  failing: number;
}

/** What /status shows of the certificate rows: counts, the at-risk list, one page. */
export interface CertificateStatus {
  all: CertificateCounts;
  issuers: CertificateCounts[];
  /** The first AT_RISK_LISTED (status/page.ts) certificates at risk, soonest expiry first. */
  atRisk: CertSummary[];
  q: string;
  page: number;
  pageSize: number;
  /** Certificates the search matched (all of them without one). */
  matched: number;
  rows: CertSummary[];
}

export type LedgerStatus = LedgerView<CertificateStatus>;
