// Unpinning (admin API): the certificate of an issuer with a given serial is no longer refreshed
// ahead of time: its SHA-1 CertID's owner and its issuer's CRL owners let it go. By serial (DELETE
// /admin/certificates/<issuer id>/<serial>), or as the one a renewal replaces (?replaces=).
// Bulk pinning: many leaves go to their issuers' pin queues (fleet/pin-queue.ts), drained at
// PIN_RATE_PER_MINUTE, and GET /admin/pins shows how far they are.

import { err, ok, type Result } from "../errors.ts";
import {
  INLINE_PINS,
  MAX_QUEUES_PER_REQUEST,
  type PinRequest,
  type PinTarget,
} from "../fleet/pin-queue.ts";
import { pinQueueOf, type PinQueue } from "../fleet/pin-queue-do.ts";
import type { QueueFigures } from "../fleet/pin-queue-logic.ts";
import { findIssuerOf, type IssuerIndex, type IssuerRecord } from "../issuers/issuer.ts";
import { httpCrlUrls, relaysOcsp, revocationSource } from "../issuers/revocation.ts";
import { log } from "../log.ts";
import { fromHex, toHex } from "../ocsp/bytes.ts";
import { serialHex, type CertificateFacts } from "../ocsp/certificate.ts";
import { certIdFor, certIdKey } from "../ocsp/request.ts";
import type { Relay } from "../relay.ts";
import type {
  PinProgressJson,
  PinQueueFiguresJson,
  QueuedIssuerJson,
  QueuedPinsJson,
  UnpinnedJson,
} from "../wire.ts";
import { leafInfo, serialAsEncoded } from "./check.ts";

/** Unpins the certificate of `issuer` with serial `hex` (its SHA-1 CertID's owner, its CRLs). */
export async function unpin(
  relay: Relay,
  issuer: IssuerRecord,
  issuerCert: CertificateFacts,
  hex: string,
): Promise<Result<UnpinnedJson>> {
  const typed = serialBytes(hex);
  if (!typed) return err(badSerial);
  // The serial as written, then as DER encodes it: a pin keys the certificate's own bytes, which
  // for a non-conforming CA may be neither minimal nor positive.
  const forms = [typed, serialAsEncoded(typed)];
  for (const serialNumber of toHex(forms[0]!) === toHex(forms[1]!) ? [typed] : forms) {
    const certId = await certIdFor(issuerCert, { serialNumber }, "SHA-1");
    const key = relaysOcsp(issuer) ? certIdKey(certId) : undefined;
    if (await relay.unpin(issuer, key, toHex(serialNumber))) {
      log("certificate.unpinned", { issuer: issuer.id, serial: toHex(serialNumber) });
      return ok({ issuer: issuer.id, serial: toHex(serialNumber), unpinned: true });
    }
  }
  return ok({ issuer: issuer.id, serial: toHex(serialAsEncoded(typed)), unpinned: false });
}

const badSerial = {
  kind: "malformed" as const,
  title: "bad serial",
  detail: "give the serial number in hex, e.g. 03a1f2",
};

function serialBytes(hex: string): Uint8Array | undefined {
  const typed = fromHex(hex.replace(/:/g, ""));
  return typed && typed.length > 0 && typed.length <= 40 ? typed : undefined;
}

/**
 * `?replaces=[<issuer id>/]<serial hex>`: the certificate a single renewed leaf replaces. Refused:
 * a bad serial, several leaves, or the renewal's own serial (it would unpin itself).
 */
export function replacedBy(
  given: string | undefined,
  leaves: readonly CertificateFacts[],
): Result<{ issuer: string | undefined; serial: string } | undefined> {
  if (given === undefined) return ok(undefined);
  const [issuer, serial] = given.includes("/") ? given.split("/", 2) : [undefined, given];
  const typed = serialBytes(serial ?? "");
  if (!typed) return err(badSerial);
  if (leaves.length !== 1)
    return err({
      kind: "malformed",
      title: "bad query",
      detail: "replaces= goes with one renewed leaf",
    });
  if (toHex(serialAsEncoded(typed)) === toHex(serialAsEncoded(leaves[0]!.serialNumber)))
    return err({
      kind: "malformed",
      title: "bad query",
      detail: "replaces= names the renewed certificate itself",
    });
  return ok({ issuer: issuer || undefined, serial: toHex(typed) });
}

// ---- Bulk pinning (issue 18 §4): queued per issuer, first fetched at PIN_RATE_PER_MINUTE ----

/** Issuers one page of GET /admin/pins asks: one call to each issuer's queue. */
export const PROGRESS_PAGE = 40;

/** Whether a POST /admin/certificates is queued: more than INLINE_PINS leaves, or ?queue=true. */
export function queuedPin(query: string | undefined, leaves: number): boolean {
  return leaves > INLINE_PINS || query === "true" || query === "1";
}

/**
 * Stores each leaf in its issuer's pin queue (one call per issuer, each stored before this
 * returns) and says what was queued; nothing is fetched here. A CRL-only issuer's leaves are queued
 * too (inline they cost two subrequests per CRL each); a leaf with no CRL to take its status from
 * is answered at once (nothing to fetch), an unregistered issuer's as inline.
 */
export async function queuePins(
  env: { PIN_QUEUE: DurableObjectNamespace<PinQueue> },
  leaves: readonly CertificateFacts[],
  index: IssuerIndex,
): Promise<Result<{ body: QueuedPinsJson; status: 200 | 202 | 404 }>> {
  const groups = new Map<string, { record: IssuerRecord; pins: PinRequest[] }>();
  const certificates: QueuedPinsJson["certificates"] = [];
  for (const leaf of leaves) {
    const serial = serialHex(leaf);
    const issuer = await findIssuerOf(leaf, index);
    if (!issuer) {
      certificates.push({ serial, subject: leaf.subjectText, error: "issuer not registered" });
      continue;
    }
    const source = revocationSource(issuer.record, leaf);
    if (source.kind === "none") {
      certificates.push({
        serial,
        subject: leaf.subjectText,
        revocationSource: "crl",
        status: "unknown",
        crl: { url: httpCrlUrls(leaf)[0] ?? null },
        problem: source.problem,
      });
      continue;
    }
    let target: PinTarget;
    if (source.kind === "ocsp") {
      const certId = await certIdFor(issuer.cert, leaf, "SHA-1");
      target = { kind: "ocsp", certIdKey: certIdKey(certId), certId };
    } else target = { kind: "crl", consult: source.consult, named: source.named };
    const group = groups.get(issuer.record.id) ?? { record: issuer.record, pins: [] };
    group.pins.push({ serial, leaf: leafInfo(leaf), target });
    groups.set(issuer.record.id, group);
  }
  if (groups.size > MAX_QUEUES_PER_REQUEST)
    return err({
      kind: "malformed",
      title: "too many issuers",
      detail: `one request may pin leaves of at most ${MAX_QUEUES_PER_REQUEST} issuers (this one: ${groups.size}); send them in several (npx ocsp-relay pin batches them)`,
    });
  const queued = await Promise.all(
    [...groups.values()].map(async ({ record, pins }): Promise<QueuedIssuerJson> => {
      const receipt = await pinQueueOf(env, record.id).enqueue(record.id, pins);
      log("pin.queued", {
        issuer: record.id,
        added: receipt.added,
        alreadyQueued: receipt.alreadyQueued,
        pending: receipt.pending,
      });
      return {
        ...figures(record, receipt),
        added: receipt.added,
        alreadyQueued: receipt.alreadyQueued,
      };
    }),
  );
  const unknown = certificates.filter((c) => c.error === "issuer not registered").length;
  const status = queued.length > 0 ? 202 : unknown === leaves.length ? 404 : 200;
  return ok({ body: { queued, certificates }, status });
}

/** GET /admin/pins: the queues of registered issuers, a page at a time (?page=, ?issuer=<id>). */
export async function pinProgress(
  env: { PIN_QUEUE: DurableObjectNamespace<PinQueue> },
  index: IssuerIndex,
  q: { page?: string | undefined; issuer?: string | undefined },
): Promise<PinProgressJson> {
  const records = q.issuer ? index.records.filter((r) => r.id === q.issuer) : index.records;
  const pages = Math.max(1, Math.ceil(records.length / PROGRESS_PAGE));
  const page = Math.min(pages, Math.max(1, Math.floor(Number(q.page ?? "1")) || 1));
  const shown = records.slice((page - 1) * PROGRESS_PAGE, page * PROGRESS_PAGE);
  const progress = await Promise.all(
    shown.map(async (r) => ({ r, p: await pinQueueOf(env, r.id).progress(r.id) })),
  );
  return {
    // An issuer never bulk-pinned is left out, unless asked for by id.
    issuers: progress
      .filter(({ p }) => q.issuer || p.pending + p.done + p.failed + p.cancelled > 0)
      .map(({ r, p }) => ({
        ...figures(r, p),
        retrying: p.retrying,
        done: p.done,
        failed: p.failed,
        cancelled: p.cancelled,
        lastError: p.lastError ?? null,
        lastErrorAt: iso(p.lastErrorAt),
        failures: p.failures.map((f) => ({ ...f, failedAt: iso(f.failedAt)! })),
      })),
    page,
    pages,
  };
}

function figures(record: IssuerRecord, f: QueueFigures): PinQueueFiguresJson {
  return {
    issuer: record.id,
    subject: record.subject,
    queueLength: f.pending,
    ratePerMinute: f.perMinute,
    nextDrainAt: iso(f.nextDrainAt),
    lastExpectedAt: iso(f.lastExpectedAt),
  };
}

const iso = (t: number | undefined) => (t === undefined ? null : new Date(t).toISOString());
