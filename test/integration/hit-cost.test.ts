// What a hit costs beyond answering from a cache (docs/fleet-cost.md): a hit from the location's edge
// copy makes no Durable Object call; the location's KV read tells the owner once; the isolates of a
// location share one copy of the issuer registry (the Cache API) instead of each reading KV every
// 10 s; an issuer registered elsewhere is still found within a minute; counters reach the ledger
// about once per METRICS_SAMPLE requests, however many isolates share them.

import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { TIER_MAX_AGE_MS } from "../../src/cache/freshness.ts";
import { ops } from "../../src/instrumentation.ts";
import { REGISTRY_TTL_MS } from "../../src/issuers/registry.ts";
import { REGISTRY_UNKNOWN_RECHECK_MS } from "../../src/issuers/registry-timing.ts";
import { certIdKey, encodeRequest } from "../../src/ocsp/request.ts";
import { edgeKey } from "../../src/sources/edge.ts";
import { fixtureCase } from "../support/cases.ts";
import { fixture } from "../support/files.ts";
import {
  certIdOf,
  Deployment,
  freshDeploymentPerTest,
  getPath,
  ocspReply,
  ORIGIN,
  servingClock,
  type Isolate,
} from "./support.ts";

const good = fixtureCase("rsa-direct-good");
const ec = fixtureCase("ec-direct-good");
let clock: number;
let path: string;
let key: string;

beforeAll(async () => {
  clock = await servingClock(good);
  const certId = await certIdOf(good.issuer, good.cert!);
  path = getPath(encodeRequest(certId));
  key = certIdKey(certId);
});
freshDeploymentPerTest();

/** A GET as the runtime makes it (with an ExecutionContext), its background work awaited. */
async function get(relay: Isolate, p = path): Promise<Response> {
  const ctx = createExecutionContext();
  const res = await relay.worker.fetch(new Request(ORIGIN + p), relay.env, ctx);
  await res.arrayBuffer();
  await waitOnExecutionContext(ctx);
  return res;
}

const delta = (before: typeof ops) =>
  Object.fromEntries(
    Object.entries(ops).map(([k, v]) => [k, v - before[k as keyof typeof ops]]),
  ) as typeof ops;

describe("a hit's Durable Object calls", () => {
  it("none for a hit from the location's edge copy; one touch for the location's read of KV", async () => {
    const d = new Deployment(clock, ocspReply(fixture(good.response)));
    await d.isolate().registered([good.issuer]);
    expect((await get(d.isolate())).headers.get("X-Cache")).toBe("MISS");

    // New isolates of the same location: each answers from the edge copy, and tells no one.
    let before = { ...ops };
    for (let i = 0; i < 10; i++) expect((await get(d.isolate())).status).toBe(200);
    expect(delta(before)).toMatchObject({ requests: 10, kvReads: 0, ownerCalls: 0, touches: 0 });

    // The edge copy gone (evicted, or past TIER_MAX_AGE_MS): the next isolate reads KV, tells the
    // owner once, and keeps an edge copy again for the others.
    await caches.default.delete(edgeKey(key));
    before = { ...ops };
    expect((await get(d.isolate())).status).toBe(200);
    expect(delta(before)).toMatchObject({ kvReads: 1, touches: 1 });
    before = { ...ops };
    for (let i = 0; i < 5; i++) await get(d.isolate());
    expect(delta(before)).toMatchObject({ kvReads: 0, touches: 0 });
    expect(d.calls).toHaveLength(1);
  });
});

describe("a location's copy ends when it says", () => {
  it("past TIER_MAX_AGE_MS the edge copy is not served (whatever the Cache API still holds): KV is read and the owner told", async () => {
    const d = new Deployment(clock, ocspReply(fixture(good.response)));
    await d.isolate().registered([good.issuer]);
    await get(d.isolate()); // fetched; the edge copy ends TIER_MAX_AGE_MS from now
    d.advance(TIER_MAX_AGE_MS + 1000);
    const before = { ...ops };
    expect((await get(d.isolate())).status).toBe(200);
    expect(delta(before)).toMatchObject({ kvReads: 1, touches: 1 });
  });
});

describe("the issuer registry, shared by a location's isolates", () => {
  it("is read from KV once for the location, not once per isolate", async () => {
    const d = new Deployment(clock, ocspReply(fixture(good.response)));
    await d.isolate().registered([good.issuer]);
    await get(d.isolate()); // the answer fetched, kept in KV and the edge cache
    const before = { ...ops };
    for (let i = 0; i < 20; i++) {
      d.advance(REGISTRY_TTL_MS + 1); // every isolate's own copy would be due again
      expect((await get(d.isolate())).status).toBe(200);
    }
    // The first of them reads KV and keeps the location's copy; the rest read that copy.
    expect(delta(before).kvReads).toBeLessThanOrEqual(1);
  });

  it("finds an issuer registered through another isolate at once; an unknown one costs one KV read a minute", async () => {
    const d = new Deployment(clock, ocspReply(fixture(good.response)));
    const reader = d.isolate();
    // The reader holds a registry copy without the issuer.
    await d.isolate().registered([ec.issuer]);
    expect((await get(reader)).headers.get("X-OCSP-Relay-Cause")).toBe("issuerNotRegistered");

    // Unregistered requests again within the minute: no KV read.
    let before = { ...ops };
    for (let i = 0; i < 5; i++) await get(reader);
    expect(delta(before).kvReads).toBe(0);

    // Registered through another isolate: the reader's copy is 10 s fresh, yet it finds it (one
    // KV read, once the minute since its last one has passed).
    await d.isolate().registered([good.issuer]);
    d.advance(REGISTRY_UNKNOWN_RECHECK_MS);
    before = { ...ops };
    const res = await get(reader);
    expect(res.status).toBe(200);
    expect(res.headers.get("X-OCSP-Relay-Cause")).toBeNull();
    expect(delta(before).kvReads).toBeGreaterThanOrEqual(1);
  });
});

describe("counters reach the ledger sampled", () => {
  it("about once per METRICS_SAMPLE requests, over many isolates", async () => {
    const d = new Deployment(clock, ocspReply(fixture(good.response)));
    await d.isolate().registered([good.issuer]);
    await get(d.isolate());
    const isolates = Array.from({ length: 50 }, () => d.isolate({ METRICS_SAMPLE: "128" }));
    const before = { ...ops };
    for (let i = 0; i < 1000; i++) {
      d.advance(1000);
      await get(isolates[i % isolates.length]!);
    }
    // Unsampled, each of the 50 isolates would flush every 10 s of its traffic: about 1 000 / 10.
    // Sampled, the ledger gets one flush per sampled request at most: 1 000 / 128 ≈ 8 expected
    // (Poisson; over 25 has odds under 1e-6).
    const flushes = delta(before).ledgerFlushes;
    expect(flushes).toBeLessThanOrEqual(25);
  });
});
