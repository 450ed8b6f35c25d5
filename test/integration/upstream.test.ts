// When the CA misbehaves: forged, stale or unreadable answers and failing responders. A client sees
// tryLater (never the CA's bytes), nothing unverified is cached, and the relay asks again soon.

import { env } from "cloudflare:workers";
import { runDurableObjectAlarm } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { certIdKey } from "../../src/ocsp/request.ts";
import { verifyResponse } from "../../src/ocsp/verify.ts";
import { caseCertId, fixtureCase, fixtureCases, type FixtureCase } from "../support/cases.ts";
import { certificate, fixture } from "../support/files.ts";
import {
  ADMIN_TOKEN,
  at,
  bodyOf,
  cachedResponseKeys,
  caseRequest,
  Deployment,
  deployedTimeoutMs,
  expectOcspError,
  freshDeploymentPerTest,
  hangingReply,
  HOUR,
  ocspReply,
  requestFor,
  servingClock,
  type UpstreamReply,
} from "./support.ts";

freshDeploymentPerTest();

/** How far the clock moves before the follow-up request: past the owner's failure memory. */
const RETRY_AFTER_MS = 5_000;

/**
 * Forged cases with no valid answer for the same CertID at any later time: `stale` is checked after
 * every fixture answer's nextUpdate.
 */
const NO_LATER_VALID_ANSWER = new Set(["stale"]);

/** A valid case for the same CertID and a time ≥ `after` at which it verifies, if any. */
async function laterValidAnswer(
  forged: FixtureCase,
  after: number,
): Promise<{ c: FixtureCase; clock: number } | undefined> {
  const key = certIdKey(await caseCertId(forged));
  for (const c of fixtureCases().filter((x) => x.expect.ok)) {
    if (certIdKey(await caseCertId(c)) !== key) continue;
    for (const clock of [after, await servingClock(c).catch(() => 0)]) {
      if (clock < after) continue;
      const verdict = await verifyResponse({
        response: fixture(c.response),
        issuer: certificate(fixture(c.issuer)),
        certId: await caseCertId(c),
        now: new Date(clock),
      });
      if (verdict.ok) return { c, clock };
    }
  }
  return undefined;
}

describe("a forged or unusable answer from the CA", () => {
  const forged = fixtureCases().filter((c) => !c.expect.ok);

  it("covers every rejection the core knows", () => {
    expect(forged.length).toBeGreaterThanOrEqual(20);
  });

  it.each(forged.map((c) => [c.name, c.description, c] as const))(
    "%s (%s): the client gets tryLater, nothing is cached, a valid answer later works",
    async (_, __, c) => {
      const deployment = new Deployment(at(c.at), ocspReply(fixture(c.response)));
      const relay = deployment.isolate();
      await relay.registered([c.issuer]);
      const request = await caseRequest(c);

      await expectOcspError(await relay.get(request), 200, "tryLater");
      expect(deployment.calls.length).toBeGreaterThanOrEqual(1);
      expect(await cachedResponseKeys()).toEqual([]);
      // Asked again at once, the relay still refuses to serve the CA's bytes.
      await expectOcspError(await relay.get(request), 200, "tryLater");
      expect(await cachedResponseKeys()).toEqual([]);

      const later = await laterValidAnswer(c, deployment.clock + RETRY_AFTER_MS);
      expect(later === undefined, `a later valid answer for ${c.name}`).toBe(
        NO_LATER_VALID_ANSWER.has(c.name),
      );
      if (!later) return;
      deployment.clock = later.clock;
      deployment.reply = ocspReply(fixture(later.c.response));
      const res = await relay.get(request);
      expect(res.status).toBe(200);
      expect(await bodyOf(res)).toEqual(fixture(later.c.response));
      expect(await cachedResponseKeys()).toHaveLength(1);
    },
  );
});

describe("a failing responder", () => {
  const good = fixtureCase("rsa-direct-good");
  let clock: number;
  beforeAll(async () => {
    clock = await servingClock(good);
  });

  const bigBody = new Uint8Array(70_000).fill(0x30);
  /**
   * What the relay sends: one GET, and a POST of the same request at once when the GET's answer
   * says the responder refuses GET (fleet/upstream.ts): a client error, or no OCSPResponse.
   */
  const ONE_GET = ["GET"];
  const GET_THEN_POST = ["GET", "POST"];
  const failures: [string, UpstreamReply, string[]][] = [
    ["answers HTTP 500", () => new Response("oops", { status: 500 }), ONE_GET],
    [
      "answers HTTP 503 with Retry-After",
      () => new Response(null, { status: 503, headers: { "Retry-After": "10" } }),
      ONE_GET,
    ],
    ["answers HTTP 404", () => new Response("not found", { status: 404 }), GET_THEN_POST],
    [
      "redirects (302) to a URL that would answer",
      () =>
        new Response(null, {
          status: 302,
          headers: { Location: "http://ocsp.elsewhere.example/" },
        }),
      ONE_GET,
    ],
    ["answers 200 with an empty body", () => new Response(null, { status: 200 }), GET_THEN_POST],
    [
      "answers 200 with an HTML error page",
      () => new Response("<html>maintenance</html>", { status: 200 }),
      GET_THEN_POST,
    ],
    [
      "sends a 70 000-byte body with Content-Length",
      () => new Response(bigBody.slice(), { status: 200 }),
      ONE_GET,
    ],
    [
      "streams a 70 000-byte body without Content-Length",
      () =>
        new Response(
          new ReadableStream({
            start(controller) {
              for (let i = 0; i < 70; i++) controller.enqueue(new Uint8Array(1000).fill(0x30));
              controller.close();
            },
          }),
          { status: 200 },
        ),
      ONE_GET,
    ],
    [
      "fails at the network level",
      () => {
        throw new TypeError("connection refused");
      },
      ONE_GET,
    ],
  ];

  it.each(failures)(
    "that %s: the client gets tryLater after one upstream call (a POST after a refused GET)",
    async (_, reply, methods) => {
      const deployment = new Deployment(clock, reply);
      const relay = deployment.isolate();
      await relay.registered([good.issuer]);
      await expectOcspError(
        await relay.get(await requestFor(good.issuer, good.cert!)),
        200,
        "tryLater",
      );
      expect(deployment.calls.map((c) => c.method)).toEqual(methods);
      for (const call of deployment.calls) expect(call.redirect).toBe("manual");
      expect(await cachedResponseKeys()).toEqual([]);
    },
  );

  it("that never answers: the client gets tryLater once the upstream timeout passes", async () => {
    const deployment = new Deployment(clock, hangingReply);
    const relay = deployment.isolate();
    await relay.registered([good.issuer]);
    const started = Date.now();
    const res = await relay.get(await requestFor(good.issuer, good.cert!));
    const elapsed = Date.now() - started;
    await expectOcspError(res, 200, "tryLater");
    expect(elapsed).toBeLessThan(deployedTimeoutMs() + 1_000);
    expect(deployment.calls).toHaveLength(1);
    expect(deployment.calls[0]!.signal?.aborted).toBe(true);
  });

  it("that sends headers and then stalls the body: the client gets tryLater once the timeout passes", async () => {
    // As workerd's fetch does, the body stream fails when the request's signal aborts.
    const deployment = new Deployment(clock, (call) => {
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(fixture(good.response).slice(0, 100));
          call.signal?.addEventListener("abort", () => controller.error(call.signal!.reason));
        },
      });
      return new Response(body, { status: 200 });
    });
    const relay = deployment.isolate();
    await relay.registered([good.issuer]);
    const started = Date.now();
    const res = await relay.get(await requestFor(good.issuer, good.cert!));
    await expectOcspError(res, 200, "tryLater");
    expect(Date.now() - started).toBeLessThan(deployedTimeoutMs() + 1_000);
    expect(deployment.calls).toHaveLength(1);
  });

  it("is remembered for a few seconds (≤ 5 s): an immediate retry does not ask it again, a later one does", async () => {
    const deployment = new Deployment(clock, () => new Response("oops", { status: 500 }));
    const relay = deployment.isolate();
    await relay.registered([good.issuer]);
    const request = await requestFor(good.issuer, good.cert!);
    await expectOcspError(await relay.get(request), 200, "tryLater");
    expect(deployment.calls).toHaveLength(1);

    deployment.reply = ocspReply(fixture(good.response));
    await expectOcspError(await relay.get(request), 200, "tryLater");
    await expectOcspError(await deployment.isolate().get(request), 200, "tryLater");
    expect(deployment.calls).toHaveLength(1);

    deployment.advance(5_000);
    const res = await relay.get(request);
    expect(res.status).toBe(200);
    expect(await bodyOf(res)).toEqual(fixture(good.response));
    expect(deployment.calls).toHaveLength(2);
  });
});

describe("the owner's scheduled refresh", () => {
  const good = fixtureCase("rsa-direct-good");
  let clock: number;
  let key: string;
  beforeAll(async () => {
    clock = await servingClock(good);
    key = certIdKey(await caseCertId(good));
  });
  const owner = () => env.CERT_OWNER.get(env.CERT_OWNER.idFromName(key));

  it("asks the responder URL the issuer is registered with now, not the one it had at the first miss", async () => {
    const deployment = new Deployment(clock, ocspReply(fixture(good.response)));
    const relay = deployment.isolate();
    await relay.registered([good.issuer], "?responder=http://old-ocsp.ca.example/");
    await relay.get(await requestFor(good.issuer, good.cert!));
    const moved = await relay.registered([good.issuer], "?responder=http://new-ocsp.ca.example/");
    expect(moved.responderUrl).toBe("http://new-ocsp.ca.example/");

    deployment.advance(HOUR);
    expect(await runDurableObjectAlarm(owner())).toBe(true);
    expect(deployment.calls.map((c) => new URL(c.url).host)).toEqual([
      "old-ocsp.ca.example",
      "new-ocsp.ca.example",
    ]);
  });

  it("stops for a deleted issuer: the CA is not asked again", async () => {
    const deployment = new Deployment(clock, ocspReply(fixture(good.response)));
    const relay = deployment.isolate();
    const { id } = await relay.registered([good.issuer]);
    await relay.get(await requestFor(good.issuer, good.cert!));
    const del = await relay.request(`/admin/issuers/${id}`, {
      method: "DELETE",
      headers: { Authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    expect(del.status).toBe(204);
    deployment.advance(HOUR);
    await runDurableObjectAlarm(owner());
    expect(deployment.calls).toHaveLength(1);
  });
});
