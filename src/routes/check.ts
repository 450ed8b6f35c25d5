// Checks for curl: `POST /check` with a PEM leaf (optionally followed by its issuer) answers, as
// JSON, what the relay serves for it and where that came from; `GET /check/<issuer id>/<serial
// hex>` shows the cached state without contacting the CA. Bodies are typed in src/wire.ts; errors
// are JSON.

import type { Hono } from "hono";
import type { CachedAnswer } from "../cache/record.ts";
import type { CrlHeld, Inspection, Relay } from "../relay.ts";
import type { CrlMeta } from "../fleet/crl-owner.ts";
import { httpCrlUrls, revocationSource, type CrlVerdict } from "../issuers/revocation.ts";
import type { OwnerState } from "../fleet/owner.ts";
import { readPemCertificates } from "../http/body.ts";
import { jsonErrorResponse } from "../http/errors.ts";
import { findIssuerOf, type IssuerRecord } from "../issuers/issuer.ts";
import { fromHex, toHex } from "../ocsp/bytes.ts";
import { HASH_NAMES } from "../ocsp/oids.ts";
import { serialHex, type CertificateFacts } from "../ocsp/certificate.ts";
import { certIdFor, certIdKey } from "../ocsp/request.ts";
import type { LeafInfo, Tier } from "../sources/source.ts";
import type { CheckedCertificateJson, CrlCheckJson, CrlJson, OcspCheckJson } from "../wire.ts";
import { requireFleetKeyOrAdmin, requireFleetKeyWhenClosed, type AppEnv } from "./auth.ts";
import { surfaceApp } from "./surface.ts";

export const MAX_CHECK_BYTES = 64 * 1024;

export function leafInfo(leaf: CertificateFacts): LeafInfo {
  return {
    subject: leaf.subjectText,
    mustStaple: leaf.mustStaple,
    notAfter: leaf.notAfter.getTime(),
  };
}

export function checkRoutes(): Hono<AppEnv> {
  const routes = surfaceApp("json");
  routes.use("*", requireFleetKeyWhenClosed);

  routes.post("/", async (c) => {
    const relay = c.get("relay");
    const certs = await readPemCertificates(c.req.raw, MAX_CHECK_BYTES, {
      empty: "send the certificate as PEM: curl --data-binary @site.pem …/check",
      tooLarge: "send one leaf certificate (and its issuer)",
    });
    if (!certs.ok) return jsonErrorResponse(certs.error);
    const leaf = certs.value.find((cert) => !cert.isCA);
    if (!leaf)
      return jsonErrorResponse({
        kind: "malformed",
        title: "no leaf certificate",
        detail: "send the server's certificate first (a CA alone has no OCSP status here)",
      });
    const now = relay.now();
    const index = await relay.registry.index(now);
    // The issuer sent along is only a hint: the registered issuer that really issued the leaf
    // (same name, and its key verifies the leaf's signature) is the one asked about.
    const found = await findIssuerOf(leaf, index);
    if (!found) {
      return jsonErrorResponse({
        kind: "unauthorized",
        cause: "issuerNotRegistered",
        detail: `register the issuer of "${leaf.subjectText}" first: POST /admin/issuers with the leaf followed by its issuer`,
      });
    }
    const certificate: CheckedCertificateJson = {
      subject: leaf.subjectText,
      serial: serialHex(leaf),
      notAfter: leaf.notAfter.toISOString(),
      mustStaple: leaf.mustStaple,
      ocspUrls: leaf.ocspUrls,
      crlUrls: leaf.crlUrls,
    };
    // A certificate without OCSP (or ?source=crl): its status in its issuer's registered CRLs
    // (only those are ever fetched: a leaf's CRLDP alone is not enough, no open proxy).
    const source = revocationSource(
      found.record,
      leaf,
      c.req.query("source") === "crl" ? "crl" : undefined,
    );
    if (source.kind !== "ocsp") {
      const verdict: CrlVerdict<CrlHeld> =
        source.kind === "none"
          ? { status: "unknown", problem: source.problem, shown: undefined }
          : await relay.crlVerdict({
              issuer: found.record,
              source,
              serial: serialHex(leaf),
              names: leaf,
              leaf: leafInfo(leaf),
              // An anonymous caller makes the relay fetch only the CRL the certificate names (or
              // its issuer's only one): not every shard of a CA's partitioned CRL.
              fetch: c.get("authenticated") === true ? "all" : "named",
              watch: c.get("authenticated") === true,
            });
      const url = httpCrlUrls(leaf)[0];
      return c.json(describeFromCrl({ now, issuer: found.record, certificate, url, verdict }));
    }
    const certId = await certIdFor(found.cert, leaf, "SHA-1");
    const key = certIdKey(certId);
    // Exactly what the OCSP endpoint serves for it (every tier, the CA last).
    const lookup = { key, certId, issuer: found.record, issuerCert: found.cert };
    const served = await relay.answer(lookup, {
      now,
      leaf: leafInfo(leaf),
      watch: c.get("authenticated") === true,
    });
    const { owner } = await relay.inspect(lookup);
    return c.json(
      describe({
        now,
        issuer: found.record,
        certificate,
        answer: served.ok ? served.value.answer : undefined,
        source: served.ok ? served.value.tier : undefined,
        problem: served.ok ? undefined : served.error.detail,
        owner,
      }),
    );
  });

  // The relay's state of any certificate: for the operator and the fleet, not anonymous clients.
  routes.get("/:issuer/:serial", requireFleetKeyOrAdmin, async (c) => {
    const relay = c.get("relay");
    const now = relay.now();
    const issuerId = c.req.param("issuer") ?? "";
    const record = (await relay.registry.index(now)).get(issuerId);
    if (!record)
      return jsonErrorResponse({
        kind: "unauthorized",
        cause: "issuerNotRegistered",
        detail: `no issuer with id ${issuerId}; GET /admin/issuers lists them`,
      });
    const typed = fromHex((c.req.param("serial") ?? "").replace(/:/g, ""));
    if (!typed || typed.length === 0 || typed.length > 40)
      return jsonErrorResponse({
        kind: "malformed",
        title: "bad serial",
        detail: "give the serial number in hex, e.g. 03a1f2",
      });
    const serial = serialAsEncoded(typed);
    const revocation = revocationSource(record, undefined);
    if (revocation.kind === "crl") {
      // An issuer registered for CRLs only: what its CRL owners hold (nothing is fetched).
      const verdict = await relay.crlVerdict({
        issuer: record,
        source: revocation,
        serial: toHex(serial),
        names: undefined,
        fetch: "none",
      });
      return c.json(
        describeFromCrl({
          now,
          issuer: record,
          certificate: { serial: toHex(serial) },
          url: undefined,
          verdict,
        }),
      );
    }
    const issuerCert = (await relay.registry.index(now)).certificate(record);
    // Cached state only, under each CertID hash a client may have used (SHA-1 first), through the
    // same tiers the OCSP endpoint reads (memory, edge cache, KV); the owner is asked for SHA-1
    // alone (the CertID nginx, HAProxy and openssl use, and pins), so a request costs at most one
    // Durable Object call. The CA is not asked.
    let found: Inspection | undefined;
    for (const hash of HASH_NAMES) {
      const certId = await certIdFor(issuerCert, { serialNumber: serial }, hash);
      const lookup = { key: certIdKey(certId), certId, issuer: record, issuerCert };
      const inspected = await relay.inspect(lookup, { owner: hash === "SHA-1" });
      found ??= inspected; // the SHA-1 owner's state when nothing is found
      if (inspected.served) {
        found = inspected;
        break;
      }
    }
    const owner = found?.owner ? { state: found.owner } : undefined;
    const answer = found?.served?.answer;
    const source = found?.served?.tier;
    const fresh = answer && now < answer.serveUntil ? answer : undefined;
    return c.json(
      describe({
        now,
        issuer: record,
        certificate: {
          serial: toHex(serial),
          ...(owner?.state?.leaf
            ? { subject: owner.state.leaf.subject, mustStaple: owner.state.leaf.mustStaple }
            : {}),
        },
        answer: fresh,
        source: fresh ? source : undefined,
        problem: fresh
          ? undefined
          : answer
            ? "the cached answer expired"
            : "nothing cached for this certificate",
        owner: owner?.state,
      }),
    );
  });
  routes.all("*", () =>
    jsonErrorResponse({
      kind: "notFound",
      title: "no such check",
      detail: "POST /check with a PEM certificate, or GET /check/<issuer id>/<serial hex>",
    }),
  );
  return routes;
}

function describe(d: {
  now: number;
  issuer: IssuerRecord;
  certificate: CheckedCertificateJson;
  answer: CachedAnswer | undefined;
  source: Tier | undefined;
  problem: string | undefined;
  owner: OwnerState | undefined;
}) {
  const a = d.answer;
  const revoked = a?.status === "revoked" ? a : undefined;
  const iso = (t: number | undefined) => (t === undefined ? null : new Date(t).toISOString());
  // A field set to undefined is left out of the JSON (JSON.stringify); written out here rather
  // than spread in, so that `satisfies` checks its name.
  return {
    certificate: d.certificate,
    issuer: { id: d.issuer.id, subject: d.issuer.subject },
    responderUrl: d.issuer.responderUrl ?? null,
    revocationSource: "ocsp",
    status: a ? a.status : "no answer",
    revocationTime: revoked ? iso(revoked.revocationTime) : undefined,
    revocationReason: revoked ? (revoked.revocationReason ?? null) : undefined,
    thisUpdate: iso(a?.thisUpdate),
    nextUpdate: iso(a?.nextUpdate),
    producedAt: iso(a?.producedAt),
    secondsLeft: a ? Math.max(0, Math.floor((a.serveUntil - d.now) / 1000)) : null,
    source: d.source ?? null,
    lastFetchedAt: iso(d.owner?.lastFetchAt ?? a?.fetchedAt),
    lastUpstreamError: d.owner?.lastError ?? null,
    lastUpstreamErrorAt: iso(d.owner?.lastErrorAt),
    pinned: d.owner?.pinned ?? false,
    problem: d.problem || undefined,
  } satisfies OcspCheckJson;
}

export function describeCrl(crl: CrlMeta) {
  return {
    url: crl.url,
    thisUpdate: new Date(crl.thisUpdate).toISOString(),
    nextUpdate: new Date(crl.nextUpdate).toISOString(),
    number: crl.number,
  } satisfies CrlJson;
}

/** /check's answer for a certificate whose status comes from its issuer's CRLs. */
function describeFromCrl(d: {
  now: number;
  issuer: IssuerRecord;
  certificate: CheckedCertificateJson;
  /** The CRL the certificate names, shown when no registered one is. */
  url: string | undefined;
  verdict: CrlVerdict<CrlHeld>;
}) {
  const iso = (t: number | undefined) => (t === undefined ? null : new Date(t).toISOString());
  const v = d.verdict;
  const s = v.status === "unknown" ? undefined : { ...v.by, crl: v.by.crl! };
  const shown = v.status === "unknown" ? v.shown : v.by;
  const state = shown?.state;
  return {
    certificate: d.certificate,
    issuer: { id: d.issuer.id, subject: d.issuer.subject },
    responderUrl: d.issuer.responderUrl ?? null,
    revocationSource: "crl",
    // Only a CRL that verified is believed: without one the status is unknown, and `problem` says why.
    status: s ? (s.revoked ? "revoked" : "good") : "unknown",
    // Undefined fields are left out of the JSON (as in describe).
    revocationTime: s?.revoked ? iso(s.revoked.revocationTime) : undefined,
    revocationReason: s?.revoked ? (s.revoked.reason ?? null) : undefined,
    crl: s ? describeCrl(s.crl) : { url: shown?.url ?? d.url ?? null },
    thisUpdate: iso(s?.crl.thisUpdate),
    nextUpdate: iso(s?.crl.nextUpdate),
    secondsLeft: s ? Math.max(0, Math.floor((s.crl.nextUpdate - d.now) / 1000)) : null,
    source: s ? (s.fetched ? "crl-fetch" : "crl-owner") : null,
    lastFetchedAt: iso(state?.lastFetchAt),
    lastUpstreamError: state?.lastError ?? null,
    lastUpstreamErrorAt: iso(state?.lastErrorAt),
    problem: v.status === "unknown" ? v.problem : undefined,
  } satisfies CrlCheckJson;
}

/**
 * A serial as the certificate's INTEGER encodes it (what CertIDs hold): no redundant leading zero
 * octets, and a leading 00 when the high bit is set. openssl prints `A001` for `00 A0 01`.
 */
export function serialAsEncoded(typed: Uint8Array): Uint8Array {
  let start = 0;
  while (start < typed.length - 1 && typed[start] === 0 && typed[start + 1]! < 0x80) start++;
  const bytes = typed.subarray(start);
  if (bytes[0]! >= 0x80) {
    const padded = new Uint8Array(bytes.length + 1);
    padded.set(bytes, 1);
    return padded;
  }
  return bytes;
}
