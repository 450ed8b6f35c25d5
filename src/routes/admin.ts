// The admin API, behind `Authorization: Bearer <ADMIN_TOKEN>`: register, list and delete issuing
// CAs, pin leaf certificates. Without ADMIN_TOKEN configured the whole API answers 403; the OCSP
// endpoint is unaffected. Bodies are typed in src/wire.ts; errors are JSON.

import type { Hono } from "hono";
import { requireAdmin, type AppEnv } from "./auth.ts";
import { readPemCertificates } from "../http/body.ts";
import { jsonErrorResponse } from "../http/errors.ts";
import { findIssuerOf, makeIssuerRecord, type IssuerRecord } from "../issuers/issuer.ts";
import { checkResponderUrl } from "../issuers/responder-url.ts";
import { httpCrlUrls, revocationSource } from "../issuers/revocation.ts";
import { log } from "../log.ts";
import { serialHex, type CertificateFacts } from "../ocsp/certificate.ts";
import { certIdFor, certIdKey } from "../ocsp/request.ts";
import { describeCrl, leafInfo } from "./check.ts";
import { pinProgress, queuedPin, queuePins, replacedBy, unpin } from "./pins.ts";
import { ok } from "../errors.ts";
import { issuedBy } from "../ocsp/signature.ts";
import type { Relay } from "../relay.ts";
import type {
  CrlPinJson,
  IssuerJson,
  IssuerListJson,
  OcspPinJson,
  PinJson,
  PinnedCertificatesJson,
  PinProgressJson,
  QueuedPinsJson,
  RegisteredIssuerJson,
  UnregisteredLeafJson,
  UnpinnedJson,
} from "../wire.ts";
import { surfaceApp } from "./surface.ts";

/** Largest PEM body accepted by the admin API. */
export const MAX_PEM_BYTES = 256 * 1024;

export function adminRoutes(): Hono<AppEnv> {
  const admin = surfaceApp("json");
  admin.use("*", requireAdmin);

  admin.get("/issuers", async (c) => {
    const relay = c.get("relay");
    const index = await relay.registry.list(relay.now()); // from the Registrar: every stored change
    return c.json({ issuers: index.records.map(describeIssuer) } satisfies IssuerListJson);
  });

  admin.post("/issuers", async (c) => {
    const relay = c.get("relay");
    const certs = await readPemCertificates(c.req.raw, MAX_PEM_BYTES, {
      empty: "send the issuing CA certificate as PEM, or a leaf followed by its issuer",
    });
    if (!certs.ok) return jsonErrorResponse(certs.error);
    const chosen = await chooseIssuer(certs.value, c.req.query("responder"), c.req.query("crl"));
    if (!chosen.ok)
      return jsonErrorResponse({ kind: "malformed", title: chosen.error, detail: chosen.detail });
    // The same no-open-proxy rules for a responder and a CRL: the only URLs the relay will fetch.
    const allowPrivate = relay.config.allowPrivateResponders;
    const url = chosen.responderUrl
      ? checkResponderUrl(chosen.responderUrl, allowPrivate)
      : undefined;
    if (url && !url.ok)
      return jsonErrorResponse({
        kind: "malformed",
        title: "responder URL refused",
        detail: url.detail,
      });
    const crl = chosen.crlUrl ? checkResponderUrl(chosen.crlUrl, allowPrivate) : undefined;
    if (crl && !crl.ok)
      return jsonErrorResponse({ kind: "malformed", title: "CRL URL refused", detail: crl.detail });
    const now = relay.now();
    const { created, record } = await relay.registry.upsert(
      await makeIssuerRecord(
        chosen.issuer,
        { responderUrl: url?.url, crlUrls: crl ? [crl.url] : undefined },
        new Date(now),
      ),
      now,
    );
    log("issuer.registered", {
      issuer: record.id,
      subject: record.subject,
      responder: record.responderUrl ?? null,
      crls: record.crlUrls ?? [],
      created,
    });
    // A leaf sent along is pinned and its answer fetched now, before the first handshake (or, for
    // a certificate without OCSP, its CRL fetched and its status in it looked up).
    const warmed = chosen.leaf ? [await pinLeaf(relay, chosen.leaf, record, chosen.issuer)] : [];
    return c.json(
      { ...describeIssuer(record), warmed } satisfies RegisteredIssuerJson,
      created ? 201 : 200,
    );
  });

  // Pin and warm leaf certificates of registered issuers (PEM; CA certs are skipped): up to
  // INLINE_PINS at once, more through their issuers' pin queues (routes/pins.ts).
  admin.post("/certificates", async (c) => {
    const relay = c.get("relay");
    const certs = await readPemCertificates(c.req.raw, MAX_PEM_BYTES, {
      empty: "send leaf certificates as PEM",
    });
    if (!certs.ok) return jsonErrorResponse(certs.error);
    const leaves = certs.value.filter((cert) => !cert.isCA);
    if (leaves.length === 0)
      return jsonErrorResponse({
        kind: "malformed",
        title: "no leaf certificate",
        detail: "send the leaf certificates to pin",
      });
    const index = await relay.registry.index(relay.now());
    // ?replaces=[<issuer id>/]<serial hex>: checked before anything is pinned.
    const replaces = replacedBy(c.req.query("replaces"), leaves);
    if (!replaces.ok) return jsonErrorResponse(replaces.error);
    // Many leaves: stored in their issuers' pin queues, answered at once, fetched at the rate.
    if (queuedPin(c.req.query("queue"), leaves.length)) {
      if (replaces.value)
        return jsonErrorResponse({
          kind: "malformed",
          title: "bad query",
          detail: "replaces= pins the renewal at once: leave out queue=",
        });
      const queued = await queuePins(c.env, leaves, index);
      if (!queued.ok) return jsonErrorResponse(queued.error);
      return c.json(queued.value.body satisfies QueuedPinsJson, queued.value.status);
    }
    const results: PinnedCertificatesJson["certificates"] = [];
    const issuers = [];
    for (const leaf of leaves) {
      const issuer = await findIssuerOf(leaf, index);
      issuers.push(issuer);
      results.push(
        issuer
          ? await pinLeaf(relay, leaf, issuer.record, issuer.cert)
          : ({
              serial: serialHex(leaf),
              subject: leaf.subjectText,
              error: "issuer not registered",
            } satisfies UnregisteredLeafJson),
      );
    }
    const anyUnknown = results.some((r) => r.error === "issuer not registered");
    // A server's renewed certificate retires the one it replaces: that one is unpinned, so it stops
    // being refreshed now rather than when it ends (of the issuer named, else the renewal's).
    const old = replaces.value;
    const oldIssuer = old && (old.issuer ? index.get(old.issuer) : issuers[0]?.record);
    const replaced =
      old && oldIssuer
        ? await unpin(relay, oldIssuer, index.certificate(oldIssuer), old.serial)
        : old
          ? ok({ issuer: old.issuer ?? "", serial: old.serial, unpinned: false })
          : undefined;
    if (replaced && !replaced.ok) return jsonErrorResponse(replaced.error);
    return c.json(
      {
        certificates: results,
        ...(replaced ? { replaced: replaced.value } : {}),
      } satisfies PinnedCertificatesJson,
      anyUnknown && results.length === 1 ? 404 : 200,
    );
  });

  // How far the pin queues are: per issuer, bounded (no listing of entries).
  admin.get("/pins", async (c) => {
    const relay = c.get("relay");
    const index = await relay.registry.index(relay.now());
    const q = { page: c.req.query("page"), issuer: c.req.query("issuer") };
    return c.json((await pinProgress(c.env, index, q)) satisfies PinProgressJson);
  });

  // Unpin a certificate: it is refreshed from then on only while clients ask for it.
  admin.delete("/certificates/:issuer/:serial", async (c) => {
    const relay = c.get("relay");
    const index = await relay.registry.index(relay.now());
    const record = index.get(c.req.param("issuer") ?? "");
    if (!record)
      return jsonErrorResponse({
        kind: "notFound",
        title: "no such issuer",
        detail: c.req.param("issuer") ?? "",
      });
    const done = await unpin(relay, record, index.certificate(record), c.req.param("serial") ?? "");
    if (!done.ok) return jsonErrorResponse(done.error);
    return done.value.unpinned
      ? c.json(done.value satisfies UnpinnedJson)
      : jsonErrorResponse({
          kind: "notFound",
          title: "not pinned",
          detail: `serial ${done.value.serial} of issuer ${record.id} is not pinned`,
        });
  });

  admin.delete("/issuers/:id", async (c) => {
    const relay = c.get("relay");
    const id = c.req.param("id");
    if (!(await relay.registry.remove(id, relay.now())))
      return jsonErrorResponse({ kind: "notFound", title: "no such issuer", detail: id });
    log("issuer.deleted", { issuer: id });
    return c.body(null, 204);
  });

  admin.all("*", () =>
    jsonErrorResponse({ kind: "notFound", title: "no such admin endpoint", detail: "" }),
  );
  return admin;
}

export function describeIssuer(r: IssuerRecord): IssuerJson {
  return {
    id: r.id,
    subject: r.subject,
    responderUrl: r.responderUrl ?? null,
    crlUrls: r.crlUrls ?? [],
    hashes: r.hashes,
    notAfter: r.notAfter,
    createdAt: r.createdAt,
  };
}

type Chosen =
  | {
      ok: true;
      issuer: CertificateFacts;
      responderUrl: string | undefined;
      crlUrl: string | undefined;
      leaf?: CertificateFacts;
    }
  | { ok: false; error: string; detail: string };

/** The first http(s) CRL distribution point of a certificate (ldap and others are not fetched). */
const httpCrlUrl = (cert: CertificateFacts) => httpCrlUrls(cert)[0];

/**
 * The issuer to register from the PEM: a lone CA certificate (responder from ?responder=, CRL
 * from ?crl=), or a leaf followed by its issuer (responder from the leaf's AIA id-ad-ocsp unless
 * ?responder= is given; CRL from ?crl=, or from the leaf's CRL distribution point when the leaf
 * names no OCSP responder: RFC 5280 §4.2.1.13).
 */
export async function chooseIssuer(
  certs: CertificateFacts[],
  responder: string | undefined,
  crl?: string,
): Promise<Chosen> {
  const [first, second] = certs;
  if (!first) return { ok: false, error: "bad PEM", detail: "no certificate" };
  if (first.isCA) {
    if (!responder && !crl) {
      return {
        ok: false,
        error: "responder URL required",
        detail:
          "give ?responder=URL (or ?crl=URL for a CA that publishes revocation by CRL only), or send a leaf certificate followed by this CA so its AIA names the responder",
      };
    }
    return { ok: true, issuer: first, responderUrl: responder, crlUrl: crl };
  }
  if (!second)
    return {
      ok: false,
      error: "not a CA certificate",
      detail: `"${first.subjectText}" is not a CA; send the issuing CA, or the leaf followed by its issuer`,
    };
  if (!second.isCA)
    return {
      ok: false,
      error: "not a CA certificate",
      detail: `"${second.subjectText}" is not a CA`,
    };
  if (!(await issuedBy(first, second)))
    return {
      ok: false,
      error: "not the issuer",
      detail: `"${second.subjectText}" did not issue "${first.subjectText}"`,
    };
  const url = responder ?? first.ocspUrls[0];
  const crlUrl = crl ?? (url ? undefined : httpCrlUrl(first));
  if (!url && !crlUrl)
    return {
      ok: false,
      error: "responder URL required",
      detail:
        "the leaf's AIA names no OCSP responder and it has no http(s) CRL distribution point; give ?responder=URL or ?crl=URL",
    };
  return { ok: true, issuer: second, responderUrl: url, crlUrl, leaf: first };
}

/**
 * Pins a leaf of a registered issuer and gets its status now, before the first handshake: its OCSP
 * answer, or its status in the issuer's CRLs that speak for it (issuers/revocation.ts), which
 * then watch it.
 */
async function pinLeaf(
  relay: Relay,
  leaf: CertificateFacts,
  record: IssuerRecord,
  issuerCert: CertificateFacts,
): Promise<PinJson> {
  const source = revocationSource(record, leaf);
  if (source.kind === "ocsp") return warm(relay, leaf, record, issuerCert);
  const base = {
    serial: serialHex(leaf),
    subject: leaf.subjectText,
    revocationSource: "crl" as const,
  };
  if (source.kind === "none")
    return {
      ...base,
      status: "unknown",
      crl: { url: httpCrlUrls(leaf)[0] ?? null },
      problem: source.problem,
    } satisfies CrlPinJson;
  const verdict = await relay.crlVerdict({
    issuer: record,
    source,
    serial: serialHex(leaf),
    names: leaf,
    leaf: leafInfo(leaf),
    fetch: "all",
    pin: true,
  });
  if (verdict.status === "unknown")
    return {
      ...base,
      status: "unknown",
      crl: { url: verdict.shown?.url ?? httpCrlUrls(leaf)[0] ?? null },
      problem: verdict.problem,
    } satisfies CrlPinJson;
  const { revoked, crl } = verdict.by;
  return {
    ...base,
    status: verdict.status,
    // Undefined fields are left out of the JSON.
    revocationTime: revoked ? new Date(revoked.revocationTime).toISOString() : undefined,
    revocationReason: revoked ? (revoked.reason ?? null) : undefined,
    crl: describeCrl(crl!),
  } satisfies CrlPinJson;
}

/** Pins the leaf's SHA-1 CertID (what nginx, HAProxy and openssl ask with) and fetches its answer. */
async function warm(
  relay: Relay,
  leaf: CertificateFacts,
  record: IssuerRecord,
  issuerCert: CertificateFacts,
): Promise<OcspPinJson> {
  const certId = await certIdFor(issuerCert, leaf, "SHA-1");
  const key = certIdKey(certId);
  const result = await relay.pin({
    key,
    certId,
    issuer: record,
    issuerCert,
    leaf: leafInfo(leaf),
  });
  const base = {
    serial: serialHex(leaf),
    subject: leaf.subjectText,
    certId: key,
    pinned: true as const,
  };
  return result.ok
    ? {
        ...base,
        status: result.value.answer.status,
        nextUpdate: new Date(result.value.answer.nextUpdate).toISOString(),
      }
    : { ...base, error: result.error.detail };
}
