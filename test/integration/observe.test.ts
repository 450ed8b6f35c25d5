// What an operator sees of a running relay, in workerd with a fake CA: `/check` (curl a PEM, get
// JSON), `/metrics` (Prometheus) and `/status` (HTML), and who may see them. The fleet ledger
// (FleetLedger Durable Object) is emptied between tests as the deployment is.

import { env } from "cloudflare:workers";
import { listDurableObjectIds, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { CertSummary } from "../../src/fleet/ledger.ts";
import { FAILURE_MEMORY_MS } from "../../src/fleet/owner.ts";
import { edgeKey } from "../../src/sources/edge.ts";
import { certIdKey, decodeGetPath, decodeRequest, encodeRequest } from "../../src/ocsp/request.ts";
import { toHex } from "../../src/ocsp/bytes.ts";
import { verifyResponse, type Accepted } from "../../src/ocsp/verify.ts";
import { caseCertId, fixtureCase, type FixtureCase } from "../support/cases.ts";
import { certificate, fixture, text } from "../support/files.ts";
import {
  ADMIN_TOKEN,
  answerTimes,
  certIdOf,
  Deployment,
  freshDeploymentPerTest,
  HOUR,
  ocspReply,
  RESPONDER,
  servingClock,
  type Isolate,
  type UpstreamCall,
  type UpstreamReply,
} from "./support.ts";

const bearer = { Authorization: `Bearer ${ADMIN_TOKEN}` };

/** The fixture answers the fake CA gives, one per leaf. */
const CASES = {
  good: fixtureCase("rsa-direct-good"), // leaf-rsa-good, serial 1001, rsa-ca
  unknown: fixtureCase("rsa-delegated-unknown"), // leaf-rsa-unknown, 1003
  mustStaple: fixtureCase("rsa-delegated-muststaple"), // leaf-rsa-muststaple, 1004
  revoked: fixtureCase("ec-direct-revoked"), // leaf-ec-revoked, 2002, ec-ca, superseded
  forged: fixtureCase("rsa-bad-signature"), // leaf-rsa-good, one bit of the signature flipped
};
type CaseName = keyof typeof CASES;

let clock: number;
/** Each valid case's verdict at `clock`, for the times /check must show. */
const verdicts = new Map<CaseName, Accepted>();

beforeAll(async () => {
  const valid = (["good", "unknown", "mustStaple", "revoked"] as const).map((n) => CASES[n]);
  clock = Math.max(...(await Promise.all(valid.map(servingClock))));
  for (const name of ["good", "unknown", "mustStaple", "revoked"] as const) {
    const c: FixtureCase = CASES[name];
    const verdict = await verifyResponse({
      response: fixture(c.response),
      issuer: certificate(fixture(c.issuer)),
      certId: await caseCertId(c),
      now: new Date(clock),
    });
    if (!verdict.ok) throw new Error(`fixture ${c.name} does not verify: ${verdict.detail}`);
    verdicts.set(name, verdict);
  }
});
freshDeploymentPerTest();
beforeEach(async () => {
  await wipeLedger();
  return wipeLedger; // and after each test
});

/** Empties the FleetLedger (counters, summaries, failures, alert marks). */
async function wipeLedger(): Promise<void> {
  for (const id of await listDurableObjectIds(env.FLEET_LEDGER)) {
    await runInDurableObject(env.FLEET_LEDGER.get(id), async (_, state) => {
      await state.storage.deleteAll();
    });
  }
}

/** The serial (hex) a CA request asks about. */
function serialAsked(call: UpstreamCall): string {
  const decoded =
    call.method === "GET" ? decodeGetPath(new URL(call.url).pathname) : decodeRequest(call.body!);
  if (!decoded.ok) throw new Error(`unreadable request to the CA: ${call.url}`);
  return toHex(decoded.value.certIds[0]!.serialNumber);
}

/** A CA answering each serial with the given reply; anything else gets HTTP 500. */
function ca(bySerial: Record<string, UpstreamReply>): UpstreamReply {
  return (call) => {
    const reply = bySerial[serialAsked(call)];
    return reply ? reply(call) : new Response("not in this test", { status: 500 });
  };
}
const caDown: UpstreamReply = () => new Response("down for maintenance", { status: 503 });
const answering = (name: CaseName) => ocspReply(fixture(CASES[name].response));
const answering256 = ocspReply(fixture(fixtureCase("rsa-delegated-sha256").response));

/** rsa-ca and ec-ca registered; the CA answers the good, unknown, Must-Staple and revoked leaves. */
async function deployment(overrides: Parameters<Deployment["isolate"]>[0] = {}) {
  const d = new Deployment(
    clock,
    ca({
      "1001": answering("good"),
      "1003": answering("unknown"),
      "1004": answering("mustStaple"),
      "2002": answering("revoked"),
    }),
  );
  const relay = d.isolate(overrides);
  const rsa = await relay.registered(["pki/rsa-ca.pem"]);
  const ec = await relay.registered(["pki/ec-ca.pem"]);
  return { d, relay, rsa, ec };
}

/** The CertID key of a fixture leaf (SHA-1, as /check and openssl build it). */
async function certIdOfLeaf(issuer: string, leaf: string) {
  const id = await certIdOf(issuer, leaf);
  return { id, key: certIdKey(id) };
}

const certIdKeyOf = async (issuer: string, leaf: string) => certIdKey(await certIdOf(issuer, leaf));
const pem = (...paths: string[]) => paths.map((p) => text(fixture(p))).join("\n");
const check = (relay: Isolate, body: BodyInit, headers: HeadersInit = {}) =>
  relay.request("/check", { method: "POST", body, headers });
const iso = (d: Date) => d.toISOString();
const subjectOf = (path: string) => certificate(fixture(path)).subjectText;

async function json(res: Response): Promise<Record<string, unknown>> {
  expect(res.headers.get("Content-Type")).toMatch(/^application\/json/);
  return res.json();
}

async function ocspGet(relay: Isolate, issuer: string, leaf: string): Promise<Response> {
  const res = await relay.get(encodeRequest(await certIdOf(issuer, leaf)));
  await res.arrayBuffer();
  return res;
}

async function metrics(
  relay: Isolate,
  query = "",
): Promise<{ text: string; value(series: string): number }> {
  const res = await relay.request(`/metrics${query}`, { headers: bearer });
  expect(res.status).toBe(200);
  expect(res.headers.get("Content-Type")).toMatch(/^text\/plain; version=0\.0\.4/);
  const body = await res.text();
  return {
    text: body,
    value(series) {
      const line = body.split("\n").find((l) => l.startsWith(`ocsp_relay_${series} `));
      return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(" ") + 1));
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

interface Element {
  attrs: Record<string, string>;
  text: string;
}

/** Elements matching `selector` in an HTML page (HTMLRewriter), with attributes and text. */
async function select(html: string, selector: string): Promise<Element[]> {
  const found: Element[] = [];
  const open: Element[] = [];
  await new HTMLRewriter()
    .on(selector, {
      element(e) {
        const el = { attrs: Object.fromEntries(e.attributes), text: "" };
        found.push(el);
        open.push(el);
        e.onEndTag(() => void open.pop());
      },
    })
    .on("*", {
      text(t) {
        for (const el of open) el.text += t.text;
      },
    })
    .transform(new Response(html))
    .text();
  return found.map((el) => ({ ...el, text: el.text.replace(/\s+/g, " ").trim() }));
}

async function statusPage(relay: Isolate, query = ""): Promise<string> {
  const res = await relay.request(`/status${query}`, { headers: bearer });
  expect(res.status).toBe(200);
  expect(res.headers.get("Content-Type")).toMatch(/^text\/html/);
  expect(res.headers.get("Cache-Control")).toBe("no-store");
  return res.text();
}

describe("POST /check with a PEM certificate", () => {
  it("a good leaf: its subject, serial, issuer, status, answer times, source upstream then memory", async () => {
    const { d, relay, rsa } = await deployment();
    const res = await check(relay, pem("pki/leaf-rsa-good.pem"));
    expect(res.status).toBe(200);
    const first = await json(res);
    const v = verdicts.get("good")!;
    expect(first).toMatchObject({
      certificate: {
        subject: subjectOf("pki/leaf-rsa-good.pem"),
        serial: "1001",
        mustStaple: false,
        ocspUrls: ["http://127.0.0.1:8888/"],
      },
      issuer: { id: rsa.id, subject: rsa.subject },
      responderUrl: RESPONDER,
      status: "good",
      thisUpdate: iso(v.thisUpdate),
      nextUpdate: iso(v.nextUpdate),
      producedAt: iso(v.producedAt),
      secondsLeft: Math.floor((v.nextUpdate.getTime() - clock) / 1000),
      source: "upstream",
      lastFetchedAt: new Date(clock).toISOString(),
      lastUpstreamError: null,
      pinned: false,
    });
    expect(first).not.toHaveProperty("revocationReason");
    expect(first).not.toHaveProperty("problem");
    expect(d.calls).toHaveLength(1);

    d.advance(60_000);
    const second = await json(await check(relay, pem("pki/leaf-rsa-good.pem")));
    expect(second).toMatchObject({ status: "good", source: "memory" });
    expect(second.lastFetchedAt).toBe(first.lastFetchedAt);
    expect(d.calls).toHaveLength(1);
  });

  it("the leaf followed by its issuer gives the same answer", async () => {
    const { d, relay, rsa } = await deployment();
    const body = await json(await check(relay, pem("pki/leaf-rsa-good.pem", "pki/rsa-ca.pem")));
    expect(body).toMatchObject({
      certificate: { serial: "1001" },
      issuer: { id: rsa.id },
      status: "good",
      source: "upstream",
    });
    expect(d.calls).toHaveLength(1);
  });

  it("the issuer first and the leaf second: the leaf is still the one checked", async () => {
    const { relay } = await deployment();
    const body = await json(await check(relay, pem("pki/rsa-ca.pem", "pki/leaf-rsa-good.pem")));
    expect(body).toMatchObject({ certificate: { serial: "1001" }, status: "good" });
  });

  it("a revoked leaf: revocation time and reason", async () => {
    const { relay, ec } = await deployment();
    const body = await json(await check(relay, pem("pki/leaf-ec-revoked.pem")));
    const v = verdicts.get("revoked")!;
    if (v.certStatus.status !== "revoked") throw new Error("fixture is not revoked");
    expect(body).toMatchObject({
      certificate: { serial: "2002", subject: subjectOf("pki/leaf-ec-revoked.pem") },
      issuer: { id: ec.id },
      status: "revoked",
      revocationTime: iso(v.certStatus.revocationTime),
      revocationReason: "superseded",
      source: "upstream",
    });
  });

  it("a leaf the CA does not know: unknown", async () => {
    const { relay } = await deployment();
    const body = await json(await check(relay, pem("pki/leaf-rsa-unknown.pem")));
    expect(body).toMatchObject({ certificate: { serial: "1003" }, status: "unknown" });
    expect(body.secondsLeft).toBeLessThanOrEqual(300); // unknown is served 5 minutes at most
  });

  it("a Must-Staple leaf says so", async () => {
    const { relay } = await deployment();
    const body = await json(await check(relay, pem("pki/leaf-rsa-muststaple.pem")));
    expect(body).toMatchObject({
      certificate: { serial: "1004", mustStaple: true },
      status: "good",
    });
  });

  it("a failing CA: no answer, the upstream error shown; once the CA is back, the answer", async () => {
    const { d, relay } = await deployment();
    d.reply = caDown;
    const failed = await json(await check(relay, pem("pki/leaf-rsa-good.pem")));
    expect(failed).toMatchObject({
      status: "no answer",
      source: null,
      thisUpdate: null,
      nextUpdate: null,
      lastUpstreamErrorAt: new Date(clock).toISOString(),
    });
    expect(failed.lastUpstreamError).toContain("HTTP 503");
    expect(failed.problem).toContain("HTTP 503");

    d.reply = answering("good");
    d.advance(FAILURE_MEMORY_MS);
    const recovered = await json(await check(relay, pem("pki/leaf-rsa-good.pem")));
    expect(recovered).toMatchObject({
      status: "good",
      source: "upstream",
      lastUpstreamError: null,
    });
  });

  it("a refresh failing while an answer is held: the answer stays, the error is shown beside it", async () => {
    const { d, relay } = await deployment();
    const first = await json(await check(relay, pem("pki/leaf-rsa-good.pem")));
    d.reply = caDown;
    const key = (await certIdOfLeaf("pki/rsa-ca.pem", "pki/leaf-rsa-good.pem")).key;
    expect(await runDurableObjectAlarm(env.CERT_OWNER.get(env.CERT_OWNER.idFromName(key)))).toBe(
      true,
    );
    expect(d.calls).toHaveLength(2);
    const after = await json(await check(relay, pem("pki/leaf-rsa-good.pem")));
    expect(after).toMatchObject({ status: "good", nextUpdate: first.nextUpdate });
    expect(after.lastUpstreamError).toContain("HTTP 503");
  });

  it.each<[string, number, string, () => BodyInit]>([
    ["an empty body", 400, "empty body", () => ""],
    ["text that is no PEM", 400, "bad PEM", () => "hello, relay"],
    [
      "a PEM block that is not base64",
      400,
      "bad PEM",
      () => "-----BEGIN CERTIFICATE-----\n!!not base64!!\n-----END CERTIFICATE-----\n",
    ],
    [
      "a PEM block that is not a certificate",
      400,
      "bad PEM",
      () => "-----BEGIN CERTIFICATE-----\nMAMCAQE=\n-----END CERTIFICATE-----\n",
    ],
    ["a CA certificate alone", 400, "no leaf certificate", () => pem("pki/rsa-ca.pem")],
    [
      "a leaf whose issuer is not registered",
      404,
      "issuer not registered",
      () => pem("pki/leaf-ed-good.pem"),
    ],
    [
      "more than 64 KiB",
      413,
      "body too large",
      () => pem("pki/leaf-rsa-good.pem") + "\n" + "#".repeat(64 * 1024),
    ],
  ])("%s: HTTP %i, JSON error %j", async (_, status, error, body) => {
    const { d, relay } = await deployment();
    const res = await check(relay, body());
    expect(res.status).toBe(status);
    const payload = await json(res);
    expect(payload.error).toBe(error);
    expect(typeof payload.detail).toBe("string");
    expect(JSON.stringify(payload)).not.toMatch(/at .*\.ts:\d+/); // no stack trace
    expect(d.calls).toHaveLength(0);
  });

  it("more than 64 KiB without a Content-Length (chunked) is refused too", async () => {
    const { relay } = await deployment();
    const chunk = new TextEncoder().encode("#".repeat(16 * 1024));
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < 5; i++) controller.enqueue(chunk);
        controller.close();
      },
    });
    const res = await check(relay, stream);
    expect(res.status).toBe(413);
    expect((await json(res)).error).toBe("body too large");
  });

  it("a leaf sent with a registered CA that did not issue it is checked against its real issuer", async () => {
    // leaf-rsa-good (issued by rsa-ca) followed by ec-ca: the relay must not ask ec-ca's responder
    // about rsa-ca's serial 1001, nor report ec-ca as the issuer.
    const { d, relay, rsa } = await deployment();
    const res = await check(relay, pem("pki/leaf-rsa-good.pem", "pki/ec-ca.pem"));
    const body = await json(res);
    if (res.status === 200) {
      expect(body).toMatchObject({ issuer: { id: rsa.id }, status: "good" });
    } else {
      expect(res.status).toBe(400);
      expect(d.calls).toHaveLength(0);
    }
  });
});

describe("GET /check/<issuer id>/<serial hex>: the cached state, without asking the CA", () => {
  it("after a check: the same answer from this isolate's memory, and from KV in another isolate", async () => {
    const { d, relay, rsa } = await deployment();
    await check(relay, pem("pki/leaf-rsa-good.pem"));
    const calls = d.calls.length;
    const v = verdicts.get("good")!;

    const here = await relay.request(`/check/${rsa.id}/1001`, { headers: bearer });
    expect(here.status).toBe(200);
    expect(await json(here)).toMatchObject({
      certificate: {
        serial: "1001",
        subject: subjectOf("pki/leaf-rsa-good.pem"),
        mustStaple: false,
      },
      issuer: { id: rsa.id },
      status: "good",
      thisUpdate: iso(v.thisUpdate),
      nextUpdate: iso(v.nextUpdate),
      source: "memory",
      lastUpstreamError: null,
    });

    // Another isolate of the location reads what an OCSP request there would: the edge cache,
    // then KV once the edge copy is gone.
    const elsewhere = await json(
      await d.isolate().request(`/check/${rsa.id}/10:01`, { headers: bearer }),
    );
    expect(elsewhere).toMatchObject({ status: "good", source: "edge" });
    await caches.default.delete(
      edgeKey(await certIdKeyOf("pki/rsa-ca.pem", "pki/leaf-rsa-good.pem")),
    );
    const fromKv = await json(
      await d.isolate().request(`/check/${rsa.id}/10:01`, { headers: bearer }),
    );
    expect(fromKv).toMatchObject({ status: "good", source: "kv" });
    expect(d.calls).toHaveLength(calls);
  });

  it("a revoked answer cached: status, reason and time", async () => {
    const { d, relay, ec } = await deployment();
    await check(relay, pem("pki/leaf-ec-revoked.pem"));
    const calls = d.calls.length;
    const body = await json(await d.isolate().request(`/check/${ec.id}/2002`, { headers: bearer }));
    expect(body).toMatchObject({ status: "revoked", revocationReason: "superseded" });
    expect(d.calls).toHaveLength(calls);
  });

  it("nothing cached: 'no answer', and the CA is not asked", async () => {
    const { d, relay, rsa } = await deployment();
    const res = await relay.request(`/check/${rsa.id}/1001`, { headers: bearer });
    expect(res.status).toBe(200);
    expect(await json(res)).toMatchObject({
      certificate: { serial: "1001" },
      status: "no answer",
      source: null,
      thisUpdate: null,
      problem: "nothing cached for this certificate",
    });
    expect(d.calls).toHaveLength(0);
  });

  it("an OCSP request's answer (no PEM ever sent) is found by serial too", async () => {
    const { d, relay, rsa } = await deployment();
    await ocspGet(relay, "pki/rsa-ca.pem", "pki/leaf-rsa-good.pem");
    const body = await json(
      await d.isolate().request(`/check/${rsa.id}/1001`, { headers: bearer }),
    );
    expect(body).toMatchObject({ status: "good", source: "edge" });
    await caches.default.delete(
      edgeKey(await certIdKeyOf("pki/rsa-ca.pem", "pki/leaf-rsa-good.pem")),
    );
    const fromKv = await json(
      await d.isolate().request(`/check/${rsa.id}/1001`, { headers: bearer }),
    );
    expect(fromKv).toMatchObject({ status: "good", source: "kv" });
    expect(d.calls).toHaveLength(1);
  });

  it("an answer cached for a client asking with a SHA-256 CertID is found by serial too", async () => {
    const sha256 = fixtureCase("rsa-delegated-sha256");
    const { d, relay, rsa } = await deployment();
    d.reply = answering256;
    const res = await relay.get(fixture(sha256.request!));
    expect(res.status).toBe(200);
    expect(res.headers.get("X-Cache")).toBe("MISS");
    const calls = d.calls.length;
    const body = await json(
      await d.isolate().request(`/check/${rsa.id}/1001`, { headers: bearer }),
    );
    expect(body).toMatchObject({ status: "good" });
    expect(d.calls).toHaveLength(calls);
  });

  it.each([
    ["an unknown issuer", 404, "issuer not registered", "/check/0000000000000000/1001"],
    ["a serial that is not hex", 400, "bad serial", "/check/ISSUER/zz01"],
    ["a serial longer than 20 bytes", 400, "bad serial", `/check/ISSUER/${"ab".repeat(41)}`],
  ])("%s: HTTP %i, JSON error %j", async (_, status, error, path) => {
    const { d, relay, rsa } = await deployment();
    const res = await relay.request(path.replace("ISSUER", rsa.id), { headers: bearer });
    expect(res.status).toBe(status);
    expect((await json(res)).error).toBe(error);
    expect(d.calls).toHaveLength(0);
  });
});

const OBSERVED = ["/metrics", "/metrics?certificates=all", "/status", "/status?q=1001&page=2"];

describe("who may see /metrics and /status", () => {
  it.each(OBSERVED)("%s: 401 without the token, 401 with a wrong one", async (path) => {
    const { relay } = await deployment();
    const attempts: HeadersInit[] = [
      {},
      { Authorization: "Bearer wrong" },
      { Authorization: ADMIN_TOKEN }, // the token without "Bearer"
    ];
    for (const headers of attempts) {
      const res = await relay.request(path, { headers });
      expect(res.status).toBe(401);
      expect(res.headers.get("WWW-Authenticate")).toMatch(/^Bearer/);
      expect((await json(res)).error).toBe("unauthorized");
    }
    expect((await relay.request(path, { headers: bearer })).status).toBe(200);
  });

  it.each(OBSERVED)("%s: 403 when ADMIN_TOKEN is not set", async (path) => {
    const d = new Deployment(clock);
    for (const relay of [d.isolate({ ADMIN_TOKEN: undefined }), d.isolate({ ADMIN_TOKEN: "" })]) {
      for (const headers of [{}, bearer]) {
        const res = await relay.request(path, { headers });
        expect(res.status).toBe(403);
        expect((await json(res)).error).toBe("admin API disabled");
      }
    }
  });

  // (?certificates=all stays the operator's even then: test/integration/hostile.test.ts.)
  it.each(OBSERVED.filter((p) => !p.includes("certificates=all")))(
    "%s: public with STATUS_PUBLIC=true",
    async (path) => {
      const d = new Deployment(clock);
      for (const relay of [
        d.isolate({ STATUS_PUBLIC: "true" }),
        d.isolate({ STATUS_PUBLIC: "true", ADMIN_TOKEN: undefined }),
      ]) {
        expect((await relay.request(path)).status).toBe(200);
      }
      // The admin API stays closed.
      const open = d.isolate({ STATUS_PUBLIC: "true" });
      expect((await open.request("/admin/issuers")).status).toBe(401);
    },
  );
});

describe("/metrics", () => {
  it("counts exactly the OCSP requests made: hits by tier, the miss, malformed, unauthorized", async () => {
    const { relay, rsa } = await deployment();
    expect(
      (await ocspGet(relay, "pki/rsa-ca.pem", "pki/leaf-rsa-good.pem")).headers.get("X-Cache"),
    ).toBe("MISS");
    for (let i = 0; i < 3; i++) await ocspGet(relay, "pki/rsa-ca.pem", "pki/leaf-rsa-good.pem");
    const post = await relay.post(
      encodeRequest(await certIdOf("pki/rsa-ca.pem", "pki/leaf-rsa-good.pem")),
    );
    expect(post.status).toBe(200);
    await post.arrayBuffer();
    for (const path of ["/not-an-ocsp-request", "/AAAA"]) {
      const res = await relay.request(path);
      expect(res.status).toBe(400);
      await res.arrayBuffer();
    }
    // An issuer nobody registered: unauthorized.
    const foreign = await ocspGet(relay, "pki/ed-ca.pem", "pki/leaf-ed-good.pem");
    expect(foreign.headers.get("X-OCSP-Relay-Error")).toBe("unauthorized");

    const scrape = await metrics(relay);
    expect(requestCounts(scrape.text)).toEqual({
      "miss/upstream": 1,
      "hit/memory": 4,
      "malformed/none": 2,
      "unauthorized/none": 1,
    });
    expect(scrape.value(`upstream_fetches_total{issuer="${rsa.id}",result="ok"}`)).toBe(1);
    expect(scrape.value(`upstream_latency_seconds_count{issuer="${rsa.id}"}`)).toBe(1);

    // A second scrape counts nothing twice, and scrapes are not OCSP requests.
    expect(requestCounts((await metrics(relay)).text)).toEqual(requestCounts(scrape.text));
  });

  it("sums every isolate that flushed: another isolate's hits are added when it scrapes", async () => {
    const { d, relay } = await deployment();
    await ocspGet(relay, "pki/rsa-ca.pem", "pki/leaf-rsa-good.pem");
    await ocspGet(relay, "pki/rsa-ca.pem", "pki/leaf-rsa-good.pem");
    await metrics(relay); // flushes the first isolate
    const other = d.isolate();
    await ocspGet(other, "pki/rsa-ca.pem", "pki/leaf-rsa-good.pem");
    await ocspGet(other, "pki/rsa-ca.pem", "pki/leaf-rsa-good.pem");
    const counts = requestCounts((await metrics(other)).text);
    const hits = Object.entries(counts)
      .filter(([k]) => k.startsWith("hit/"))
      .reduce((sum, [, n]) => sum + n, 0);
    expect(counts["miss/upstream"]).toBe(1);
    expect(hits).toBe(3);
    expect(counts["hit/memory"]).toBe(2); // one in each isolate
    expect(d.calls).toHaveLength(1);
  });

  it("upstream fetches by issuer and result; a forged answer counts as a badSignature rejection", async () => {
    const { d, relay, rsa, ec } = await deployment();
    d.reply = ca({
      "1001": ocspReply(fixture(CASES.forged.response)),
      "2002": answering("revoked"),
      "1003": caDown,
    });
    // Certificates the operator registered, pinned while the CA fails: their failures judge the
    // responder (a guess's never do).
    const pinned = await relay.request("/admin/certificates", {
      method: "POST",
      headers: bearer,
      body: pem("pki/leaf-rsa-good.pem", "pki/leaf-rsa-unknown.pem"),
    });
    expect(pinned.status).toBe(200);
    const forged = await ocspGet(relay, "pki/rsa-ca.pem", "pki/leaf-rsa-good.pem");
    expect(forged.headers.get("X-OCSP-Relay-Error")).toBe("tryLater");
    await ocspGet(relay, "pki/ec-ca.pem", "pki/leaf-ec-revoked.pem");
    await ocspGet(relay, "pki/rsa-ca.pem", "pki/leaf-rsa-unknown.pem");

    const scrape = await metrics(relay);
    expect(scrape.value('verification_rejections_total{reason="badSignature"}')).toBe(1);
    expect(scrape.value(`upstream_fetches_total{issuer="${rsa.id}",result="rejected"}`)).toBe(1);
    expect(scrape.value(`upstream_fetches_total{issuer="${rsa.id}",result="error"}`)).toBe(1);
    expect(scrape.value(`upstream_fetches_total{issuer="${rsa.id}",result="ok"}`)).toBe(0);
    expect(scrape.value(`upstream_fetches_total{issuer="${ec.id}",result="ok"}`)).toBe(1);
    expect(scrape.value(`issuer_consecutive_failures{issuer="${rsa.id}"}`)).toBe(2);
    expect(scrape.value(`issuer_consecutive_failures{issuer="${ec.id}"}`)).toBe(0);
    expect(requestCounts(scrape.text)).toEqual({ "miss/upstream": 1, "try_later/none": 2 });
    expect(scrape.text).not.toMatch(/verification_rejections_total\{reason="(?!badSignature)/);
  });

  it("cached_entries and soonest_next_update_seconds follow the valid answers", async () => {
    const { d, relay, rsa } = await deployment();
    let scrape = await metrics(relay);
    expect(scrape.value("cached_entries")).toBe(0);
    expect(scrape.text).not.toContain("soonest_next_update_seconds ");

    await ocspGet(relay, "pki/rsa-ca.pem", "pki/leaf-rsa-good.pem");
    await ocspGet(relay, "pki/ec-ca.pem", "pki/leaf-ec-revoked.pem");
    d.reply = caDown;
    await ocspGet(relay, "pki/rsa-ca.pem", "pki/leaf-rsa-muststaple.pem"); // no answer
    scrape = await metrics(relay);
    expect(scrape.value("cached_entries")).toBe(2);
    const soonest = Math.min(
      ...[CASES.good, CASES.revoked].map((c) => answerTimes(fixture(c.response)).nextUpdate),
    );
    expect(scrape.value("soonest_next_update_seconds")).toBeCloseTo((soonest - clock) / 1000, 2);
    // Per certificate: none by default (nothing is at risk or failing), every one on request.
    const good = answerTimes(fixture(CASES.good.response)).nextUpdate;
    expect(scrape.text).not.toContain("ocsp_relay_certificate_next_update_seconds{");
    expect(scrape.value(`certificates{issuer="${rsa.id}",status="good"}`)).toBe(1);
    expect(scrape.value(`certificates{issuer="${rsa.id}",status="none"}`)).toBe(1);
    expect(scrape.value(`certificates_failing{issuer="${rsa.id}"}`)).toBe(1);
    expect(scrape.value(`answer_time_left_seconds_count{issuer="${rsa.id}"}`)).toBe(1);
    const all = await metrics(relay, "?certificates=all");
    expect(
      all.value(`certificate_next_update_seconds{issuer="${rsa.id}",serial="1001"}`),
    ).toBeCloseTo((good - clock) / 1000, 2);

    // Every sample of the scrape is well-formed.
    for (const line of scrape.text.trimEnd().split("\n")) {
      if (!line.startsWith("#")) expect(line).toMatch(/^ocsp_relay_[a-z_]+(\{[^}]*\})? -?[0-9.]+$/);
    }
  });

  it("an unknown answer past its serving time (UNKNOWN_MAX_AGE_SECONDS) is no longer counted as cached", async () => {
    const { d, relay, rsa } = await deployment();
    await ocspGet(relay, "pki/rsa-ca.pem", "pki/leaf-rsa-unknown.pem");
    d.reply = caDown; // whatever the owner tries next, the answer it holds is the one above
    expect((await metrics(relay)).value("cached_entries")).toBe(1);
    d.advance(10 * 60_000); // the relay serves `unknown` for 5 minutes
    const cached = await json(await relay.request(`/check/${rsa.id}/1003`, { headers: bearer }));
    expect(cached.status).toBe("no answer");
    expect((await metrics(relay)).value("cached_entries")).toBe(0);
    // Nobody registered it and the CA never vouched for it: after its window it is forgotten.
    expect(await select(await statusPage(relay), "tr[data-cert]")).toEqual([]);
  });

  it("a guessed CertID's ledger row goes at its owner's forget time, by the ledger's alarm, unread", async () => {
    const { d, relay } = await deployment();
    await ocspGet(relay, "pki/rsa-ca.pem", "pki/leaf-rsa-unknown.pem");
    const ledger = env.FLEET_LEDGER.get(env.FLEET_LEDGER.idFromName("ledger"));
    const rows = () =>
      runInDurableObject(ledger, async (_, state) => [
        ...(await state.storage.list({ prefix: "cert:" })).keys(),
      ]);
    expect(await rows()).toHaveLength(1);
    d.advance(10 * 60_000);
    expect(await runDurableObjectAlarm(ledger)).toBe(true);
    expect(await rows()).toEqual([]);
  });

  it("a pinned certificate's unknown answer past its serving time is listed as expired", async () => {
    const { d, relay, rsa } = await deployment();
    const pinned = await relay.request("/admin/certificates", {
      method: "POST",
      headers: bearer,
      body: pem("pki/leaf-rsa-unknown.pem"),
    });
    expect(pinned.status).toBe(200);
    d.reply = caDown;
    expect((await metrics(relay)).value("cached_entries")).toBe(1);
    d.advance(10 * 60_000);
    const cached = await json(await relay.request(`/check/${rsa.id}/1003`, { headers: bearer }));
    expect(cached.status).toBe("no answer");
    expect((await metrics(relay)).value("cached_entries")).toBe(0);
    const [row] = await select(await statusPage(relay), "tr[data-cert]");
    expect(row!.attrs["data-status"]).toBe("unknown");
    expect(row!.attrs["data-left"]).toBe("0");
    expect(row!.text).toContain("expired");
  });

  it("an answer already past its refresh point when fetched (unknown, signed an hour ago) is not fetched again and again", async () => {
    // The fixture's unknown answer has thisUpdate = the test clock − 1 h and is served 5 minutes:
    // its refresh point (serveUntil − a quarter of the window) is already behind. The owner must
    // still wait at least the minimum interval (5 s) before asking the CA again.
    const { d, relay, rsa } = await deployment();
    await ocspGet(relay, "pki/rsa-ca.pem", "pki/leaf-rsa-unknown.pem");
    await new Promise((done) => setTimeout(done, 1500)); // real time: alarms fire by the real clock
    expect(d.calls.map(serialAsked)).toEqual(["1003"]);
    const scrape = await metrics(relay);
    expect(scrape.value(`upstream_fetches_total{issuer="${rsa.id}",result="ok"}`)).toBe(1);
  });
});

describe("/status", () => {
  it("lists the issuers, one row per certificate with its status and validity left", async () => {
    const { relay, rsa, ec } = await deployment();
    await check(relay, pem("pki/leaf-rsa-good.pem"));
    await check(relay, pem("pki/leaf-rsa-muststaple.pem"));
    await ocspGet(relay, "pki/ec-ca.pem", "pki/leaf-ec-revoked.pem");
    const html = await statusPage(relay);

    const issuers = await select(html, "tr[data-issuer]");
    expect(issuers.map((r) => [r.attrs["data-issuer"], r.attrs["data-health"]]).sort()).toEqual(
      [
        [rsa.id, "ok"],
        [ec.id, "ok"],
      ].sort(),
    );
    expect(issuers.find((r) => r.attrs["data-issuer"] === rsa.id)!.text).toContain(RESPONDER);

    const rows = await select(html, "tr[data-cert]");
    expect(rows).toHaveLength(3);
    const byKey = new Map(rows.map((r) => [r.attrs["data-cert"]!, r]));
    const good = byKey.get((await certIdOfLeaf("pki/rsa-ca.pem", "pki/leaf-rsa-good.pem")).key)!;
    const staple = byKey.get(
      (await certIdOfLeaf("pki/rsa-ca.pem", "pki/leaf-rsa-muststaple.pem")).key,
    )!;
    const revoked = byKey.get(
      (await certIdOfLeaf("pki/ec-ca.pem", "pki/leaf-ec-revoked.pem")).key,
    )!;
    expect(good.attrs["data-status"]).toBe("good");
    expect(good.text).toContain("CN=good.rsa.test"); // the subject, known from /check
    expect(staple.text).toContain("Must-Staple");
    expect(revoked.attrs["data-status"]).toBe("revoked");
    expect(revoked.text).toContain("revoked (superseded)");
    for (const [r, name] of [
      [good, "good"],
      [revoked, "revoked"],
    ] as const) {
      const v = verdicts.get(name)!;
      const share =
        (v.nextUpdate.getTime() - clock) / (v.nextUpdate.getTime() - v.thisUpdate.getTime());
      expect(r.attrs["data-left"]).toBe(String(Math.round(share * 100)));
    }
    const fills = await select(html, "tr[data-cert] .fill");
    expect(fills.map((f) => f.attrs.style)).toEqual(
      rows.map((r) => `width:${r.attrs["data-left"]}%`),
    );
    expect(await select(html, "tr[data-failure]")).toEqual([]);
    expect(await select(html, "#at-risk li")).toEqual([]);
  });

  it("a failing CA: the issuer is failing, the failure is listed, the Must-Staple certificate is at risk", async () => {
    const { d, relay, rsa } = await deployment({ ALERT_MUST_STAPLE_MARGIN_SECONDS: "864000" });
    await check(relay, pem("pki/leaf-rsa-muststaple.pem"));
    d.reply = caDown;
    const key = (await certIdOfLeaf("pki/rsa-ca.pem", "pki/leaf-rsa-muststaple.pem")).key;
    await runDurableObjectAlarm(env.CERT_OWNER.get(env.CERT_OWNER.idFromName(key)));
    // Registered while the CA is down: nothing held, and a second failure of the responder.
    await relay.request("/admin/certificates", {
      method: "POST",
      headers: bearer,
      body: pem("pki/leaf-rsa-good.pem"),
    });
    const html = await statusPage(relay);

    const [issuer] = (await select(html, "tr[data-issuer]")).filter(
      (r) => r.attrs["data-issuer"] === rsa.id,
    );
    expect(issuer!.attrs["data-health"]).toBe("failing");
    expect(issuer!.text).toContain("failing (2 in a row)");
    expect(issuer!.text).toContain("HTTP 503");

    const failures = await select(html, "tr[data-failure]");
    expect(failures).toHaveLength(2);
    expect(failures[0]!.text).toContain("1001"); // newest first
    expect(failures[1]!.text).toContain("1004");
    expect(failures.every((f) => f.text.includes("HTTP 503"))).toBe(true);

    const rows = await select(html, "tr[data-cert]");
    const staple = rows.find((r) => r.attrs["data-cert"] === key)!;
    expect(staple.attrs["data-status"]).toBe("good"); // still served from the held answer
    expect(staple.text).toContain("HTTP 503");
    const risk = await select(html, "#at-risk li");
    expect(risk.map((r) => r.attrs["data-risk"])).toEqual([key]);
    expect(risk[0]!.text).toContain("CN=muststaple.rsa.test");
    expect(risk[0]!.text).toContain("HTTP 503");
  });

  it("empty: no issuer, no certificate, no failure", async () => {
    const d = new Deployment(clock);
    const html = await statusPage(d.isolate());
    expect(html).toContain("No issuer registered yet.");
    expect(html).toContain("No answer fetched yet.");
    expect(html).toContain("No failures.");
  });
});

describe("a ledger of thousands of certificates", () => {
  const N = 2500;

  /** N certificate rows written into the FleetLedger's storage, as owners' reports would leave them. */
  async function fillLedger(issuerId: string): Promise<void> {
    const ledger = env.FLEET_LEDGER.get(env.FLEET_LEDGER.idFromName("ledger"));
    await runInDurableObject(ledger, async (_, state) => {
      for (let from = 0; from < N; from += 128) {
        const entries: Record<string, CertSummary> = {};
        for (let i = from; i < Math.min(N, from + 128); i++) {
          const serial = (0x100000 + i).toString(16);
          const failing = i % 500 === 7;
          entries[`cert:SHA-1:aa:bb:${serial}`] = {
            certIdKey: `SHA-1:aa:bb:${serial}`,
            issuerId,
            serial,
            subject: `CN=host-${i}.fleet.example`,
            mustStaple: i % 1000 === 7,
            pinned: true,
            status: "good",
            thisUpdate: clock - HOUR,
            nextUpdate: clock + HOUR + i * 10_000, // all within ALERT_MUST_STAPLE_MARGIN (1 day)
            lastFetchAt: clock - HOUR,
            failures: failing ? 1 : 0,
            ...(failing ? { lastError: "HTTP 503" } : {}),
          };
        }
        await state.storage.put(entries);
      }
    });
  }

  it("/status: the summary counts them all, a page shows 100, at risk and failing first; search and pages", async () => {
    const { relay, rsa } = await deployment();
    await fillLedger(rsa.id);
    const html = await statusPage(relay);
    expect(html).toContain("2,500 valid answer(s) of 2,500 certificate(s)");
    const [summary] = await select(html, `tr[data-summary="${rsa.id}"]`);
    expect(summary!.attrs).toMatchObject({
      "data-total": String(N),
      "data-failing": "5",
      "data-at-risk": "3",
    });
    const rows = await select(html, "tr[data-cert]");
    expect(rows).toHaveLength(100);
    // host-7, 1007 and 2007 are Must-Staple and failing (at risk), then the other failing ones.
    expect(rows.slice(0, 5).map((r) => r.text.match(/host-(\d+)/)![1])).toEqual([
      "7",
      "1007",
      "2007",
      "507",
      "1507",
    ]);
    expect(
      (await select(html, "#at-risk li")).map((li) => li.text.match(/host-(\d+)/)![1]),
    ).toEqual(["7", "1007", "2007"]);
    const last = await statusPage(relay, "?page=25");
    expect(await select(last, "tr[data-cert]")).toHaveLength(100);
    expect((await select(last, "#shown"))[0]!.attrs["data-pages"]).toBe("25");
    const found = await statusPage(relay, "?q=host-1234.fleet");
    expect((await select(found, "tr[data-cert]")).map((r) => r.attrs["data-cert"])).toEqual([
      `SHA-1:aa:bb:${(0x100000 + 1234).toString(16)}`,
    ]);
  });

  it("/metrics: counts per issuer and the troubled certificates' series by default, every one on request", async () => {
    const { relay, rsa } = await deployment();
    await fillLedger(rsa.id);
    const scrape = await metrics(relay);
    expect(scrape.value("cached_entries")).toBe(N);
    expect(scrape.value(`certificates{issuer="${rsa.id}",status="good"}`)).toBe(N);
    expect(scrape.value(`certificates_failing{issuer="${rsa.id}"}`)).toBe(5);
    expect(scrape.value(`certificates_at_risk{issuer="${rsa.id}"}`)).toBe(3);
    expect(scrape.value(`answer_time_left_seconds_bucket{issuer="${rsa.id}",le="3600"}`)).toBe(1);
    expect(scrape.value(`answer_time_left_seconds_bucket{issuer="${rsa.id}",le="+Inf"}`)).toBe(N);
    expect(scrape.text.match(/^ocsp_relay_certificate_next_update_seconds\{/gm)).toHaveLength(5);
    const all = await metrics(relay, "?certificates=all");
    expect(all.text.match(/^ocsp_relay_certificate_next_update_seconds\{/gm)).toHaveLength(N);
  });

  it.each([
    ["/metrics?certificates=some", "certificates is all or troubled"],
    ["/status?page=0", "page is a whole number"],
    ["/status?page=two", "page is a whole number"],
    [`/status?q=${"x".repeat(201)}`, "q is longer than 200 characters"],
  ])("%s: HTTP 400, said in JSON", async (path, detail) => {
    const { relay } = await deployment();
    const res = await relay.request(path, { headers: bearer });
    expect(res.status).toBe(400);
    const body = await json(res);
    expect(body.error).toBe("bad query");
    expect(body.detail).toContain(detail);
  });
});
