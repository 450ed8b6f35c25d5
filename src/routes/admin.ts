// The admin API, behind `Authorization: Bearer <ADMIN_TOKEN>`: register, list and delete issuing
// CAs. Without ADMIN_TOKEN configured the whole API answers 403; the OCSP endpoint is unaffected.

import { Hono } from "hono";
import { requireAdmin, type AppEnv } from "./auth.ts";
import { configFrom } from "../config.ts";
import { readCapped } from "../http/body.ts";
import { jsonErrorResponse } from "../http/errors.ts";
import { findIssuerOf, makeIssuerRecord, type IssuerRecord } from "../issuers/issuer.ts";
import { checkResponderUrl } from "../issuers/responder-url.ts";
import { log } from "../log.ts";
import { parsePemCertificates, serialHex, type CertificateFacts } from "../ocsp/certificate.ts";
import { certIdFor, certIdKey } from "../ocsp/request.ts";
import { leafInfo } from "./check.ts";
import { issuedBy } from "../ocsp/signature.ts";
import type { Relay } from "../relay.ts";

/** Largest PEM body accepted by the admin API. */
export const MAX_PEM_BYTES = 256 * 1024;

export function adminRoutes(): Hono<AppEnv> {
  const admin = new Hono<AppEnv>();
  admin.use("*", requireAdmin);

  admin.get("/issuers", async (c) => {
    const relay = c.get("relay");
    const index = await relay.registry.list(relay.now()); // from the Registrar: every stored change
    return c.json({ issuers: index.records.map(describeIssuer) });
  });

  admin.post("/issuers", async (c) => {
    const relay = c.get("relay");
    const body = await readCapped(c.req.raw, MAX_PEM_BYTES);
    if (!body.ok) {
      return body.tooLarge
        ? jsonErrorResponse({ kind: "tooLarge", detail: body.detail })
        : jsonErrorResponse({
            kind: "malformed",
            title: "empty body",
            detail: "send the issuing CA certificate as PEM, or a leaf followed by its issuer",
          });
    }
    const certs = parsePemCertificates(new TextDecoder().decode(body.value));
    if (!certs.ok)
      return jsonErrorResponse({ kind: "malformed", title: "bad PEM", detail: certs.error.detail });
    const chosen = await chooseIssuer(certs.value, c.req.query("responder"));
    if (!chosen.ok)
      return jsonErrorResponse({ kind: "malformed", title: chosen.error, detail: chosen.detail });
    const url = checkResponderUrl(chosen.responderUrl, configFrom(c.env).allowPrivateResponders);
    if (!url.ok)
      return jsonErrorResponse({
        kind: "malformed",
        title: "responder URL refused",
        detail: url.detail,
      });
    const now = relay.now();
    const { created, record } = await relay.registry.upsert(
      await makeIssuerRecord(chosen.issuer, url.url, new Date(now)),
      now,
    );
    log("issuer.registered", {
      issuer: record.id,
      subject: record.subject,
      responder: record.responderUrl,
      created,
    });
    // A leaf sent along is pinned and its answer fetched now, before the first handshake.
    const warmed = chosen.leaf ? [await warm(relay, chosen.leaf, record, chosen.issuer)] : [];
    return c.json({ ...describeIssuer(record), warmed }, created ? 201 : 200);
  });

  // Pin and warm leaf certificates of registered issuers (PEM, any number; CA certs are skipped).
  admin.post("/certificates", async (c) => {
    const relay = c.get("relay");
    const body = await readCapped(c.req.raw, MAX_PEM_BYTES);
    if (!body.ok) {
      return body.tooLarge
        ? jsonErrorResponse({ kind: "tooLarge", detail: body.detail })
        : jsonErrorResponse({
            kind: "malformed",
            title: "empty body",
            detail: "send leaf certificates as PEM",
          });
    }
    const certs = parsePemCertificates(new TextDecoder().decode(body.value));
    if (!certs.ok)
      return jsonErrorResponse({ kind: "malformed", title: "bad PEM", detail: certs.error.detail });
    const leaves = certs.value.filter((cert) => !cert.isCA);
    if (leaves.length === 0)
      return jsonErrorResponse({
        kind: "malformed",
        title: "no leaf certificate",
        detail: "send the leaf certificates to pin",
      });
    const index = await relay.registry.index(relay.now());
    const results = [];
    for (const leaf of leaves) {
      const issuer = await findIssuerOf(leaf, index);
      results.push(
        issuer
          ? await warm(relay, leaf, issuer.record, issuer.cert)
          : { serial: serialHex(leaf), subject: leaf.subjectText, error: "issuer not registered" },
      );
    }
    const anyUnknown = results.some((r) => "error" in r && r.error === "issuer not registered");
    return c.json({ certificates: results }, anyUnknown && results.length === 1 ? 404 : 200);
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

export function describeIssuer(r: IssuerRecord) {
  return {
    id: r.id,
    subject: r.subject,
    responderUrl: r.responderUrl,
    hashes: r.hashes,
    notAfter: r.notAfter,
    createdAt: r.createdAt,
  };
}

type Chosen =
  | { ok: true; issuer: CertificateFacts; responderUrl: string; leaf?: CertificateFacts }
  | { ok: false; error: string; detail: string };

/**
 * The issuer to register from the PEM: a lone CA certificate (responder from ?responder=), or a
 * leaf followed by its issuer (responder from the leaf's AIA id-ad-ocsp unless ?responder= is given).
 */
export async function chooseIssuer(
  certs: CertificateFacts[],
  responder: string | undefined,
): Promise<Chosen> {
  const [first, second] = certs;
  if (!first) return { ok: false, error: "bad PEM", detail: "no certificate" };
  if (first.isCA) {
    if (!responder) {
      return {
        ok: false,
        error: "responder URL required",
        detail:
          "give ?responder=URL, or send a leaf certificate followed by this CA so its AIA names the responder",
      };
    }
    return { ok: true, issuer: first, responderUrl: responder };
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
  if (!url)
    return {
      ok: false,
      error: "responder URL required",
      detail: "the leaf's AIA names no OCSP responder; give ?responder=URL",
    };
  return { ok: true, issuer: second, responderUrl: url, leaf: first };
}

/** Pins the leaf's SHA-1 CertID (what nginx, HAProxy and openssl ask with) and fetches its answer. */
async function warm(
  relay: Relay,
  leaf: CertificateFacts,
  record: IssuerRecord,
  issuerCert: CertificateFacts,
) {
  const certId = await certIdFor(issuerCert, leaf, "SHA-1");
  const key = certIdKey(certId);
  const result = await relay.pin({
    key,
    certId,
    issuer: record,
    issuerCert,
    leaf: leafInfo(leaf),
  });
  const base = { serial: serialHex(leaf), subject: leaf.subjectText, certId: key, pinned: true };
  return result.ok
    ? {
        ...base,
        status: result.value.answer.status,
        nextUpdate: new Date(result.value.answer.nextUpdate).toISOString(),
      }
    : { ...base, error: result.error.detail };
}
