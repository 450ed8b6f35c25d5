// Hostile inputs, round 2 (issue 16), through the real worker in workerd: each reproduction of the
// security review as a test. A revoked certificate is never called good by a CRL that does not
// speak for it, on every path; padded GETs never fill the hot path's memory; anonymous clients
// raise no alert and fill no watch list; GET /check is the operator's and the fleet's, and cheap.

import { env } from "cloudflare:workers";
import {
  createExecutionContext,
  listDurableObjectIds,
  runDurableObjectAlarm,
  runInDurableObject,
  waitOnExecutionContext,
} from "cloudflare:test";
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ops } from "../../src/instrumentation.ts";
import { toBase64 } from "../../src/ocsp/bytes.ts";
import { certIdKey, encodeRequest } from "../../src/ocsp/request.ts";
import { fixtureCase } from "../support/cases.ts";
import { forgeCrl, forgeLeaf, type ForgedLeaf } from "../support/crl-forge.ts";
import { fixture, text } from "../support/files.ts";
import {
  ADMIN_TOKEN,
  at,
  certIdOf,
  Deployment,
  freshDeploymentPerTest,
  getPath,
  ocspReply,
  ORIGIN,
  servingClock,
  type Isolate,
  type UpstreamReply,
} from "./support.ts";

const CA = "crls/pki/crl-ca.pem";
const PART1 = "http://127.0.0.1:8889/crl-ca.crl"; // registered
const PART2 = "http://127.0.0.1:8889/part2.crl"; // the CA's other shard
const CLOCK = at("2026-12-01T19:57:09Z");
const bearer = { Authorization: `Bearer ${ADMIN_TOKEN}` };
const HOUR = 3_600_000;

freshDeploymentPerTest();
beforeEach(async () => {
  for (const id of await listDurableObjectIds(env.FLEET_LEDGER)) {
    await runInDurableObject(env.FLEET_LEDGER.get(id), (_, state) => state.storage.deleteAll());
  }
});

/** Two shards of crl-ca's CRL, each naming itself in its issuingDistributionPoint. */
let shard1: Uint8Array;
let shard2: Uint8Array;
let complete: Uint8Array;
/** A leaf of crl-ca naming the second shard, revoked in it. */
let inShard2: ForgedLeaf;
beforeAll(async () => {
  const times = { thisUpdate: new Date(CLOCK - HOUR), nextUpdate: new Date(CLOCK + 24 * HOUR) };
  shard1 = await forgeCrl({ ...times, idpUrl: PART1, number: 3 });
  shard2 = await forgeCrl({
    ...times,
    idpUrl: PART2,
    number: 3,
    revoked: [{ serial: "5003", time: new Date(CLOCK - 2 * HOUR), reason: 1 }],
  });
  complete = await forgeCrl({ ...times, number: 3 }); // no IDP: every certificate of crl-ca
  inShard2 = await forgeLeaf({
    serial: "5003",
    crlUrls: [PART2],
    notBefore: new Date(CLOCK - 24 * HOUR),
    notAfter: new Date(CLOCK + 90 * 24 * HOUR),
    subjectCn: "shard2.crl.test",
  });
});

/** A CRL server: each URL its CRL, anything else 404. */
const crlServer =
  (byUrl: Record<string, () => Uint8Array>): UpstreamReply =>
  (call) => {
    const der = byUrl[call.url];
    return der ? new Response(der().slice()) : new Response("not here", { status: 404 });
  };

async function registerCrl(relay: Isolate, url: string): Promise<string> {
  const res = await relay.request(`/admin/issuers?crl=${encodeURIComponent(url)}`, {
    method: "POST",
    headers: bearer,
    body: text(fixture(CA)),
  });
  expect([200, 201]).toContain(res.status);
  return ((await res.json()) as { id: string }).id;
}

/** A GET as the runtime makes it (with an ExecutionContext, so the hot path is taken). */
async function fetchAsRuntime(relay: Isolate, path: string): Promise<Response> {
  const ctx = createExecutionContext();
  const res = await relay.worker.fetch(new Request(ORIGIN + path), relay.env, ctx);
  await res.arrayBuffer();
  await waitOnExecutionContext(ctx);
  return res;
}

const json = async (res: Response) => (await res.json()) as Record<string, unknown>;

describe("1. one rule for which CRL answers for a certificate", () => {
  it("only one shard registered: neither the pin nor either /check calls the other shard's revoked leaf good", async () => {
    const d = new Deployment(CLOCK, crlServer({ [PART1]: () => shard1, [PART2]: () => shard2 }));
    const relay = d.isolate();
    const id = await registerCrl(relay, PART1);

    const pinned = await json(
      await relay.request("/admin/certificates", {
        method: "POST",
        headers: bearer,
        body: inShard2.pem,
      }),
    );
    const [warmed] = pinned.certificates as Record<string, unknown>[];
    expect(warmed).toMatchObject({ serial: "5003", revocationSource: "crl", status: "unknown" });
    expect(String(warmed!.problem)).toContain(PART2);

    const posted = await json(
      await relay.request("/check", { method: "POST", body: inShard2.pem }),
    );
    expect(posted).toMatchObject({ revocationSource: "crl", status: "unknown" });
    expect(String(posted.problem)).toContain(PART2);

    const bySerial = await json(await relay.request(`/check/${id}/5003`, { headers: bearer }));
    expect(bySerial).toMatchObject({ revocationSource: "crl", status: "unknown" });
    expect(String(bySerial.problem)).toContain("POST the certificate");

    // The unregistered shard is never fetched: no open proxy.
    expect(d.calls.map((c) => c.url)).not.toContain(PART2);
  });

  it("both shards registered: every path says revoked", async () => {
    const d = new Deployment(CLOCK, crlServer({ [PART1]: () => shard1, [PART2]: () => shard2 }));
    const relay = d.isolate();
    await registerCrl(relay, PART1);
    const id = await registerCrl(relay, PART2);
    const pinned = await json(
      await relay.request("/admin/certificates", {
        method: "POST",
        headers: bearer,
        body: inShard2.pem,
      }),
    );
    expect(pinned.certificates).toEqual([
      expect.objectContaining({ status: "revoked", crl: expect.objectContaining({ url: PART2 }) }),
    ]);
    expect(
      await json(await relay.request("/check", { method: "POST", body: inShard2.pem })),
    ).toMatchObject({ status: "revoked", revocationReason: "keyCompromise" });
    expect(
      await json(await d.isolate().request(`/check/${id}/5003`, { headers: bearer })),
    ).toMatchObject({ status: "revoked" });
  });

  it("an anonymous /check of a leaf naming an unregistered shard fetches no other shard", async () => {
    const PART3 = "http://127.0.0.1:8889/part3.crl";
    const d = new Deployment(
      CLOCK,
      crlServer({ [PART1]: () => shard1, [PART2]: () => shard2, [PART3]: () => shard1 }),
    );
    const relay = d.isolate();
    await registerCrl(relay, PART1);
    await registerCrl(relay, PART3);
    const elsewhere = await forgeLeaf({
      serial: "5009",
      crlUrls: ["http://127.0.0.1:8889/part9.crl"],
      notBefore: new Date(CLOCK - 24 * HOUR),
      notAfter: new Date(CLOCK + 90 * 24 * HOUR),
      subjectCn: "shard9.crl.test",
    });
    const anonymous = await json(
      await relay.request("/check", { method: "POST", body: elsewhere.pem }),
    );
    expect(anonymous).toMatchObject({ revocationSource: "crl", status: "unknown" });
    expect(String(anonymous.problem)).toContain("part9.crl is not one registered");
    expect(d.calls).toHaveLength(0);
    // The operator's own check may look at every registered shard (in case one is complete).
    await relay.request("/check", { method: "POST", headers: bearer, body: elsewhere.pem });
    expect(d.calls.map((c) => c.url).sort()).toEqual([PART1, PART3]);
  });

  it("a CRL that declares itself complete (no issuingDistributionPoint) speaks for every certificate of its issuer", async () => {
    const d = new Deployment(CLOCK, crlServer({ [PART1]: () => complete }));
    const relay = d.isolate();
    const id = await registerCrl(relay, PART1);
    expect(
      await json(await relay.request("/check", { method: "POST", body: inShard2.pem })),
    ).toMatchObject({ status: "good", crl: { url: PART1 } });
    expect(await json(await relay.request(`/check/${id}/5003`, { headers: bearer }))).toMatchObject(
      { status: "good" },
    );
  });

  it("a shard's serial known only by number: good only where the shard pins or watches it", async () => {
    const d = new Deployment(CLOCK, crlServer({ [PART1]: () => shard1 }));
    const relay = d.isolate();
    const id = await registerCrl(relay, PART1);
    const inShard1 = await forgeLeaf({
      serial: "5004",
      crlUrls: [PART1],
      notBefore: new Date(CLOCK - 24 * HOUR),
      notAfter: new Date(CLOCK + 90 * 24 * HOUR),
      subjectCn: "shard1.crl.test",
    });
    expect(await json(await relay.request(`/check/${id}/5004`, { headers: bearer }))).toMatchObject(
      { status: "unknown" },
    );
    await relay.request("/admin/certificates", {
      method: "POST",
      headers: bearer,
      body: inShard1.pem,
    });
    expect(await json(await relay.request(`/check/${id}/5004`, { headers: bearer }))).toMatchObject(
      { status: "good" },
    );
  });
});

describe("2. the hot path's memory of URLs", () => {
  const good = fixtureCase("rsa-direct-good");
  let clock: number;
  beforeAll(async () => {
    clock = await servingClock(good);
  });

  it("a GET padded with a nonce is answered but never remembered; the server's own URL is", async () => {
    const d = new Deployment(clock, ocspReply(fixture(good.response)));
    const relay = d.isolate();
    await relay.registered([good.issuer]);
    const certId = await certIdOf(good.issuer, good.cert!);
    const plain = getPath(encodeRequest(certId));
    expect((await fetchAsRuntime(relay, plain)).headers.get("X-Cache")).toBe("MISS");

    const padded = Array.from({ length: 20 }, (_, i) =>
      getPath(encodeRequest(certId, new Uint8Array(4_000).fill(i))),
    );
    for (const path of padded) {
      const res = await fetchAsRuntime(relay, path);
      expect(res.status).toBe(200);
      expect(res.headers.get("X-Cache")).toBe("HIT");
    }
    // Asked again, a padded URL takes the routed path (decoded again): it was not remembered.
    const before = ops.hotPathHits;
    for (const path of padded) await fetchAsRuntime(relay, path);
    expect(ops.hotPathHits - before).toBe(0);
    // The canonical URL nginx sends is, and is answered before any routing.
    await fetchAsRuntime(relay, plain);
    expect(ops.hotPathHits - before).toBe(1);
    expect(d.calls).toHaveLength(1);
  });
});

describe("2b. the server's own URL cannot be kept off the hot path", () => {
  const good = fixtureCase("rsa-direct-good");

  it("variants of its URL (unchecked /k/ prefixes, other escapes) are served but never remembered", async () => {
    const d = new Deployment(await servingClock(good), ocspReply(fixture(good.response)));
    const relay = d.isolate();
    await relay.registered([good.issuer]);
    const der = encodeRequest(await certIdOf(good.issuer, good.cert!));
    const plain = getPath(der);
    const variants = [
      ...["a", "b", "c", "d", "e"].map((k) => `/k/${k}${plain}`),
      "/" + toBase64(der), // unescaped
      plain.replace(/%2F/g, "%2f").replace(/%2B/g, "%2b"),
    ];
    for (const path of variants) {
      const res = await fetchAsRuntime(relay, path);
      expect(res.status).toBe(200);
      expect(res.headers.get("X-OCSP-Relay-Error")).toBeNull();
    }
    const before = ops.hotPathHits;
    for (const path of variants) await fetchAsRuntime(relay, path);
    expect(ops.hotPathHits - before).toBe(0);
    await fetchAsRuntime(relay, plain); // remembered now
    for (let i = 0; i < 5; i++) await fetchAsRuntime(relay, plain);
    expect(ops.hotPathHits - before).toBe(5);
  });
});

describe("3. only what the operator registered alerts", () => {
  const revoked = fixtureCase("ec-direct-revoked"); // leaf-ec-revoked, 2002, ec-ca

  it("an authenticated /check of an OCSP certificate is watched by its owner; an anonymous one is not", async () => {
    const d = new Deployment(await servingClock(revoked), ocspReply(fixture(revoked.response)));
    const relay = d.isolate();
    await relay.registered([revoked.issuer]);
    const key = certIdKey(await certIdOf(revoked.issuer, revoked.cert!));
    const owner = env.CERT_OWNER.get(env.CERT_OWNER.idFromName(key));
    const watched = () =>
      runInDurableObject(owner, async (_, state) => {
        const row = await state.storage.get<{ state: { watched?: boolean } }>("owner");
        return row?.state.watched ?? false;
      });
    const body = text(fixture(revoked.cert!));
    expect(await json(await relay.request("/check", { method: "POST", body }))).toMatchObject({
      status: "revoked",
    });
    expect(await watched()).toBe(false);
    // Served from this isolate's memory now: the owner is told all the same.
    expect(
      await json(await relay.request("/check", { method: "POST", headers: bearer, body })),
    ).toMatchObject({ status: "revoked", source: "memory" });
    expect(await watched()).toBe(true);
    expect(d.calls).toHaveLength(1);
  });
});

describe("4. watch lists anyone can fill", () => {
  const REVOKED = "crls/pki/crl-leaf-revoked.pem"; // 5002, listed in crl-ca-revoked.der

  it("an anonymous /check of a revoked leaf leaves no /status row; an authenticated one does", async () => {
    const d = new Deployment(
      CLOCK,
      crlServer({ [PART1]: () => fixture("crls/crl-ca-revoked.der") }),
    );
    const relay = d.isolate();
    const id = await registerCrl(relay, PART1);
    const anonymous = await json(
      await relay.request("/check", { method: "POST", body: text(fixture(REVOKED)) }),
    );
    expect(anonymous).toMatchObject({ status: "revoked" });
    const owner = env.CRL_OWNER.get(env.CRL_OWNER.idFromName(`${id} ${PART1}`));
    expect(await runDurableObjectAlarm(owner)).toBe(true); // the next fetch reports the watched
    const status = async () => (await relay.request("/status", { headers: bearer })).text();
    expect(await status()).not.toContain(`data-cert="crl:${id}:5002"`);

    await relay.request("/check", {
      method: "POST",
      headers: bearer,
      body: text(fixture(REVOKED)),
    });
    await runDurableObjectAlarm(owner);
    expect(await status()).toContain(`data-cert="crl:${id}:5002" data-status="revoked"`);
  });
});

describe("8. GET /check/<issuer>/<serial>", () => {
  const good = fixtureCase("rsa-direct-good");

  it("is refused to anonymous clients, and costs an authenticated one at most one owner call", async () => {
    const clock = await servingClock(good);
    const d = new Deployment(clock, ocspReply(fixture(good.response)));
    const relay = d.isolate();
    const issuer = await relay.registered([good.issuer]);
    const anonymous = await relay.request(`/check/${issuer.id}/0bad`);
    expect(anonymous.status).toBe(401);
    expect(await json(anonymous)).toMatchObject({ error: "unauthorized" });

    const before = { ...ops };
    const res = await relay.request(`/check/${issuer.id}/0bad`, { headers: bearer });
    expect(res.status).toBe(200);
    expect(await json(res)).toMatchObject({ status: "no answer" });
    expect(ops.ownerInspections - before.ownerInspections).toBe(1);
    expect(ops.kvReads - before.kvReads).toBeLessThanOrEqual(4);
    expect(ops.ownerCalls - before.ownerCalls).toBe(0);
    expect(d.calls).toHaveLength(0);
  });
});

describe("STATUS_PUBLIC opens the pages, not what costs the ledger more than one pass", () => {
  it("?certificates=all and /status pages past 100 take the admin token; the rest is public", async () => {
    const good = fixtureCase("rsa-direct-good");
    const d = new Deployment(await servingClock(good), ocspReply(fixture(good.response)));
    const relay = d.isolate({ STATUS_PUBLIC: "true" });
    const status = async (path: string, headers: HeadersInit = {}) =>
      (await relay.request(path, { headers })).status;
    expect(await status("/metrics")).toBe(200);
    expect(await status("/status?page=100")).toBe(200);
    expect(await status("/metrics?certificates=all")).toBe(401);
    expect(await status("/status?page=101")).toBe(401);
    expect(await status("/metrics?certificates=all", bearer)).toBe(200);
    expect(await status("/status?page=101", bearer)).toBe(200);
  });
});
