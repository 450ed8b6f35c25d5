// The upstream budget through the real app in workerd: requests for made-up serials of a registered
// issuer, sent through several isolates, reach the fake CA at most as often as the issuer's
// budget (UpstreamBudget Durable Object) allows; over it clients get tryLater and nothing is kept;
// it refills with the injected clock; pinned certificates and refreshes never wait for it.

import { env } from "cloudflare:workers";
import { runDurableObjectAlarm } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { toHex } from "../../src/ocsp/bytes.ts";
import {
  certIdKey,
  decodeGetPath,
  decodeRequest,
  encodeRequest,
  type CertId,
} from "../../src/ocsp/request.ts";
import { edgeKey } from "../../src/sources/edge.ts";
import { fixtureCase } from "../support/cases.ts";
import { fixture, text } from "../support/files.ts";
import {
  ADMIN_TOKEN,
  bodyOf,
  cachedResponseKeys,
  certIdOf,
  Deployment,
  expectOcspError,
  freshDeploymentPerTest,
  servingClock,
  type Isolate,
  type UpstreamCall,
  type UpstreamReply,
} from "./support.ts";

const good = fixtureCase("rsa-direct-good"); // leaf-rsa-good under rsa-ca
const goodDer = fixture(good.response);
const unknown = fixtureCase("rsa-delegated-unknown"); // leaf-rsa-unknown: not in rsa-ca's database
const bearer = { Authorization: `Bearer ${ADMIN_TOKEN}` };
/** A small budget, set per isolate: 5 at once, then one every 10 s. */
const BUDGET = { UPSTREAM_BUDGET_BURST: "5", UPSTREAM_BUDGET_PER_MINUTE: "6" };

let clock: number;
let goodId: CertId;
let unknownId: CertId;

beforeAll(async () => {
  clock = Math.max(await servingClock(good), await servingClock(unknown));
  goodId = await certIdOf(good.issuer, good.cert!);
  unknownId = await certIdOf(unknown.issuer, unknown.cert!);
});
freshDeploymentPerTest();

/** A CertID of rsa-ca with a serial nobody issued. */
const madeUp = (n: number): CertId => ({
  ...goodId,
  serialNumber: new Uint8Array([0x5e, (n >> 8) & 0xff, n & 0xff]),
});

/** The serial (hex) the relay asked the CA about. */
function askedSerial(call: UpstreamCall): string {
  const decoded =
    call.method === "GET" ? decodeGetPath(new URL(call.url).pathname) : decodeRequest(call.body!);
  if (!decoded.ok) throw new Error(`the relay sent the CA an unreadable request: ${call.url}`);
  return toHex(decoded.value.certIds[0]!.serialNumber);
}

/** The CA: the good fixture answer for leaf-rsa-good, a 503 for anything else. */
const ca: UpstreamReply = (call) =>
  askedSerial(call) === toHex(goodId.serialNumber)
    ? new Response(goodDer.slice(), {
        status: 200,
        headers: { "Content-Type": "application/ocsp-response" },
      })
    : new Response("busy", { status: 503 });

/** A deployment with rsa-ca registered and two isolates configured with `config`. */
async function deployed(config: Record<string, string> = BUDGET) {
  const d = new Deployment(clock, ca);
  const a = d.isolate(config);
  const b = d.isolate(config);
  await a.registered([good.issuer]);
  const issuerId = (
    (await (await a.request("/admin/issuers", { headers: bearer })).json()) as {
      issuers: { id: string }[];
    }
  ).issuers[0]!.id;
  return { d, a, b, issuerId };
}

/** GETs for made-up serials `from`…`from + count - 1`, sent at once, alternating over isolates. */
async function junk(isolates: Isolate[], from: number, count: number): Promise<Response[]> {
  return Promise.all(
    Array.from({ length: count }, (_, i) =>
      isolates[i % isolates.length]!.get(encodeRequest(madeUp(from + i))),
    ),
  );
}

const owner = (id: CertId) => env.CERT_OWNER.get(env.CERT_OWNER.idFromName(certIdKey(id)));

/** The upstream_budget_* samples of a /metrics scrape for one issuer. */
async function budgetMetrics(relay: Isolate, issuerId: string) {
  const res = await relay.request("/metrics", { headers: bearer });
  expect(res.status).toBe(200);
  const body = await res.text();
  const value = (series: string) => {
    const line = body
      .split("\n")
      .find((l) => l.startsWith(`ocsp_relay_upstream_budget_${series}{issuer="${issuerId}"} `));
    return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(" ") + 1));
  };
  return {
    admitted: value("admitted_total"),
    denied: value("denied_total"),
    tokens: value("tokens"),
  };
}

describe("the upstream budget, fleet-wide", () => {
  it("made-up serials sent through two isolates reach the CA exactly burst times", async () => {
    const { d, a, b } = await deployed();
    const responses = await junk([a, b], 0, 12);
    expect(d.calls).toHaveLength(5);
    // The CA failed for the five it saw; the seven others were refused before reaching it.
    for (const res of responses) await expectOcspError(res, 200, "tryLater");
    const asked = new Set(d.calls.map(askedSerial));
    expect(asked.size).toBe(5);
    for (let n = 0; n < 12; n++) {
      const id = madeUp(n);
      if (asked.has(toHex(id.serialNumber))) continue;
      // Over budget: no owner state, no alarm, nothing in KV or the edge cache.
      expect(await owner(id).inspect()).toEqual({ state: undefined, answer: undefined });
      expect(await caches.default.match(edgeKey(certIdKey(id)))).toBeUndefined();
    }
    expect(await cachedResponseKeys()).toEqual([]);
  });

  it.each([
    ["the default budget (40 at once)", {}, 12],
    ["UPSTREAM_BUDGET_BURST=3", { UPSTREAM_BUDGET_BURST: "3", UPSTREAM_BUDGET_PER_MINUTE: "1" }, 3],
    ["UPSTREAM_BUDGET_BURST=5", BUDGET, 5],
  ] as const)(
    "the budget is the one set in the isolates' Env (the owners' bindings set none): %s",
    async (_, config, reached) => {
      const { d, a, b } = await deployed(config);
      await junk([a, b], 0, 12);
      expect(d.calls).toHaveLength(reached);
    },
  );

  it("a refused request is not cached: after the refill the same serial reaches the CA", async () => {
    const { d, a, b } = await deployed();
    await junk([a, b], 0, 5); // the burst, spent
    const refused = encodeRequest(madeUp(50));
    await expectOcspError(await a.get(refused), 200, "tryLater");
    await expectOcspError(await b.get(refused), 200, "tryLater");
    expect(d.calls).toHaveLength(5);
    d.advance(10_000); // one token
    await a.get(refused);
    expect(d.calls).toHaveLength(6);
    expect(askedSerial(d.calls[5]!)).toBe(toHex(madeUp(50).serialNumber));
    // That token is spent: the next made-up serial waits again.
    await expectOcspError(await b.get(encodeRequest(madeUp(51))), 200, "tryLater");
    expect(d.calls).toHaveLength(6);
  });

  it("refills with the injected clock, never above burst", async () => {
    const { d, a, b } = await deployed();
    await junk([a, b], 0, 8);
    expect(d.calls).toHaveLength(5);
    d.advance(30_000); // three tokens
    await junk([a, b], 100, 8);
    expect(d.calls).toHaveLength(8);
    d.advance(60 * 60_000); // an hour: full again, but only burst
    await junk([a, b], 200, 12);
    expect(d.calls).toHaveLength(13);
  });

  it("shows on /metrics (admitted, denied, tokens left, per issuer) and /status", async () => {
    const { a, b, issuerId } = await deployed();
    expect(await budgetMetrics(a, issuerId)).toEqual({ admitted: 0, denied: 0, tokens: 5 });
    await junk([a, b], 0, 12);
    expect(await budgetMetrics(b, issuerId)).toEqual({ admitted: 5, denied: 7, tokens: 0 });
    const status = await (await a.request("/status", { headers: bearer })).text();
    expect(status).toContain('data-budget-tokens="0" data-budget-denied="7"');
  });
});

describe("what never waits for the budget", () => {
  it("a certificate pinned through POST /admin/certificates while the budget is spent is fetched and served", async () => {
    const { d, a, b } = await deployed();
    await junk([a, b], 0, 8);
    expect(d.calls).toHaveLength(5);
    const pinned = await a.request("/admin/certificates", {
      method: "POST",
      headers: bearer,
      body: text(fixture(good.cert!)),
    });
    expect(pinned.status).toBe(200);
    expect(await pinned.json()).toMatchObject({
      certificates: [expect.objectContaining({ status: "good", pinned: true })],
    });
    expect(d.calls).toHaveLength(6);
    const res = await d.isolate(BUDGET).get(encodeRequest(goodId));
    expect(res.status).toBe(200);
    expect(await bodyOf(res)).toEqual(goodDer);
    expect(d.calls).toHaveLength(6);
  });

  it("registering leaf + issuer while the budget is spent pins and fetches the leaf", async () => {
    const { d, a, b } = await deployed();
    await junk([a, b], 0, 8);
    const res = await b.register([good.cert!, good.issuer]);
    expect(res.status).toBe(200); // rsa-ca was already registered
    expect(await res.json()).toMatchObject({
      warmed: [expect.objectContaining({ status: "good", pinned: true })],
    });
    expect(d.calls).toHaveLength(6);
    const served = await d.isolate(BUDGET).get(encodeRequest(goodId));
    expect(await bodyOf(served)).toEqual(goodDer);
  });

  it("refreshes of a held good answer do not spend from the budget", async () => {
    const { d, a, b, issuerId } = await deployed();
    // Asked for by a client once (a first fetch: one token), and the CA vouched for it.
    expect((await a.get(encodeRequest(goodId))).status).toBe(200);
    await junk([a, b], 0, 8); // the four tokens left, spent; four refused
    expect(d.calls).toHaveLength(5);
    const spent = { admitted: 5, denied: 4, tokens: 0 };
    expect(await budgetMetrics(a, issuerId)).toEqual(spent);
    // The owner's scheduled refreshes run with the budget at zero (the clock stands still).
    for (let i = 1; i <= 3; i++) {
      expect(await runDurableObjectAlarm(owner(goodId))).toBe(true);
      expect(d.calls).toHaveLength(5 + i);
      expect(askedSerial(d.calls.at(-1)!)).toBe(toHex(goodId.serialNumber));
    }
    expect(await budgetMetrics(b, issuerId)).toEqual(spent);
    // And the certificate is still served, without a token.
    const res = await d.isolate(BUDGET).get(encodeRequest(goodId));
    expect(await bodyOf(res)).toEqual(goodDer);
  });
});

describe("a guess leaves nothing behind (the real CertOwner)", () => {
  it("an unknown answer for an unpinned certificate: no refresh, and after its window no state, no alarm, no KV", async () => {
    const { d, a } = await deployed();
    d.reply = () =>
      new Response(fixture(unknown.response).slice(), {
        status: 200,
        headers: { "Content-Type": "application/ocsp-response" },
      });
    const res = await a.get(encodeRequest(unknownId));
    expect(res.status).toBe(200);
    expect(await bodyOf(res)).toEqual(fixture(unknown.response));
    expect(await cachedResponseKeys()).toEqual([]);
    expect((await owner(unknownId).inspect()).state).toMatchObject({ pinned: false });
    // The only alarm is the end of its window: it forgets, it does not ask the CA.
    d.advance(5 * 60_000);
    expect(await runDurableObjectAlarm(owner(unknownId))).toBe(true);
    expect(d.calls).toHaveLength(1);
    expect(await owner(unknownId).inspect()).toEqual({ state: undefined, answer: undefined });
    expect(await runDurableObjectAlarm(owner(unknownId))).toBe(false); // nothing left to wake it
    expect(await cachedResponseKeys()).toEqual([]);
    // A client asking again later: the CA is asked again, once.
    d.advance(60 * 60_000);
    await d.isolate(BUDGET).get(encodeRequest(unknownId));
    expect(d.calls).toHaveLength(2);
  });
});
