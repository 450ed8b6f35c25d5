// A CA whose responder refuses GET (HTTP 400 to every GET, POST answered fine), behind the deployed
// relay in workerd: the client gets the CA's answer, the owner POSTs at once after the refused GET
// and only POSTs afterwards, and /metrics counts the fallback per issuer. The ledger is emptied
// between tests as the deployment is.

import { env } from "cloudflare:workers";
import { listDurableObjectIds, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { beforeEach, describe, expect, it } from "vitest";
import { certIdKey } from "../../src/ocsp/request.ts";
import { fixtureCase } from "../support/cases.ts";
import { fixture } from "../support/files.ts";
import {
  ADMIN_TOKEN,
  bodyOf,
  certIdOf,
  Deployment,
  freshDeploymentPerTest,
  HOUR,
  ocspReply,
  requestFor,
  servingClock,
  type UpstreamReply,
} from "./support.ts";

freshDeploymentPerTest();
beforeEach(async () => {
  for (const id of await listDurableObjectIds(env.FLEET_LEDGER)) {
    await runInDurableObject(env.FLEET_LEDGER.get(id), (_, state) => state.storage.deleteAll());
  }
});

const good = fixtureCase("rsa-direct-good");
const FALLBACKS = "ocsp_relay_upstream_get_fallbacks_total";

/** A responder whose GET handling is broken: `get` for every GET, a good answer to POST. */
const refusingGet =
  (get: UpstreamReply): UpstreamReply =>
  (call) =>
    call.method === "GET" ? get(call) : ocspReply(fixture(good.response))(call);

async function scrape(d: Deployment): Promise<string> {
  const res = await d.isolate().request("/metrics", {
    headers: { Authorization: `Bearer ${ADMIN_TOKEN}` },
  });
  expect(res.status).toBe(200);
  return res.text();
}

describe("a responder that answers every GET with HTTP 400", () => {
  it("is POSTed at once: the client gets the CA's answer, and /metrics counts one fallback", async () => {
    const d = new Deployment(
      await servingClock(good),
      refusingGet(() => new Response("Bad Request", { status: 400 })),
    );
    const relay = d.isolate();
    const { id } = await relay.registered([good.issuer]);

    const res = await relay.get(await requestFor(good.issuer, good.cert!));
    expect(res.status).toBe(200);
    expect(res.headers.get("X-Cache")).toBe("MISS");
    expect(await bodyOf(res)).toEqual(fixture(good.response));
    expect(d.calls.map((c) => c.method)).toEqual(["GET", "POST"]);
    expect(d.calls[1]!.headers.get("Content-Type")).toBe("application/ocsp-request");

    const text = await scrape(d);
    expect(text).toContain(`# TYPE ${FALLBACKS} counter`);
    expect(text).toContain(`${FALLBACKS}{issuer="${id}"} 1\n`);
    expect(text).toContain(`ocsp_relay_upstream_fetches_total{issuer="${id}",result="ok"} 1\n`);
  });

  it("the owner's next refresh POSTs only: no GET, no second fallback counted", async () => {
    const d = new Deployment(
      await servingClock(good),
      refusingGet(() => new Response("Bad Request", { status: 400 })),
    );
    const relay = d.isolate();
    const { id } = await relay.registered([good.issuer]);
    await relay.get(await requestFor(good.issuer, good.cert!));

    d.advance(HOUR);
    const key = certIdKey(await certIdOf(good.issuer, good.cert!));
    expect(await runDurableObjectAlarm(env.CERT_OWNER.get(env.CERT_OWNER.idFromName(key)))).toBe(
      true,
    );
    expect(d.calls.map((c) => c.method)).toEqual(["GET", "POST", "POST"]);
    expect(await scrape(d)).toContain(`${FALLBACKS}{issuer="${id}"} 1\n`);
  });

  it("overloaded instead (503 to GET): tryLater after one GET, nothing counted", async () => {
    const d = new Deployment(
      await servingClock(good),
      refusingGet(() => new Response("busy", { status: 503 })),
    );
    const relay = d.isolate();
    await relay.registered([good.issuer]);
    const res = await relay.get(await requestFor(good.issuer, good.cert!));
    expect(res.headers.get("X-OCSP-Relay-Error")).toBe("tryLater");
    expect(d.calls.map((c) => c.method)).toEqual(["GET"]);
    expect(await scrape(d)).not.toContain(FALLBACKS);
  });
});
