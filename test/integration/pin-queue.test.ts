// Paced bulk pinning (issue 18 §4), through the real worker in workerd: a bulk POST
// /admin/certificates is stored in the issuer's PinQueue and answered 202 at once, with no CA request;
// the queue's alarms, driven over virtual time, then pin the leaves at PIN_RATE_PER_MINUTE (60 a
// minute, 10 per alarm) through the owners' own pin; concurrent bulk requests lose nothing; GET
// /admin/pins shows the progress. The leaves are forged under the fixture CA crl-ca, and the fake CA
// answers each with a good answer crl-ca signs (test/support/ocsp-forge.ts).

import { env } from "cloudflare:workers";
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import type { OwnerState, StoredOwner } from "../../src/fleet/owner.ts";
import type { CrlOwnerState } from "../../src/fleet/crl-types.ts";
import { toHex } from "../../src/ocsp/bytes.ts";
import { parseCertificate, type CertificateFacts } from "../../src/ocsp/certificate.ts";
import { certIdFor, certIdKey, type CertId } from "../../src/ocsp/request.ts";
import type { IssuerPinProgressJson, PinProgressJson, QueuedPinsJson } from "../../src/wire.ts";
import { forgeCrl, forgeLeaf, type ForgedLeaf } from "../support/crl-forge.ts";
import { certificate, fixture, text } from "../support/files.ts";
import { askedCertId, forgeOcspGood } from "../support/ocsp-forge.ts";
import {
  ADMIN_TOKEN,
  at,
  Deployment,
  freshDeploymentPerTest,
  HOUR,
  RESPONDER,
  type IssuerJson,
  type Isolate,
} from "./support.ts";

const CA = "crls/pki/crl-ca.pem";
const CRL_URL = "http://crl.ca.example/ca.crl";
const CLOCK = at("2026-12-10T12:00:00Z");
const MIN = 60_000;
const bearer = { Authorization: `Bearer ${ADMIN_TOKEN}` };
const iso = (t: number) => new Date(t).toISOString();

/** 150 leaves of crl-ca naming RESPONDER (OCSP) and CRL_URL, serials 100000.. in hex. */
let leaves: (ForgedLeaf & { facts: CertificateFacts; serial: string })[];
beforeAll(async () => {
  leaves = [];
  for (let i = 0; i < 150; i++) {
    const serial = (0x100000 + i).toString(16);
    const leaf = await forgeLeaf({
      serial,
      crlUrls: [CRL_URL],
      ocspUrls: [RESPONDER],
      notBefore: new Date(CLOCK - 24 * HOUR),
      notAfter: new Date(CLOCK + 90 * 24 * HOUR),
      subjectCn: `site${i}.example.net`,
    });
    const facts = parseCertificate(leaf.der);
    if (!facts.ok) throw new Error(facts.error.detail);
    leaves.push({ ...leaf, facts: facts.value, serial });
  }
}, 60_000);
freshDeploymentPerTest();

const pems = (from: number, to: number) =>
  leaves
    .slice(from, to)
    .map((l) => l.pem)
    .join("");
const serialOf = (id: CertId) => toHex(id.serialNumber);

/**
 * crl-ca as an OCSP responder: a good answer for whatever it is asked, valid for 3 days; every
 * request recorded with the virtual time it came at. `failing`: serials it answers 503 for.
 */
function deployment(failing = new Set<string>()) {
  const d = new Deployment(CLOCK);
  const asked: { serial: string; at: number }[] = [];
  d.reply = async (call) => {
    const certId = askedCertId(call, RESPONDER);
    asked.push({ serial: serialOf(certId), at: d.clock });
    if (failing.has(serialOf(certId))) return new Response("busy", { status: 503 });
    const der = await forgeOcspGood(
      certId,
      new Date(d.clock - HOUR),
      new Date(d.clock + 72 * HOUR),
    );
    return new Response(der.slice(), { headers: { "Content-Type": "application/ocsp-response" } });
  };
  return { d, asked };
}

async function pin(relay: Isolate, body: string, query = ""): Promise<Response> {
  return relay.request(`/admin/certificates${query}`, { method: "POST", headers: bearer, body });
}

const queueOf = (issuerId: string) => env.PIN_QUEUE.get(env.PIN_QUEUE.idFromName(issuerId));

/**
 * Runs the issuer's queue alarm every `stepMs` of virtual time until `done()` or `steps` ran out.
 * (An alarm the platform fires by itself in real time is harmless: before its virtual time the
 * queue only re-arms it.)
 */
async function drive(
  d: Deployment,
  issuerId: string,
  stepMs: number,
  steps: number,
  done: () => boolean,
) {
  for (let i = 0; i < steps && !done(); i++) {
    d.advance(stepMs);
    await runDurableObjectAlarm(queueOf(issuerId));
  }
}

async function progress(relay: Isolate, query = ""): Promise<PinProgressJson> {
  const res = await relay.request(`/admin/pins${query}`, { headers: bearer });
  expect(res.status).toBe(200);
  return res.json();
}

async function ownerState(leaf: CertificateFacts): Promise<OwnerState | undefined> {
  const key = certIdKey(await certIdFor(certificate(fixture(CA)), leaf, "SHA-1"));
  const owner = env.CERT_OWNER.get(env.CERT_OWNER.idFromName(key));
  return runInDurableObject(
    owner,
    async (_, state) => (await state.storage.get<StoredOwner>("owner"))?.state,
  );
}

/** Requests per virtual minute since CLOCK. */
const perMinute = (times: number[]) => {
  const counts: number[] = [];
  for (const t of times)
    counts[Math.floor((t - CLOCK) / MIN)] = (counts[Math.floor((t - CLOCK) / MIN)] ?? 0) + 1;
  return Array.from(counts, (c) => c ?? 0);
};

describe("POST /admin/certificates with many leaves", () => {
  it("answers 202 at once with no CA request, then its alarms pin them at 60 a minute", async () => {
    const { d, asked } = deployment();
    const relay = d.isolate();
    const issuer: IssuerJson = await relay.registered([CA], `?responder=${RESPONDER}`);

    const res = await pin(relay, pems(0, 100));
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({
      queued: [
        {
          issuer: issuer.id,
          subject: issuer.subject,
          added: 100,
          alreadyQueued: 0,
          queueLength: 100,
          ratePerMinute: 60,
          nextDrainAt: iso(CLOCK + 1_000),
          lastExpectedAt: iso(CLOCK + 91_000),
        },
      ],
      certificates: [],
    } satisfies QueuedPinsJson);
    expect(d.calls).toHaveLength(0); // nothing fetched by the request

    await drive(d, issuer.id, 10_000, 40, () => asked.length >= 100);
    expect(new Set(asked.map((a) => a.serial)).size).toBe(100);
    expect(asked).toHaveLength(100); // each once
    // At most one drain's worth (10) at any instant, at most 60 in any minute.
    const atOnce = new Map<number, number>();
    for (const a of asked) atOnce.set(a.at, (atOnce.get(a.at) ?? 0) + 1);
    expect(Math.max(...atOnce.values())).toBeLessThanOrEqual(10);
    expect(Math.max(...perMinute(asked.map((a) => a.at)))).toBeLessThanOrEqual(60);
    const span = Math.max(...asked.map((a) => a.at)) - Math.min(...asked.map((a) => a.at));
    expect(span).toBeGreaterThanOrEqual(90_000);

    // Every leaf pinned by its owner, the way an inline pin leaves it.
    for (const l of [leaves[0]!, leaves[57]!, leaves[99]!]) {
      expect(await ownerState(l.facts)).toMatchObject({
        pinned: true,
        leaf: { subject: l.facts.subjectText, notAfter: l.facts.notAfter.getTime() },
      });
    }
    const [shown] = (await progress(relay)).issuers;
    expect(shown).toMatchObject({
      issuer: issuer.id,
      queueLength: 0,
      done: 100,
      failed: 0,
      retrying: 0,
      nextDrainAt: null,
      lastExpectedAt: null,
      ratePerMinute: 60,
    } satisfies Partial<IssuerPinProgressJson>);
  });

  it("loses nothing when many bulk requests arrive at once through several isolates", async () => {
    const { d, asked } = deployment();
    const apps = [d.isolate(), d.isolate(), d.isolate()];
    const issuer = await apps[0]!.registered([CA], `?responder=${RESPONDER}`);
    // 12 requests of 20 leaves, each overlapping the next by 10: leaves 0..129.
    const sent = Array.from({ length: 12 }, (_, i) => [i * 10, i * 10 + 20] as const);
    const replies = await Promise.all(sent.map(([a, b], i) => pin(apps[i % 3]!, pems(a, b))));
    expect(replies.map((r) => r.status)).toEqual(Array(12).fill(202));
    const bodies = (await Promise.all(replies.map((r) => r.json()))) as QueuedPinsJson[];
    const added = bodies.reduce((n, b) => n + b.queued[0]!.added, 0);
    const already = bodies.reduce((n, b) => n + b.queued[0]!.alreadyQueued, 0);
    expect(added).toBe(130);
    expect(already).toBe(12 * 20 - 130);
    const [before] = (await progress(apps[1]!)).issuers;
    expect(before!.queueLength + before!.done).toBe(130);

    await drive(d, issuer.id, 10_000, 60, () => asked.length >= 130);
    expect(new Set(asked.map((a) => a.serial))).toEqual(
      new Set(leaves.slice(0, 130).map((l) => l.serial)),
    );
    expect(asked).toHaveLength(130);
    expect((await progress(apps[2]!)).issuers[0]).toMatchObject({ done: 130, queueLength: 0 });
  });

  it("retries a pin the CA fails, records it after 6 attempts, and lists unregistered leaves as before", async () => {
    const failing = leaves[3]!.serial;
    const { d, asked } = deployment(new Set([failing]));
    const relay = d.isolate();
    const issuer = await relay.registered([CA], `?responder=${RESPONDER}`);
    const res = await pin(relay, pems(0, 9) + text(fixture("pki/leaf-ec-good.pem")));
    expect(res.status).toBe(202);
    const body = (await res.json()) as QueuedPinsJson;
    expect(body.queued[0]).toMatchObject({ added: 9, queueLength: 9 });
    expect(body.certificates).toEqual([
      expect.objectContaining({ serial: "2001", error: "issuer not registered" }),
    ]);

    await drive(d, issuer.id, 5 * MIN, 60, () => false);
    const shown = (await progress(relay, `?issuer=${issuer.id}`)).issuers[0]!;
    expect(shown).toMatchObject({ done: 8, failed: 1, queueLength: 0, retrying: 0 });
    expect(shown.failures).toEqual([
      expect.objectContaining({
        serial: failing,
        attempts: 6,
        error: expect.stringContaining("503"),
      }),
    ]);
    expect(asked.filter((a) => a.serial === failing).length).toBeGreaterThanOrEqual(6);
    expect(shown.lastError).toContain("503");
  });

  it("keeps a few leaves inline (200, fetched now); ?queue=true queues them", async () => {
    const { d } = deployment();
    const relay = d.isolate();
    const issuer = await relay.registered([CA], `?responder=${RESPONDER}`);
    const inline = await pin(relay, pems(0, 8));
    expect(inline.status).toBe(200);
    const { certificates } = (await inline.json()) as { certificates: { status?: string }[] };
    expect(certificates.map((c) => c.status)).toEqual(Array(8).fill("good"));
    expect(d.calls).toHaveLength(8);

    const queued = await pin(relay, pems(8, 10), "?queue=true");
    expect(queued.status).toBe(202);
    expect(((await queued.json()) as QueuedPinsJson).queued[0]).toMatchObject({
      issuer: issuer.id,
      added: 2,
    });
    expect(d.calls).toHaveLength(8);
    const replaces = await pin(relay, pems(8, 9), "?queue=true&replaces=100000");
    expect(replaces.status).toBe(400);
  });

  it("queues a CRL-only issuer's leaves too: one CRL fetch pins them all, spending no rate", async () => {
    const d = new Deployment(CLOCK);
    const crl = await forgeCrl({
      thisUpdate: new Date(CLOCK - HOUR),
      nextUpdate: new Date(CLOCK + 7 * 24 * HOUR),
      number: 7,
    });
    d.reply = (call) =>
      call.url === CRL_URL
        ? new Response(crl.slice(), { headers: { "Content-Type": "application/pkix-crl" } })
        : new Response("not here", { status: 404 });
    const relay = d.isolate();
    const issuer = await relay.registered([CA], `?crl=${CRL_URL}`);
    const res = await pin(relay, pems(0, 30));
    expect(res.status).toBe(202);
    expect(d.calls).toHaveLength(0);

    await drive(d, issuer.id, 10_000, 5, () => false);
    expect(d.calls.filter((c) => c.url === CRL_URL)).toHaveLength(1);
    expect((await progress(relay)).issuers[0]).toMatchObject({ done: 30, queueLength: 0 });
    const owner = env.CRL_OWNER.get(env.CRL_OWNER.idFromName(`${issuer.id} ${CRL_URL}`));
    const state = await runInDurableObject(owner, (_, s) => s.storage.get<CrlOwnerState>("state"));
    expect(Object.keys(state?.pins ?? {})).toHaveLength(30);
  });

  it("GET /admin/pins takes the admin token", async () => {
    const { d } = deployment();
    const res = await d.isolate().request("/admin/pins");
    expect(res.status).toBe(401);
  });
});
