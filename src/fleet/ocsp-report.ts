// What a CertID's owner tells the fleet ledger (metrics, /status, alerts): about each fetch, its
// FetchReport, built from the owner after the OCSP rules took the CA's answer; when it lets the
// certificate go, its RetireReport. Pure.

import type { CachedAnswer } from "../cache/record.ts";
import type { Result } from "../errors.ts";
import { toHex } from "../ocsp/bytes.ts";
import type { FetchReport, RetireReason, RetireReport } from "./ledger.ts";
import type { OcspOwner, OwnerState } from "./owner-types.ts";
import type { UpstreamResult } from "./upstream.ts";

/**
 * What the owner tells the fleet ledger about a fetch (metrics, status page, alerts). `fetched` is
 * what fleet/upstream.ts answered, as it answered it: its `getFallback` note is counted.
 */
export function report(
  o: OcspOwner,
  at: number,
  ms: number,
  accepted: Result<CachedAnswer>,
  fetched: UpstreamResult,
  stillValid: CachedAnswer | undefined,
): FetchReport {
  const state = o.state!;
  const a = accepted.ok ? accepted.value : undefined;
  return {
    certIdKey: state.certIdKey,
    issuerId: state.issuer.id,
    issuerSubject: state.issuer.subject,
    responderUrl: state.issuer.responderUrl ?? "",
    serial: toHex(state.certId.serialNumber),
    at,
    ms,
    ok: accepted.ok,
    failures: state.failures,
    pinned: state.pinned,
    vouched: Boolean(state.vouched),
    ...(state.watched ? { watched: true } : {}),
    ...(state.forgetAt !== undefined ? { forgetAt: state.forgetAt } : {}),
    ...(state.leaf ? { subject: state.leaf.subject, mustStaple: state.leaf.mustStaple } : {}),
    ...(a
      ? {
          status: a.status,
          thisUpdate: a.thisUpdate,
          nextUpdate: a.nextUpdate,
          serveUntil: a.serveUntil,
          ...(a.revocationTime !== undefined ? { revocationTime: a.revocationTime } : {}),
          ...(a.revocationReason ? { revocationReason: a.revocationReason } : {}),
        }
      : {}),
    ...(!accepted.ok ? { error: accepted.error.detail } : {}),
    ...(!fetched.ok && fetched.error.kind === "tryLater" && fetched.error.reason
      ? { rejectReason: fetched.error.reason }
      : {}),
    ...(!accepted.ok && stillValid ? { heldNextUpdate: stillValid.serveUntil } : {}),
    ...(!o.memory.revokedBefore && state.revokedSeen ? { revokedFirstSeen: true } : {}),
    ...(fetched.ok && a && fetched.value.status !== a.status ? { inconsistent: true } : {}),
    ...(fetched.getFallback ? { getFallback: true } : {}),
  };
}

/** What the owner tells the fleet ledger when it lets the certificate go (forgets it, or unpinned). */
export function retired(state: OwnerState, reason: RetireReason, at: number): RetireReport {
  return {
    retired: reason,
    certIdKey: state.certIdKey,
    issuerId: state.issuer.id,
    serial: toHex(state.certId.serialNumber),
    at,
    ...(reason === "unpinned" && state.forgetAt !== undefined ? { forgetAt: state.forgetAt } : {}),
  };
}
