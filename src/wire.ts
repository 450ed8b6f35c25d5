// Every JSON body the relay sends, typed once: the routes build them with `satisfies`, the CLI
// (src/cli/) reads them through these types, so a field renamed on one side fails the typecheck
// on the other. Types only, no imports but types: the worker and the CLI (Node) both compile it.

import type { HashName } from "./ocsp/oids.ts";

/** An instant as `Date.prototype.toISOString()` writes it. */
export type Instant = string;

/** A certificate's status as RFC 6960 §2.2 names it. */
export type CertStatusJson = "good" | "revoked" | "unknown";

/** Every JSON error (src/http/errors.ts jsonErrorResponse). */
export interface ErrorJson {
  /** A short title: "issuer not registered", "bad PEM", "internal error", ... */
  error: string;
  /** What to do about it; never given for an internal error. */
  detail?: string;
}

/** GET /healthz. */
export interface HealthJson {
  ok: true;
  /** How many issuers this isolate's copy of the registry holds. */
  issuers: number;
}

// ---- the admin API (src/routes/admin.ts) ----

/** A registered issuing CA. */
export interface IssuerJson {
  id: string;
  subject: string;
  /** The OCSP responder the relay asks; null: registered for CRLs only. */
  responderUrl: string | null;
  crlUrls: string[];
  /** Its CertID hashes under each algorithm (RFC 6960 §4.1.1), hex. */
  hashes: Record<HashName, { nameHash: string; keyHash: string }>;
  notAfter: Instant;
  createdAt: Instant;
}

/** GET /admin/issuers. */
export interface IssuerListJson {
  issuers: IssuerJson[];
}

/** POST /admin/issuers (201 new, 200 updated): the issuer, and the leaf sent along, pinned. */
export interface RegisteredIssuerJson extends IssuerJson {
  warmed: PinJson[];
}

/** POST /admin/certificates: one result per leaf sent (404 when the only one is unknown). */
export interface PinnedCertificatesJson {
  certificates: (PinJson | UnregisteredLeafJson)[];
  /** With ?replaces=<serial>: the certificate the pinned one renews, unpinned. */
  replaced?: UnpinnedJson;
}

/**
 * POST /admin/certificates with more than 8 leaves, or ?queue=true (202 when anything was queued):
 * the leaves stored in their issuers' pin queues, first fetched at PIN_RATE_PER_MINUTE per issuer.
 */
export interface QueuedPinsJson {
  queued: QueuedIssuerJson[];
  /** Leaves not queued: of an unregistered issuer, or with no CRL to take their status from. */
  certificates: (UnregisteredLeafJson | CrlPinJson)[];
}

/** Where an issuer's pin queue stands: what waits, the rate, when the last one is expected. */
export interface PinQueueFiguresJson {
  issuer: string;
  subject: string;
  /** Pins waiting in the queue (retries of failed attempts included). */
  queueLength: number;
  ratePerMinute: number;
  /** When the queue's next drain runs; null when nothing waits. */
  nextDrainAt: Instant | null;
  /** When the last pin waiting is expected to be fetched at the rate; null when nothing waits. */
  lastExpectedAt: Instant | null;
}

/** One issuer's part of a bulk pin. */
export interface QueuedIssuerJson extends PinQueueFiguresJson {
  /** Leaves of this request added to the queue. */
  added: number;
  /** Leaves of this request already waiting (one entry per certificate). */
  alreadyQueued: number;
}

/** GET /admin/pins: each issuer whose queue ever held anything (40 issuers a page). */
export interface PinProgressJson {
  issuers: IssuerPinProgressJson[];
  page: number;
  pages: number;
}

export interface IssuerPinProgressJson extends PinQueueFiguresJson {
  /** Of the queue, waiting for a retry after a failed attempt. */
  retrying: number;
  /** Pinned since the queue began. */
  done: number;
  /** Given up after their attempts (listed below, the first 10); queue them again to retry. */
  failed: number;
  /** Dropped because the issuer was deleted. */
  cancelled: number;
  lastError: string | null;
  lastErrorAt: Instant | null;
  failures: FailedPinJson[];
}

export interface FailedPinJson {
  serial: string;
  subject: string;
  attempts: number;
  error: string;
  failedAt: Instant;
}

/** DELETE /admin/certificates/<issuer id>/<serial>: the certificate is no longer pinned. */
export interface UnpinnedJson {
  issuer: string;
  serial: string;
  /** It was pinned (by its owner or one of its issuer's CRLs); false: nothing to unpin. */
  unpinned: boolean;
}

/** A leaf of a registered issuer, pinned: its OCSP answer, or its status in a CRL. */
export type PinJson = OcspPinJson | CrlPinJson;

/** A leaf pinned by its SHA-1 CertID (what nginx, HAProxy and openssl ask with) and fetched. */
export interface OcspPinJson {
  serial: string;
  subject: string;
  /** Absent: the status comes from OCSP. */
  revocationSource?: never;
  certId: string;
  pinned: true;
  /** The CA's answer, when the fetch succeeded. */
  status?: CertStatusJson;
  nextUpdate?: Instant;
  /** Why the fetch failed. */
  error?: string;
}

/** A leaf without OCSP: its status in the issuer's CRLs that speak for it, which watch it. */
export interface CrlPinJson {
  serial: string;
  subject: string;
  revocationSource: "crl";
  status: CertStatusJson;
  /** When revoked. */
  revocationTime?: Instant;
  revocationReason?: string | null;
  crl: CrlJson;
  /** Why the status is unknown. */
  problem?: string;
  error?: never;
}

/** A leaf whose issuer is not registered (POST /admin/certificates). */
export interface UnregisteredLeafJson {
  serial: string;
  subject: string;
  revocationSource?: never;
  error: "issuer not registered";
}

/**
 * A CRL: the one that gave the status (url, its window and cRLNumber), or, when none verified,
 * only where it would be (`url`, null when the certificate names none).
 */
export interface CrlJson {
  url: string | null;
  thisUpdate?: Instant;
  nextUpdate?: Instant;
  /** cRLNumber in decimal, or null. */
  number?: string | null;
}

// ---- /check (src/routes/check.ts) ----

/** POST /check and GET /check/<issuer id>/<serial hex>: from OCSP, or from the issuer's CRLs. */
export type CheckJson = OcspCheckJson | CrlCheckJson;

/** The certificate asked about: the leaf sent (POST), or only its serial (GET). */
export type CheckedCertificateJson =
  | {
      subject: string;
      serial: string;
      notAfter: Instant;
      mustStaple: boolean;
      ocspUrls: string[];
      crlUrls: string[];
    }
  | { serial: string; subject?: string; mustStaple?: boolean };

/** What both kinds of /check answer say. */
interface CheckBaseJson {
  certificate: CheckedCertificateJson;
  issuer: { id: string; subject: string };
  responderUrl: string | null;
  /** When revoked. */
  revocationTime?: Instant | null;
  revocationReason?: string | null;
  thisUpdate: Instant | null;
  nextUpdate: Instant | null;
  /** How long the answer may still be served, null without one. */
  secondsLeft: number | null;
  lastFetchedAt: Instant | null;
  lastUpstreamError: string | null;
  lastUpstreamErrorAt: Instant | null;
  /** Why there is no answer, or why the status is unknown. */
  problem?: string;
}

/** /check of a certificate whose status comes from OCSP: what the OCSP endpoint serves for it. */
export interface OcspCheckJson extends CheckBaseJson {
  revocationSource: "ocsp";
  status: CertStatusJson | "no answer";
  producedAt: Instant | null;
  /** The tier that answered (memory, edge, kv, owner, upstream), null without an answer. */
  source: string | null;
  /** Whether its owner refreshes it ahead of expiry. */
  pinned: boolean;
  crl?: never;
}

/** /check of a certificate whose status comes from its issuer's CRLs. */
export interface CrlCheckJson extends CheckBaseJson {
  revocationSource: "crl";
  /** Only a CRL that verified is believed: without one the status is unknown. */
  status: CertStatusJson;
  crl: CrlJson;
  /** The CRL was fetched for this request, or its owner held it; null without one. */
  source: "crl-fetch" | "crl-owner" | null;
}
