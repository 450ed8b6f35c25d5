// CRL status for certificates without OCSP (issue 13), through the real worker in workerd: the
// issuer registered from a leaf's CRL distribution point, one CrlOwner per CRL fetching it once
// for every isolate, refreshing it before nextUpdate, and never believing a CRL that does not
// verify. The CA's CRL server is mocked at the fetch boundary; the clock is the fixtures' own.

import { env } from "cloudflare:workers";
import { listDurableObjectIds, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import { encodeRequest } from "../../src/ocsp/request.ts";
import { forgeCrl } from "../support/crl-forge.ts";
import { fixture, text } from "../support/files.ts";
import {
  ADMIN_TOKEN,
  at,
  certIdOf,
  Deployment,
  expectOcspError,
  freshDeploymentPerTest,
  type Isolate,
  type UpstreamReply,
} from "./support.ts";

const CRL_URL = "http://127.0.0.1:8889/crl-ca.crl"; // the fixture leaves' CRLDP
const CA = "crls/pki/crl-ca.pem";
const GOOD = "crls/pki/crl-leaf-good.pem"; // serial 5001
const REVOKED = "crls/pki/crl-leaf-revoked.pem"; // serial 5002, keyCompromise
const CLOCK = at("2026-12-01T19:57:09Z"); // the fixtures' judging time
const bearer = { Authorization: `Bearer ${ADMIN_TOKEN}` };
const pem = (...paths: string[]) => paths.map((p) => text(fixture(p))).join("\n");

/** A CRL server answering `der` at CRL_URL (anything else: 404). */
const serving =
  (der: () => Uint8Array): UpstreamReply =>
  (call) =>
    call.url === CRL_URL
      ? new Response(der().slice(), { headers: { "Content-Type": "application/pkix-crl" } })
      : new Response("not here", { status: 404 });

freshDeploymentPerTest();
beforeEach(async () => {
  // The ledger outlives a test deployment: start each test with an empty one.
  for (const id of await listDurableObjectIds(env.FLEET_LEDGER)) {
    await runInDurableObject(env.FLEET_LEDGER.get(id), (_, state) => state.storage.deleteAll());
  }
});

let crlRevoked: Uint8Array;
let crlEmpty: Uint8Array;
beforeAll(() => {
  crlRevoked = fixture("crls/crl-ca-revoked.der");
  crlEmpty = fixture("crls/crl-ca-empty.der");
});

/** A deployment with crl-ca registered from the good leaf's CRLDP (leaf followed by its issuer). */
async function registered(der = () => crlRevoked) {
  const d = new Deployment(CLOCK, serving(der));
  const relay = d.isolate();
  const res = await relay.request("/admin/issuers", {
    method: "POST",
    headers: bearer,
    body: pem(GOOD, CA),
  });
  return { d, relay, res, body: (await res.json()) as Record<string, unknown> };
}

const check = async (relay: Isolate, leaf: string, query = "", headers: HeadersInit = {}) => {
  const res = await relay.request(`/check${query}`, { method: "POST", headers, body: pem(leaf) });
  expect(res.status).toBe(200);
  return (await res.json()) as Record<string, unknown>;
};

const crlFetches = (d: Deployment) => d.calls.filter((c) => c.url === CRL_URL).length;

describe("registering an issuer whose certificates name a CRL and no OCSP responder", () => {
  it("learns the CRL URL from the leaf, fetches the CRL at once and says the leaf is good", async () => {
    const { d, res, body } = await registered();
    expect(res.status).toBe(201);
    expect(body).toMatchObject({ responderUrl: null, crlUrls: [CRL_URL] });
    expect(body.warmed).toEqual([
      expect.objectContaining({
        serial: "5001",
        revocationSource: "crl",
        status: "good",
        crl: {
          url: CRL_URL,
          number: "2",
          thisUpdate: "2026-12-01T18:57:09.000Z",
          nextUpdate: "2026-12-08T18:57:09.000Z",
        },
      }),
    ]);
    expect(crlFetches(d)).toBe(1);
    // What reaches the CRL server: a plain GET with the relay's own headers.
    const call = d.calls[0]!;
    expect(call.method).toBe("GET");
    expect([...call.headers.keys()].sort()).toEqual(["accept", "user-agent"]);
  });

  it("registering with a revoked leaf says so in `warmed`, with time and reason, as /check does", async () => {
    const d = new Deployment(
      CLOCK,
      serving(() => crlRevoked),
    );
    const res = await d.isolate().request("/admin/issuers", {
      method: "POST",
      headers: bearer,
      body: pem(REVOKED, CA),
    });
    expect(((await res.json()) as { warmed: unknown[] }).warmed).toEqual([
      expect.objectContaining({
        serial: "5002",
        revocationSource: "crl",
        status: "revoked",
        revocationTime: "2026-12-01T18:57:09.000Z",
        revocationReason: "keyCompromise",
      }),
    ]);
  });

  it("a CRL that does not verify at registration: `warmed` says unknown, and why", async () => {
    const d = new Deployment(
      CLOCK,
      serving(() => fixture("crls/crl-ca-wrong-name.der")),
    );
    const res = await d.isolate().request("/admin/issuers", {
      method: "POST",
      headers: bearer,
      body: pem(GOOD, CA),
    });
    expect(res.status).toBe(201);
    const [warmed] = ((await res.json()) as { warmed: Record<string, unknown>[] }).warmed;
    expect(warmed).toMatchObject({
      revocationSource: "crl",
      status: "unknown",
      crl: { url: CRL_URL },
    });
    expect(String(warmed!.problem)).toContain("wrongIssuer");
  });

  it("a re-registration with an OCSP responder keeps the CRL, and the CRL keeps the responder", async () => {
    const { relay } = await registered();
    const again = await relay.request(`/admin/issuers?responder=http://ocsp.ca.example/`, {
      method: "POST",
      headers: bearer,
      body: pem(CA),
    });
    expect(again.status).toBe(200);
    expect(await again.json()).toMatchObject({
      responderUrl: "http://ocsp.ca.example/",
      crlUrls: [CRL_URL],
    });
  });

  it("refuses a private CRL URL unless ALLOW_PRIVATE_RESPONDERS, as it refuses such a responder", async () => {
    const d = new Deployment(
      CLOCK,
      serving(() => crlRevoked),
    );
    const res = await d.isolate({ ALLOW_PRIVATE_RESPONDERS: "false" }).request("/admin/issuers", {
      method: "POST",
      headers: bearer,
      body: pem(GOOD, CA),
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: "CRL URL refused" });
    expect(d.calls).toHaveLength(0);
  });
});

describe("POST /check for a certificate without OCSP", () => {
  it("a revoked leaf: revoked, with its time and reason, from the CRL", async () => {
    const { relay } = await registered();
    expect(await check(relay, REVOKED)).toMatchObject({
      revocationSource: "crl",
      status: "revoked",
      revocationTime: "2026-12-01T18:57:09.000Z",
      revocationReason: "keyCompromise",
      crl: { url: CRL_URL, number: "2", nextUpdate: "2026-12-08T18:57:09.000Z" },
      responderUrl: null,
    });
  });

  it("20 checks from three isolates cost one CRL fetch", async () => {
    const { d, relay } = await registered();
    const isolates = [relay, d.isolate(), d.isolate()];
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) => check(isolates[i % 3]!, i % 2 ? GOOD : REVOKED)),
    );
    expect(answers.map((a) => a.status)).toEqual(
      Array.from({ length: 20 }, (_, i) => (i % 2 ? "good" : "revoked")),
    );
    expect(crlFetches(d)).toBe(1);
  });

  it("the CRL is refreshed before its nextUpdate, and a newer CRL's verdict is served", async () => {
    let current = crlEmpty;
    const { d, relay } = await registered(() => current);
    expect((await check(relay, REVOKED)).status).toBe("good"); // not listed in CRL number 1
    const [id] = await listDurableObjectIds(env.CRL_OWNER);
    const owner = env.CRL_OWNER.get(id!);
    const alarm = await runInDurableObject(owner, (_, state) => state.storage.getAlarm());
    const nextUpdate = at("2026-12-08T18:57:09Z");
    // Planned from the platform clock: the injected clock's refresh point is the same delay away.
    const plannedAt = CLOCK + (alarm! - Date.now());
    expect(plannedAt).toBeLessThan(nextUpdate);
    expect(plannedAt).toBeGreaterThan(CLOCK);
    current = crlRevoked;
    d.advance(plannedAt - CLOCK);
    expect(await runDurableObjectAlarm(owner)).toBe(true);
    expect(crlFetches(d)).toBe(2);
    expect(await check(relay, REVOKED)).toMatchObject({
      status: "revoked",
      crl: { number: "2" },
      source: "crl-owner",
    });
    expect(crlFetches(d)).toBe(2);
  });

  it("a forged CRL (another key, the issuer's name) is never believed: status unknown, and why", async () => {
    // rsa-ca registered with a CRL; its server sends a CRL signed by a rogue CA of the same name.
    const rogue = fixture("crls/rogue-ca.der");
    const d = new Deployment(at("2026-12-01T19:57:10Z"), (call) =>
      call.url === "http://crl.ca.example/rsa.crl"
        ? new Response(rogue.slice())
        : new Response("", { status: 404 }),
    );
    const relay = d.isolate();
    const reg = await relay.request(
      "/admin/issuers?responder=http://ocsp.ca.example/&crl=http://crl.ca.example/rsa.crl",
      { method: "POST", headers: bearer, body: pem("pki/rsa-ca.pem") },
    );
    expect(reg.status).toBe(201);
    const body = await check(relay, "pki/leaf-rsa-good.pem", "?source=crl");
    expect(body).toMatchObject({ revocationSource: "crl", status: "unknown" });
    expect(String(body.problem)).toContain("badSignature");
    // Nothing of it was kept: no CRL owner holds a CRL.
    for (const id of await listDurableObjectIds(env.CRL_OWNER)) {
      const meta = await runInDurableObject(env.CRL_OWNER.get(id), (_, state) =>
        state.storage.get("meta"),
      );
      expect(meta).toBeUndefined();
    }
  });

  it("a leaf whose CRL URL is not the one registered is not fetched (no open proxy)", async () => {
    const d = new Deployment(
      CLOCK,
      serving(() => crlRevoked),
    );
    const relay = d.isolate();
    await relay.request("/admin/issuers?crl=http://crl.ca.example/other.crl", {
      method: "POST",
      headers: bearer,
      body: pem(CA),
    });
    const body = await check(relay, GOOD);
    expect(body).toMatchObject({ revocationSource: "crl", status: "unknown" });
    expect(String(body.problem)).toContain("not one registered");
    // Only the registered CRL is fetched (it might declare itself complete), never the leaf's own.
    expect(d.calls.map((c) => c.url)).toEqual(["http://crl.ca.example/other.crl"]);
  });

  it("the OCSP endpoint never invents an answer for it: unauthorized, and no CA is asked", async () => {
    const { d, relay } = await registered();
    const before = d.calls.length;
    const res = await relay.get(encodeRequest(await certIdOf(CA, GOOD)));
    await expectOcspError(res, 200, "unauthorized");
    expect(d.calls).toHaveLength(before);
  });
});

describe("failures and partitions", () => {
  it("after a failed CRL fetch, clients do not make the relay download it again before the retry", async () => {
    const d = new Deployment(CLOCK, () => new Response("down", { status: 503 }));
    const relay = d.isolate();
    await relay.request("/admin/issuers", { method: "POST", headers: bearer, body: pem(GOOD, CA) });
    expect(crlFetches(d)).toBe(1);
    for (let i = 0; i < 5; i++) {
      d.advance(5_000); // past the 3 s failure memory each time, inside the 60 s backoff
      const body = await check(relay, GOOD);
      expect(body).toMatchObject({ status: "unknown" });
      expect(String(body.problem)).toContain("HTTP 503");
    }
    expect(crlFetches(d)).toBe(1);
    d.reply = serving(() => crlRevoked);
    d.advance(60_000); // the planned retry
    expect(await check(relay, GOOD)).toMatchObject({ status: "good" });
    expect(crlFetches(d)).toBe(2);
  });

  it("an issuer with several (partitioned) CRLs: a listed serial is revoked; another is not called good", async () => {
    const other = "http://127.0.0.1:8889/crl-ca-2.crl";
    // Two shards, each naming itself in its issuingDistributionPoint (the fixtures' CRLs name none:
    // each of them would be complete, and speak for every certificate of crl-ca).
    const times = {
      thisUpdate: new Date(CLOCK - 3_600_000),
      nextUpdate: new Date(CLOCK + 86_400_000),
    };
    const revoked = [{ serial: "5002", time: new Date(CLOCK - 7_200_000), reason: 1 }];
    const shards: Record<string, Uint8Array> = {
      [CRL_URL]: await forgeCrl({ ...times, idpUrl: CRL_URL, number: 3, revoked }),
      [other]: await forgeCrl({ ...times, idpUrl: other, number: 3 }),
    };
    const d = new Deployment(CLOCK, (call) =>
      shards[call.url]
        ? new Response(shards[call.url]!.slice())
        : new Response("", { status: 404 }),
    );
    const relay = d.isolate();
    for (const crl of [CRL_URL, other]) {
      const res = await relay.request(`/admin/issuers?crl=${encodeURIComponent(crl)}`, {
        method: "POST",
        headers: bearer,
        body: pem(CA),
      });
      expect([200, 201]).toContain(res.status);
    }
    const listing = (await (await relay.request("/admin/issuers", { headers: bearer })).json()) as {
      issuers: { id: string; crlUrls: string[] }[];
    };
    expect(listing.issuers).toHaveLength(1);
    expect(listing.issuers[0]!.crlUrls).toEqual([CRL_URL, other]);
    const id = listing.issuers[0]!.id;
    expect(await check(relay, REVOKED)).toMatchObject({ status: "revoked", crl: { url: CRL_URL } });
    expect(
      await (await relay.request(`/check/${id}/5002`, { headers: bearer })).json(),
    ).toMatchObject({
      status: "revoked",
    });
    const unsure = (await (
      await relay.request(`/check/${id}/5001`, { headers: bearer })
    ).json()) as Record<string, unknown>;
    expect(unsure.status).toBe("unknown");
    expect(String(unsure.problem)).toContain("2 CRLs");
  });
});

describe("what the operator sees of CRL-backed certificates", () => {
  it("GET /check/<issuer>/<serial> shows the held CRL's verdict without fetching", async () => {
    const { d, relay, body } = await registered();
    const id = body.id as string;
    const fetches = crlFetches(d);
    expect(
      await (await d.isolate().request(`/check/${id}/5002`, { headers: bearer })).json(),
    ).toMatchObject({
      revocationSource: "crl",
      status: "revoked",
      revocationReason: "keyCompromise",
      source: "crl-owner",
    });
    expect(
      await (await relay.request(`/check/${id}/5001`, { headers: bearer })).json(),
    ).toMatchObject({
      status: "good",
    });
    expect(crlFetches(d)).toBe(fetches);
  });

  it("/metrics counts CRL fetches and /status lists the certificates /check asked about", async () => {
    const { relay, body } = await registered();
    await check(relay, REVOKED, "", bearer); // an authenticated caller's certificate is watched
    // A second fetch reports the watched certificates' statuses to the ledger.
    const [id] = await listDurableObjectIds(env.CRL_OWNER);
    await runDurableObjectAlarm(env.CRL_OWNER.get(id!));
    const metrics = await (await relay.request("/metrics", { headers: bearer })).text();
    expect(metrics).toMatch(
      new RegExp(`ocsp_relay_crl_fetches_total\\{issuer="${body.id}",result="ok"\\} [12]\\b`),
    );
    const status = await (await relay.request("/status", { headers: bearer })).text();
    expect(status).toContain(`data-cert="crl:${body.id}:5002" data-status="revoked"`);
    expect(status).toContain(`data-cert="crl:${body.id}:5001" data-status="good"`);
    expect(status).toContain(`no OCSP<br>CRL <code>${CRL_URL}</code>`);
    expect(status).toContain("by CRL");
  });
});
