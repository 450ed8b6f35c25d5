// Found by the review of b2f782f: only KV-tier hits tell the owner clients ask, and an anonymous
// POST /check read KV (refilling the location's edge copy) without telling it. An attacker doing so
// whenever the edge copy lapsed kept the real clients' GETs on edge hits, which tell no one: the
// owner of a certificate real servers kept asking for went idle and was forgotten, and its next
// first fetch could be refused (budget spent by made-up serials). Now every path that takes a copy
// from KV tells the owner (Relay.answer), so the certificate stays refreshed either way.
//
// The Cache API here expires entries on the real clock, so an edge copy's end (tierRecheckAt, at
// most TIER_MAX_AGE_MS) is emulated by deleting it at that virtual time.

import { env } from "cloudflare:workers";
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import { parseFacts } from "../../src/cache/record.ts";
import { tierRecheckAt } from "../../src/cache/freshness.ts";
import type { StoredOwner } from "../../src/fleet/owner.ts";
import { certIdFor, certIdKey, encodeRequest, type CertId } from "../../src/ocsp/request.ts";
import { edgeKey } from "../../src/sources/edge.ts";
import { forgeLeaf, type ForgedLeaf } from "../support/crl-forge.ts";
import { certificate, fixture } from "../support/files.ts";
import { askedCertId, forgeOcspGood } from "../support/ocsp-forge.ts";
import {
  at,
  Deployment,
  freshDeploymentPerTest,
  getPath,
  HOUR,
  ORIGIN,
  RESPONDER,
  type Isolate,
} from "./support.ts";

const CA = "crls/pki/crl-ca.pem";
const CLOCK = at("2026-12-10T12:00:00Z");
const DAY = 24 * HOUR;

let leaf: ForgedLeaf;
let certId: CertId;
let key: string;
beforeAll(async () => {
  leaf = await forgeLeaf({
    serial: "5eed01",
    crlUrls: ["http://crl.ca.example/ca.crl"],
    ocspUrls: [RESPONDER],
    notBefore: new Date(CLOCK - DAY),
    notAfter: new Date(CLOCK + 90 * DAY),
    subjectCn: "real.example.net",
  });
  certId = await certIdFor(certificate(fixture(CA)), certificate(leaf.der), "SHA-1");
  key = certIdKey(certId);
}, 30_000);
freshDeploymentPerTest();
beforeEach(async () => {
  await caches.default.delete(edgeKey(key));
});

/** A CA answering `good` for anything, valid 7 days (Let's Encrypt's window). */
function deployment() {
  const d = new Deployment(CLOCK);
  d.reply = async (call) => {
    const id = askedCertId(call, RESPONDER);
    const der = await forgeOcspGood(
      id,
      new Date(d.clock - HOUR),
      new Date(d.clock + 7 * DAY - HOUR),
    );
    return new Response(der.slice(), { headers: { "Content-Type": "application/ocsp-response" } });
  };
  return d;
}

/** A GET as the runtime makes it (ExecutionContext, background work awaited). */
async function get(relay: Isolate, path: string): Promise<Response> {
  const ctx = createExecutionContext();
  const res = await relay.worker.fetch(new Request(ORIGIN + path), relay.env, ctx);
  await res.arrayBuffer();
  await waitOnExecutionContext(ctx);
  return res;
}

const owner = () => env.CERT_OWNER.get(env.CERT_OWNER.idFromName(key));
/** The owner's state as stored (its one row), not as held in memory. */
const ownerState = () =>
  runInDurableObject(owner(), async (_, s) => (await s.storage.get<StoredOwner>("owner"))?.state);
const ledgerRow = () =>
  runInDurableObject(env.FLEET_LEDGER.get(env.FLEET_LEDGER.idFromName("ledger")), (_, s) =>
    s.storage.get(`cert:${key}`),
  );

/**
 * Runs the owner's alarm once it is due on the virtual clock (its nextAttemptAt: the platform
 * holds alarms by the time left on the real clock, so the test fires them).
 */
async function ownerAlarmIfDue(d: Deployment): Promise<void> {
  const due = (await ownerState())?.nextAttemptAt;
  if (due !== undefined && due <= d.clock) await runDurableObjectAlarm(owner());
}

/** The edge copy's end on the virtual clock, as its max-age set it (undefined: none held). */
let edgeEnd: number | undefined;
async function expireEdgeIfDue(d: Deployment): Promise<void> {
  if (edgeEnd !== undefined && d.clock >= edgeEnd) {
    await caches.default.delete(edgeKey(key));
    edgeEnd = undefined;
  }
}
async function noteEdgeWrite(d: Deployment, had: boolean): Promise<void> {
  const held = await caches.default.match(edgeKey(key));
  if (!had && held) {
    const facts = parseFacts(JSON.parse(held.headers.get("X-OCSP-Relay-Facts")!))!;
    edgeEnd = tierRecheckAt(facts, d.clock);
  }
}

/**
 * Up to 12 days: every 6 h a real server (nginx: a fresh isolate of the same location) asks for
 * its certificate; with `attacker`, an anonymous POST /check of the same (public) leaf comes
 * first. Stops when the owner has forgotten the certificate.
 */
async function run(attacker: boolean) {
  const d = deployment();
  await d.isolate().registered([CA], `?responder=${RESPONDER}`);
  const path = getPath(encodeRequest(certId));
  edgeEnd = undefined;
  const first = await get(d.isolate(), path);
  expect(first.headers.get("X-Cache")).toBe("MISS");
  await noteEdgeWrite(d, false);
  let touchedOwner = 0;
  let forgottenAfterDays: number | undefined;
  for (let step = 1; step <= 48; step++) {
    d.advance(6 * HOUR);
    await expireEdgeIfDue(d);
    let had = Boolean(await caches.default.match(edgeKey(key)));
    if (attacker) {
      const res = await d.isolate().request("/check", { method: "POST", body: leaf.pem });
      expect(res.status).toBe(200);
      expect(((await res.json()) as { source?: string }).source).toMatch(/^(edge|kv)$/);
      await noteEdgeWrite(d, had);
      had = Boolean(await caches.default.match(edgeKey(key)));
    }
    const before = (await ownerState())?.lastRequestedAt;
    const res = await get(d.isolate(), path);
    expect(res.status).toBe(200);
    await noteEdgeWrite(d, had);
    if ((await ownerState())?.lastRequestedAt !== before) touchedOwner++;
    await ownerAlarmIfDue(d);
    if (!(await ownerState())) {
      forgottenAfterDays = (step * 6) / 24;
      break;
    }
  }
  return { d, path, touchedOwner, forgottenAfterDays, row: await ledgerRow() };
}

describe("a location's copy refilled by anonymous POST /check", () => {
  it("control: a certificate real servers keep asking for stays refreshed", async () => {
    const r = await run(false);
    expect(r.touchedOwner).toBeGreaterThan(0);
    expect(r.forgottenAfterDays).toBeUndefined(); // 12 days, still refreshed
    expect(r.row).toBeDefined();
  }, 60_000);

  it("attacked: the /check's read of KV tells the owner, and the certificate stays refreshed", async () => {
    const r = await run(true);
    expect(r.forgottenAfterDays).toBeUndefined(); // 12 days, still refreshed
    expect(r.row).toBeDefined(); // and on /status
  }, 60_000);
});
