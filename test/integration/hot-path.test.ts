// The hot path (Relay.remembered, index.ts): a repeat GET answered from isolate memory before routing, as
// nginx's repeat stapling requests are. Driven with an ExecutionContext, as the runtime calls the
// worker, so the fast path is taken; it must answer exactly as the full path would, and step
// aside whenever the full path's checks matter.

import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { ops } from "../../src/instrumentation.ts";
import { REGISTRY_MAX_STALE_MS, REGISTRY_TTL_MS } from "../../src/issuers/registry.ts";
import { encodeRequest } from "../../src/ocsp/request.ts";
import { fixtureCase } from "../support/cases.ts";
import { fixture } from "../support/files.ts";
import {
  ADMIN_TOKEN,
  answerTimes,
  bodyOf,
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
const goodDer = fixture(good.response);
let clock: number;
let path: string;

beforeAll(async () => {
  clock = await servingClock(good);
  path = getPath(encodeRequest(await certIdOf(good.issuer, good.cert!)));
});
freshDeploymentPerTest();

/** A request as the runtime makes it: with an ExecutionContext, waiting for background work. */
async function fetchAsRuntime(relay: Isolate, init: RequestInit = {}): Promise<Response> {
  const ctx = createExecutionContext();
  const res = await relay.worker.fetch(new Request(ORIGIN + path, init), relay.env, ctx);
  await waitOnExecutionContext(ctx);
  return res;
}

async function warmed() {
  const deployment = new Deployment(clock, ocspReply(goodDer));
  const relay = deployment.isolate();
  await relay.registered([good.issuer]);
  const first = await fetchAsRuntime(relay);
  expect(first.headers.get("X-Cache")).toBe("MISS");
  return { deployment, relay, first: await bodyOf(first) };
}

describe("repeat GETs from isolate memory", () => {
  it("serve the same bytes and headers with no KV read, owner call or CA fetch", async () => {
    const { deployment, relay, first } = await warmed();
    const before = { ...ops };
    for (let i = 0; i < 20; i++) {
      const res = await fetchAsRuntime(relay);
      expect(res.status).toBe(200);
      expect(res.headers.get("X-Cache")).toBe("HIT");
      expect(res.headers.get("Content-Type")).toBe("application/ocsp-response");
      expect(res.headers.get("Cache-Control")).toMatch(
        /^max-age=\d+, public, no-transform, must-revalidate$/,
      );
      expect(await bodyOf(res)).toEqual(first);
    }
    expect(ops.requests - before.requests).toBe(20);
    expect(ops.hotPathHits - before.hotPathHits).toBe(20);
    expect(ops.kvReads - before.kvReads).toBe(0);
    expect(ops.ownerCalls - before.ownerCalls).toBe(0);
    expect(ops.verifications - before.verifications).toBe(0);
    expect(deployment.calls).toHaveLength(1);
  });

  it("never serve an answer at or past its nextUpdate", async () => {
    const { deployment, relay } = await warmed();
    deployment.reply = () => new Response("down", { status: 503 });
    deployment.clock = answerTimes(goodDer).nextUpdate;
    const res = await fetchAsRuntime(relay);
    expect(res.headers.get("X-OCSP-Relay-Error")).toBe("tryLater");
  });

  it("leave conditional requests to the full path (304 on a matching ETag)", async () => {
    const { relay } = await warmed();
    const etag = (await fetchAsRuntime(relay)).headers.get("ETag")!;
    const res = await fetchAsRuntime(relay, { headers: { "If-None-Match": etag } });
    expect(res.status).toBe(304);
  });

  it("stop serving a deleted issuer's certificates once the registry is re-read", async () => {
    const { deployment, relay } = await warmed();
    const list = (await (
      await relay.request("/admin/issuers", { headers: { Authorization: `Bearer ${ADMIN_TOKEN}` } })
    ).json()) as { issuers: { id: string }[] };
    const del = await relay.request(`/admin/issuers/${list.issuers[0]!.id}`, {
      method: "DELETE",
      headers: { Authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    expect(del.status).toBe(204);
    const res = await fetchAsRuntime(relay);
    expect(res.headers.get("X-OCSP-Relay-Error")).toBe("unauthorized");
    deployment.advance(60_000);
    expect((await fetchAsRuntime(relay)).headers.get("X-OCSP-Relay-Error")).toBe("unauthorized");
  });
});

describe("the registry copy on the hot path", () => {
  /** Deletes the (only) registered issuer through another isolate of the same deployment. */
  async function deleteElsewhere(deployment: Deployment): Promise<void> {
    const admin = deployment.isolate();
    const auth = { Authorization: `Bearer ${ADMIN_TOKEN}` };
    const list = (await (await admin.request("/admin/issuers", { headers: auth })).json()) as {
      issuers: { id: string }[];
    };
    const del = await admin.request(`/admin/issuers/${list.issuers[0]!.id}`, {
      method: "DELETE",
      headers: auth,
    });
    expect(del.status).toBe(204);
  }

  it("is re-read after REGISTRY_TTL_MS without a hit waiting for KV; a deletion elsewhere then takes effect", async () => {
    const { deployment, relay } = await warmed();
    await deleteElsewhere(deployment);
    // Within the TTL this isolate has not seen the deletion yet.
    const before = { ...ops };
    expect((await fetchAsRuntime(relay)).headers.get("X-Cache")).toBe("HIT");
    expect(ops.kvReads - before.kvReads).toBe(0);
    // Past the TTL: this hit is still answered from the copy held, and re-reads it afterwards.
    deployment.advance(REGISTRY_TTL_MS);
    const stale = { ...ops };
    const res = await fetchAsRuntime(relay);
    expect(res.headers.get("X-Cache")).toBe("HIT");
    expect(ops.hotPathHits - stale.hotPathHits).toBe(1);
    expect(ops.kvReads - stale.kvReads).toBe(1);
    // The next request sees the deletion.
    expect((await fetchAsRuntime(relay)).headers.get("X-OCSP-Relay-Error")).toBe("unauthorized");
  });

  it("is not used past REGISTRY_MAX_STALE_MS: the full path reads the registry first", async () => {
    const { deployment, relay } = await warmed();
    await deleteElsewhere(deployment);
    deployment.advance(REGISTRY_MAX_STALE_MS);
    const before = { ...ops };
    const res = await fetchAsRuntime(relay);
    expect(res.headers.get("X-OCSP-Relay-Error")).toBe("unauthorized");
    expect(ops.hotPathHits - before.hotPathHits).toBe(0);
  });
});

describe("the benchmark's operation counts (BENCH_MODE)", () => {
  it("GET /__bench/ops answers this isolate's counts only with BENCH_MODE=true", async () => {
    const deployment = new Deployment(clock, ocspReply(goodDer));
    const on = deployment.isolate({ BENCH_MODE: "true" });
    const res = await on.request("/__bench/ops");
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({
      requests: expect.any(Number),
      kvReads: expect.any(Number),
    });
    const reset = await on.request("/__bench/reset", { method: "POST" });
    expect(await reset.json()).toMatchObject({ requests: 0, verifications: 0 });
    const off = deployment.isolate();
    expect((await off.request("/__bench/ops")).headers.get("Content-Type")).toBe(
      "application/ocsp-response",
    );
    expect((await off.request("/__bench/reset", { method: "POST" })).status).toBe(405);
  });
});
