// An endpoint the operator can close (issue 11): fleet keys in the path (OCSP_KEYS, GET
// /k/<key>/<base64> and POST /k/<key>/) and registered-only relaying (OCSP_ACCESS=registered).
// A refused request is an RFC 6960 `unauthorized` and the CA hears nothing of it; keys never show
// in logs, metrics or the status page.

import { env } from "cloudflare:workers";
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { ops } from "../../src/instrumentation.ts";
import { certIdKey, encodeRequest } from "../../src/ocsp/request.ts";
import { fixtureCase } from "../support/cases.ts";
import { fixture, text } from "../support/files.ts";
import {
  ADMIN_TOKEN,
  bodyOf,
  certIdOf,
  Deployment,
  expectOcspError,
  freshDeploymentPerTest,
  getPath,
  ocspReply,
  ocspStatusOf,
  ORIGIN,
  servingClock,
  type Isolate,
} from "./support.ts";

const good = fixtureCase("rsa-direct-good");
const goodDer = fixture(good.response);
const KEY = "fleet-key-0123456789abcdef";
const OLD_KEY = "old-fleet-key-fedcba9876543210";
const bearer = { Authorization: `Bearer ${ADMIN_TOKEN}` };
let clock: number;
let request: Uint8Array;
let key: string;

beforeAll(async () => {
  clock = await servingClock(good);
  const id = await certIdOf(good.issuer, good.cert!);
  request = encodeRequest(id);
  key = certIdKey(id);
});
freshDeploymentPerTest();
afterEach(() => vi.restoreAllMocks());

async function serving(overrides: Parameters<Deployment["isolate"]>[0]) {
  const deployment = new Deployment(clock, ocspReply(goodDer));
  const relay = deployment.isolate(overrides);
  await relay.registered([good.issuer]);
  return { deployment, relay };
}

const post = (relay: Isolate, path: string) =>
  relay.request(path, {
    method: "POST",
    headers: { "Content-Type": "application/ocsp-request" },
    body: request.slice(),
  });

describe("OCSP_KEYS: the endpoint answers only under /k/<key>/", () => {
  it("GET and POST under a configured key are relayed; anything else is unauthorized and reaches no CA", async () => {
    const { deployment, relay } = await serving({ OCSP_KEYS: `${OLD_KEY}, ${KEY}` });
    for (const path of [
      getPath(request),
      `/k/wrong-key-0123456789abcdef${getPath(request)}`,
      `/k/${KEY.slice(0, -1)}${getPath(request)}`,
      `/k/${getPath(request)}`,
    ]) {
      await expectOcspError(await relay.request(path), 200, "unauthorized");
    }
    await expectOcspError(await post(relay, "/"), 200, "unauthorized");
    await expectOcspError(await post(relay, "/k/not-the-key-0123456789/"), 200, "unauthorized");
    expect(deployment.calls).toHaveLength(0);

    const keyed = await relay.request(`/k/${KEY}${getPath(request)}`);
    expect(keyed.status).toBe(200);
    expect(await bodyOf(keyed)).toEqual(goodDer);
    // Either key of a rotation works, GET and POST, with or without the trailing slash.
    for (const res of [
      await relay.request(`/k/${OLD_KEY}${getPath(request)}`),
      await post(relay, `/k/${KEY}/`),
      await post(relay, `/k/${OLD_KEY}`),
    ]) {
      expect(res.status).toBe(200);
      expect(ocspStatusOf(await bodyOf(res))).toBe("successful");
    }
    expect(deployment.calls).toHaveLength(1);
  });

  it("without OCSP_KEYS a /k/<anything>/ prefix is accepted, so servers can be given the key before it is set", async () => {
    const { relay } = await serving({});
    const res = await relay.request(`/k/${KEY}${getPath(request)}`);
    expect(res.status).toBe(200);
    expect(await bodyOf(res)).toEqual(goodDer);
    expect((await relay.request(getPath(request))).status).toBe(200);
  });

  it("OCSP_KEYS with no usable key (too short) closes the endpoint instead of opening it", async () => {
    const { deployment, relay } = await serving({ OCSP_KEYS: "short" });
    await expectOcspError(await relay.request(`/k/short${getPath(request)}`), 200, "unauthorized");
    await expectOcspError(await relay.request(getPath(request)), 200, "unauthorized");
    expect(deployment.calls).toHaveLength(0);
  });

  it("the hot path never answers an unkeyed URL, even once the keyed one is in memory", async () => {
    const { relay } = await serving({ OCSP_KEYS: KEY });
    const asRuntime = async (path: string) => {
      const ctx = createExecutionContext();
      const res = await relay.worker.fetch(new Request(ORIGIN + path), relay.env, ctx);
      await waitOnExecutionContext(ctx);
      return res;
    };
    expect((await asRuntime(`/k/${KEY}${getPath(request)}`)).status).toBe(200);
    const hits = ops.hotPathHits;
    expect((await asRuntime(`/k/${KEY}${getPath(request)}`)).headers.get("X-Cache")).toBe("HIT");
    expect(ops.hotPathHits).toBe(hits + 1);
    await expectOcspError(await asRuntime(getPath(request)), 200, "unauthorized");
  });

  it("/check is closed too: it takes a fleet key (or the admin token) as its bearer token", async () => {
    const { deployment, relay } = await serving({ OCSP_KEYS: KEY });
    const checkWith = (headers: HeadersInit) =>
      relay.request("/check", { method: "POST", headers, body: text(fixture(good.cert!)) });
    const refused = await checkWith({});
    expect(refused.status).toBe(401);
    expect(await refused.json()).toMatchObject({ error: "unauthorized" });
    expect((await checkWith({ Authorization: "Bearer not-the-key-0123456789" })).status).toBe(401);
    expect(deployment.calls).toHaveLength(0);
    const keyed = await checkWith({ Authorization: `Bearer ${KEY}` });
    expect(keyed.status).toBe(200);
    expect(await keyed.json()).toMatchObject({ status: "good" });
    expect((await checkWith(bearer)).status).toBe(200);
    expect((await relay.request("/check/x/01")).status).toBe(401);
  });

  it("keys appear in no log line, metric or status page", async () => {
    const logged: string[] = [];
    vi.spyOn(console, "log").mockImplementation((...args: unknown[]) => {
      logged.push(args.map(String).join(" "));
    });
    vi.spyOn(console, "error").mockImplementation((...args: unknown[]) => {
      logged.push(args.map(String).join(" "));
    });
    const { relay } = await serving({ OCSP_KEYS: KEY });
    await relay.request(`/k/${KEY}${getPath(request)}`);
    await relay.request(`/k/${KEY}/garbage%ZZ`);
    await relay.request(`/k/${KEY}/`, { method: "PUT" });
    const metrics = await (await relay.request("/metrics", { headers: bearer })).text();
    const status = await (await relay.request("/status", { headers: bearer })).text();
    expect(status).toContain('data-keyed="true"');
    expect(logged.length).toBeGreaterThan(0);
    for (const out of [...logged, metrics, status]) expect(out).not.toContain(KEY);
  });
});

describe("OCSP_ACCESS=registered: only pinned certificates are relayed", () => {
  it("an unpinned certificate gets unauthorized without contacting the CA and leaves no owner state", async () => {
    const { deployment, relay } = await serving({ OCSP_ACCESS: "registered" });
    await expectOcspError(await relay.get(request), 200, "unauthorized");
    expect(deployment.calls).toHaveLength(0);
    const owner = env.CERT_OWNER.get(env.CERT_OWNER.idFromName(key));
    expect(await owner.inspect()).toEqual({ state: undefined, answer: undefined });
  });

  it("a certificate pinned through the admin API is fetched at once and served", async () => {
    const { deployment, relay } = await serving({ OCSP_ACCESS: "registered" });
    const pinned = await relay.request("/admin/certificates", {
      method: "POST",
      headers: bearer,
      body: text(fixture(good.cert!)),
    });
    expect(pinned.status).toBe(200);
    expect(deployment.calls).toHaveLength(1);
    const res = await relay.get(request);
    expect(res.status).toBe(200);
    expect(await bodyOf(res)).toEqual(goodDer);
    expect(deployment.calls).toHaveLength(1);
  });

  it("a typo in OCSP_ACCESS fails closed", async () => {
    const { deployment, relay } = await serving({ OCSP_ACCESS: "registred" });
    await expectOcspError(await relay.get(request), 200, "unauthorized");
    expect(deployment.calls).toHaveLength(0);
  });
});
