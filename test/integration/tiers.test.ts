// Adding a tier (docs/architecture.md "How to add a tier"): a tier of this test's own, wired with
// one line between the edge cache and KV, answers the OCSP endpoint and /check, is counted in
// /metrics under its own name, and keeps its certificate refreshed, with no change to the relay,
// the counters or the renderer: all they need is what the tier declares (sources/source.ts).

import { env } from "cloudflare:workers";
import {
  createExecutionContext,
  listDurableObjectIds,
  runInDurableObject,
  waitOnExecutionContext,
} from "cloudflare:test";
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createApp } from "../../src/app.ts";
import { tierRecheckAt } from "../../src/cache/freshness.ts";
import type { CachedAnswer } from "../../src/cache/record.ts";
import { ok, type RelayError, type Result } from "../../src/errors.ts";
import { ops } from "../../src/instrumentation.ts";
import { certIdKey, encodeRequest } from "../../src/ocsp/request.ts";
import { edgeKey } from "../../src/sources/edge.ts";
import {
  served,
  type Lookup,
  type Served,
  type Source,
  type TierInfo,
} from "../../src/sources/source.ts";
import { CACHE_TIERS, Relays } from "../../src/wiring.ts";
import { caseCertId, fixtureCase } from "../support/cases.ts";
import { fixture, text } from "../support/files.ts";
import {
  ADMIN_TOKEN,
  bindings,
  certIdOf,
  Deployment,
  freshDeploymentPerTest,
  getPath,
  ocspReply,
  ORIGIN,
  servingClock,
} from "./support.ts";

/**
 * The test's tier declares itself as every tier does: its name, that it holds copies, and (shared
 * by every isolate, read once per copy, as KV is) that its hits tell the owner clients still ask.
 */
const PROBE_TIER: TierInfo = { name: "probe", cached: true, touches: true };

/** A copy the probe holds, and until when it may answer from it without asking the tier below. */
interface Copy {
  answer: CachedAnswer;
  recheckAt: number;
}

/**
 * A cache tier of the test's own, shaped as the architecture page says a tier is: copies in a map
 * every isolate of the test shares (as a regional cache would be), each served until its tier
 * re-check point, a miss asked of the next tier and its answer kept.
 */
class ProbeTier implements Source {
  constructor(
    private readonly held: Map<string, Copy>,
    private readonly next: Source,
  ) {}

  async get(lookup: Lookup): Promise<Result<Served, RelayError>> {
    const copy = this.current(lookup);
    if (copy) return ok(served(PROBE_TIER, copy));
    const result = await this.next.get(lookup);
    if (result.ok) {
      const answer = result.value.answer;
      this.held.set(lookup.key, { answer, recheckAt: tierRecheckAt(answer, lookup.now) });
    }
    return result;
  }

  async inspect(lookup: Lookup): Promise<Served | undefined> {
    const copy = this.current(lookup);
    return copy ? served(PROBE_TIER, copy) : this.next.inspect(lookup);
  }

  private current(lookup: Lookup): CachedAnswer | undefined {
    const copy = this.held.get(lookup.key);
    return copy && lookup.now < copy.recheckAt ? copy.answer : undefined; // recheckAt ≤ serveUntil
  }
}

const good = fixtureCase("rsa-direct-good"); // leaf-rsa-good, serial 1001, rsa-ca
const bearer = { Authorization: `Bearer ${ADMIN_TOKEN}` };
let clock: number;
let key: string;
let path: string;

beforeAll(async () => {
  clock = await servingClock(good);
  key = certIdKey(await caseCertId(good));
  path = getPath(encodeRequest(await certIdOf(good.issuer, good.cert!)));
});
freshDeploymentPerTest();
beforeEach(async () => {
  await wipeLedger();
  return wipeLedger;
});

/** Empties the FleetLedger: the counters /metrics shows are this test's. */
async function wipeLedger(): Promise<void> {
  for (const id of await listDurableObjectIds(env.FLEET_LEDGER)) {
    await runInDurableObject(env.FLEET_LEDGER.get(id), (_, state) => state.storage.deleteAll());
  }
}

/**
 * An isolate whose chain is memory -> edge cache -> probe -> KV -> owner. The probe answers on the
 * routed path (the hot path reads isolate memory only), which app.fetch runs with an
 * ExecutionContext, as the runtime does: work owed after the response (counters, the owner's
 * touch) is awaited before the test looks.
 */
function probeIsolate(shared: Map<string, Copy>, d: Deployment) {
  const [edge, kv] = CACHE_TIERS;
  const relays = new Relays(d.platform, [edge!, (_, next) => new ProbeTier(shared, next), kv!]);
  const app = createApp(relays);
  const isolateEnv = bindings();
  return {
    async fetch(path: string, init: RequestInit = {}) {
      const ctx = createExecutionContext();
      const res = await app.fetch(new Request(ORIGIN + path, init), isolateEnv, ctx);
      const body = new Uint8Array(await res.arrayBuffer());
      await waitOnExecutionContext(ctx);
      return { res, body, text: () => new TextDecoder().decode(body) };
    },
  };
}

/** The `requests_total` samples of a scrape, as `outcome/tier → count`. */
function requestCounts(scrape: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of scrape.matchAll(
    /^ocsp_relay_requests_total\{outcome="([a-z_]+)",tier="([a-z]+)"\} (\d+)$/gm,
  ))
    out[`${m[1]}/${m[2]}`] = Number(m[3]);
  return out;
}

/** What the certificate's owner recorded (its RPC, as the relay's OwnerSource reads it). */
const ownerState = async () =>
  (await env.CERT_OWNER.get(env.CERT_OWNER.idFromName(key)).inspect()).state;

describe("a tier wired with one line between the edge cache and KV", () => {
  it("answers OCSP and /check under its own name, is counted in /metrics, and touches the owner", async () => {
    const d = new Deployment(clock, ocspReply(fixture(good.response)));
    const issuer = await d.isolate().registered([good.issuer]);
    const shared = new Map<string, Copy>();

    // The first isolate misses everywhere: the owner fetches, and the probe keeps a copy.
    const first = await probeIsolate(shared, d).fetch(path);
    expect(first.res.status).toBe(200);
    expect(first.res.headers.get("X-Cache")).toBe("MISS");
    expect(shared.has(key)).toBe(true);
    expect(d.calls).toHaveLength(1);
    expect((await ownerState())?.lastRequestedAt).toBe(d.clock);

    // A minute later, another isolate of the location, the edge copy gone: the probe answers (the
    // owner is not asked for the answer), and the owner is told a client still asks (a touch), as
    // for any tier whose hits touch.
    await caches.default.delete(edgeKey(key));
    d.advance(60_000);
    const ownerCalls = ops.ownerCalls;
    const touches = ops.touches;
    const second = probeIsolate(shared, d);
    const hit = await second.fetch(path);
    expect(hit.res.status).toBe(200);
    expect(hit.res.headers.get("X-Cache")).toBe("HIT");
    expect(hit.body).toEqual(first.body);
    expect(ops.ownerCalls - ownerCalls).toBe(0);
    expect(ops.touches - touches).toBe(1);
    expect(d.calls).toHaveLength(1);

    // /check names it: what each tier holds (GET), and what the OCSP endpoint serves (POST).
    await caches.default.delete(edgeKey(key));
    const third = probeIsolate(shared, d);
    const held = await third.fetch(`/check/${issuer.id}/1001`, { headers: bearer });
    expect(held.res.status).toBe(200);
    expect(JSON.parse(held.text())).toMatchObject({ status: "good", source: "probe" });
    const checked = await third.fetch("/check", {
      method: "POST",
      body: text(fixture(good.cert!)),
    });
    expect(checked.res.status).toBe(200);
    expect(JSON.parse(checked.text())).toMatchObject({ status: "good", source: "probe" });

    // /metrics: the probe's hit under its own name, beside the miss, nothing else.
    const scrape = await second.fetch("/metrics", { headers: bearer });
    expect(scrape.res.status).toBe(200);
    expect(scrape.text()).toContain('ocsp_relay_requests_total{outcome="hit",tier="probe"} 1\n');
    expect(requestCounts(scrape.text())).toEqual({ "miss/upstream": 1, "hit/probe": 1 });
    expect(d.calls).toHaveLength(1);
  });
});
