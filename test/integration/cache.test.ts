// The cache rules a TLS fleet relies on: one CA fetch however many clients miss at once, never an
// answer at or after its nextUpdate, a failing CA never evicts a valid answer, the KV record is
// the exact DER under its CertID, the cache outlives an isolate, and an answer never rolls back.

import { env } from "cloudflare:workers";
import { runDurableObjectAlarm } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { KV_KEYS, parseFacts } from "../../src/cache/record.ts";
import { certIdKey, encodeRequest } from "../../src/ocsp/request.ts";
import { ops } from "../../src/instrumentation.ts";
import { edgeKey } from "../../src/sources/edge.ts";
import { caseCertId, fixtureCase, fixtureCases, type FixtureCase } from "../support/cases.ts";
import { fixture } from "../support/files.ts";
import {
  answerTimes,
  bodyOf,
  cachedResponseKeys,
  Deployment,
  expectOcspError,
  freshDeploymentPerTest,
  HOUR,
  ocspReply,
  requestFor,
  servingClock,
} from "./support.ts";

const good = fixtureCase("rsa-direct-good");
const goodDer = fixture(good.response);
const failing = () => new Response("CA down", { status: 500 });
let clock: number;
let request: Uint8Array;
let key: string;

beforeAll(async () => {
  clock = await servingClock(good);
  request = await requestFor(good.issuer, good.cert!);
  key = certIdKey(await caseCertId(good));
});
freshDeploymentPerTest();

async function serving() {
  const deployment = new Deployment(clock, ocspReply(goodDer));
  const relay = deployment.isolate();
  const issuer = await relay.registered([good.issuer]);
  return { deployment, relay, issuer };
}

/** The CertOwner Durable Object of the test certificate. */
const owner = (certIdKeyBody: string) =>
  env.CERT_OWNER.get(env.CERT_OWNER.idFromName(certIdKeyBody));

describe("concurrent misses", () => {
  it("50 clients missing at once in one isolate cause exactly one CA fetch and all get the same 200", async () => {
    const { deployment, relay } = await serving();
    const before = { ...ops };
    const responses = await Promise.all(Array.from({ length: 50 }, () => relay.get(request)));
    expect(responses.map((r) => r.status)).toEqual(Array(50).fill(200));
    for (const body of await Promise.all(responses.map(bodyOf))) expect(body).toEqual(goodDer);
    expect(deployment.calls).toHaveLength(1);
    // They share one look through the tiers below memory, too: one edge cache read, one KV read
    // and one owner call (then one KV write and one edge cache write, by the owner and the tier).
    expect(ops.cacheReads - before.cacheReads).toBe(1);
    expect(ops.kvReads - before.kvReads).toBe(1);
    expect(ops.ownerCalls - before.ownerCalls).toBe(1);
  });

  it("50 clients missing at once across 10 isolates still cause exactly one CA fetch", async () => {
    const { deployment } = await serving();
    const isolates = Array.from({ length: 10 }, () => deployment.isolate());
    const responses = await Promise.all(
      Array.from({ length: 50 }, (_, i) => isolates[i % 10]!.get(request)),
    );
    for (const res of responses) {
      expect(res.status).toBe(200);
      expect(await bodyOf(res)).toEqual(goodDer);
    }
    expect(deployment.calls).toHaveLength(1);
  });
});

describe("nextUpdate", () => {
  it("an answer is served up to just before its nextUpdate and never at it, by any tier", async () => {
    const { deployment, relay } = await serving();
    await relay.get(request);
    deployment.reply = failing;
    const { nextUpdate } = answerTimes(goodDer);

    deployment.clock = nextUpdate - 1_000;
    const before = await relay.get(request);
    expect(before.status).toBe(200);
    expect(before.headers.get("Cache-Control")).toMatch(/^max-age=[01], /);
    const callsBefore = deployment.calls.length;

    deployment.clock = nextUpdate;
    await expectOcspError(await relay.get(request), 200, "tryLater");
    // Another isolate (empty memory) reads the edge cache, KV and the owner: none serves it.
    deployment.advance(10_000);
    await expectOcspError(await deployment.isolate().get(request), 200, "tryLater");
    expect(deployment.calls.length).toBeGreaterThan(callsBefore);
  });

  it("an `unknown` answer is served for at most 5 minutes", async () => {
    const unknown = fixtureCase("rsa-delegated-unknown");
    const deployment = new Deployment(
      await servingClock(unknown),
      ocspReply(fixture(unknown.response)),
    );
    const relay = deployment.isolate();
    await relay.registered([unknown.issuer]);
    const unknownRequest = await requestFor(unknown.issuer, unknown.cert!);
    const res = await relay.get(unknownRequest);
    expect(res.status).toBe(200);
    const maxAge = Number(res.headers.get("Cache-Control")?.match(/^max-age=(\d+),/)?.[1]);
    expect(maxAge).toBeGreaterThan(0);
    expect(maxAge).toBeLessThanOrEqual(300);
    deployment.reply = failing;
    deployment.advance(5 * 60 * 1000);
    await expectOcspError(await relay.get(unknownRequest), 200, "tryLater");
    await expectOcspError(await deployment.isolate().get(unknownRequest), 200, "tryLater");
  });
});

describe("a failing CA", () => {
  it("does not evict a still-valid answer: a refresh fails, a fresh isolate still gets a HIT", async () => {
    const { deployment, relay } = await serving();
    await relay.get(request);
    deployment.reply = failing;
    deployment.advance(HOUR);
    // The owner's scheduled refresh runs now and fails.
    expect(await runDurableObjectAlarm(owner(key))).toBe(true);
    expect(deployment.calls).toHaveLength(2);
    const res = await deployment.isolate().get(request);
    expect(res.status).toBe(200);
    expect(res.headers.get("X-Cache")).toBe("HIT");
    expect(await bodyOf(res)).toEqual(goodDer);
    expect(await cachedResponseKeys()).toEqual([KV_KEYS.response(key)]);
  });
});

describe("the KV record", () => {
  it("is the exact DER under v1:resp:<certIdKey>, with the answer's facts as metadata, expiring when nextUpdate comes", async () => {
    const { relay, issuer } = await serving();
    const res = await relay.get(request);
    const { thisUpdate, nextUpdate } = answerTimes(goodDer);
    expect(await cachedResponseKeys()).toEqual([`v1:resp:${key}`]);
    const { value, metadata } = await env.OCSP_CACHE.getWithMetadata(
      KV_KEYS.response(key),
      "arrayBuffer",
    );
    expect(new Uint8Array(value!)).toEqual(goodDer);
    expect(parseFacts(metadata)).toMatchObject({
      certIdKey: key,
      issuerId: issuer.id,
      status: "good",
      thisUpdate,
      nextUpdate,
      serveUntil: nextUpdate,
      fetchedAt: clock,
      etag: res.headers.get("ETag"),
    });
    // KV expires the key after the time left to nextUpdate (a relative TTL: KV's clock is not the
    // injected one here), give or take the second it took to get here.
    const listed = await env.OCSP_CACHE.list({ prefix: "v1:resp:" });
    const expected = Date.now() / 1000 + (nextUpdate - clock) / 1000;
    expect(Math.abs(listed.keys[0]!.expiration! - expected)).toBeLessThan(3);
  });

  it("a SHA-256 CertID for the same certificate is its own record", async () => {
    const sha256 = fixtureCase("rsa-delegated-sha256");
    const deployment = new Deployment(
      await servingClock(sha256),
      ocspReply(fixture(sha256.response)),
    );
    const relay = deployment.isolate();
    await relay.registered([sha256.issuer]);
    const certId = await caseCertId(sha256);
    expect(certId.hashName).toBe("SHA-256");
    const res = await relay.get(encodeRequest(certId));
    expect(res.status).toBe(200);
    expect(await cachedResponseKeys()).toEqual([KV_KEYS.response(certIdKey(certId))]);
  });
});

describe("the cache outlives an isolate", () => {
  it("a new app instance on the same KV serves a HIT without asking the CA", async () => {
    const { deployment, relay } = await serving();
    await relay.get(request);
    const res = await deployment.isolate().get(request);
    expect(res.status).toBe(200);
    expect(res.headers.get("X-Cache")).toBe("HIT");
    expect(await bodyOf(res)).toEqual(goodDer);
    expect(deployment.calls).toHaveLength(1);
  });

  it("with the KV record gone, the owner's stored answer is served without asking the CA", async () => {
    const { deployment, relay } = await serving();
    await relay.get(request);
    await env.OCSP_CACHE.delete(KV_KEYS.response(key));
    await caches.default.delete(edgeKey(key));
    const res = await deployment.isolate().get(request);
    expect(res.status).toBe(200);
    expect(await bodyOf(res)).toEqual(goodDer);
    expect(deployment.calls).toHaveLength(1);
  });
});

describe("no rollback", () => {
  /** Two directly signed answers for the same CertID with different thisUpdate. */
  async function olderAndNewer(): Promise<[FixtureCase, FixtureCase]> {
    const same: FixtureCase[] = [];
    for (const c of fixtureCases()) {
      if (c.expect.ok && c.expect.responder === "issuer" && certIdKey(await caseCertId(c)) === key)
        same.push(c);
    }
    same.sort(
      (a, b) =>
        answerTimes(fixture(a.response)).thisUpdate - answerTimes(fixture(b.response)).thisUpdate,
    );
    return [same[0]!, same[same.length - 1]!];
  }

  it("after the CA served a newer answer, an older one it sends later is not stored or served", async () => {
    const [older, newer] = await olderAndNewer();
    expect(answerTimes(fixture(older.response)).thisUpdate).toBeLessThan(
      answerTimes(fixture(newer.response)).thisUpdate,
    );
    const deployment = new Deployment(
      Math.max(await servingClock(older), await servingClock(newer)),
      ocspReply(fixture(newer.response)),
    );
    const relay = deployment.isolate();
    await relay.registered([good.issuer]);
    expect(await bodyOf(await relay.get(request))).toEqual(fixture(newer.response));

    deployment.reply = ocspReply(fixture(older.response));
    deployment.advance(HOUR);
    expect(await runDurableObjectAlarm(owner(key))).toBe(true);
    expect(deployment.calls).toHaveLength(2);

    const res = await deployment.isolate().get(request);
    expect(await bodyOf(res)).toEqual(fixture(newer.response));
    const { value } = await env.OCSP_CACHE.getWithMetadata(KV_KEYS.response(key), "arrayBuffer");
    expect(new Uint8Array(value!)).toEqual(fixture(newer.response));
  });
});
