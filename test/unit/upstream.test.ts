// Asking a responder that refuses GET (fleet/upstream.ts, fleet/responder-methods.ts): the CA faked
// at the fetch boundary, the clock injected, each test with its own memory of responders. A GET
// answered with a client error or a body that is no OCSP response is POSTed again at once, once;
// the responder is then asked with POST only until GET is tried again; overload and network
// failures are never asked twice.

import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  fetchVerified,
  type UpstreamConfig,
  type UpstreamQuery,
  type UpstreamResult,
} from "../../src/fleet/upstream.ts";
import {
  GET_RECHECK_MS,
  ResponderMethods,
  responderKey,
} from "../../src/fleet/responder-methods.ts";
import { makeIssuerRecord } from "../../src/issuers/issuer.ts";
import { certIdKey, encodeRequest } from "../../src/ocsp/request.ts";
import { encodeErrorResponse } from "../../src/ocsp/response.ts";
import { caseCertId, fixtureCase } from "../support/cases.ts";
import { certificate, fixture } from "../support/files.ts";

const RESPONDER = "http://ocsp.ca.example/ocsp";
const good = fixtureCase("rsa-direct-good");
const AT = new Date(good.at).getTime();
const TIMEOUT_MS = 5_000;

interface Call {
  method: string;
  url: string;
  contentType: string | null;
  body: Uint8Array | undefined;
  signal: AbortSignal | undefined;
}

type Reply = (call: Call) => Response | Promise<Response>;

const ocsp = (der: Uint8Array) => () =>
  new Response(der.slice(), { headers: { "Content-Type": "application/ocsp-response" } });
const goodAnswer = ocsp(fixture(good.response));
const status =
  (code: number, body = "no") =>
  () =>
    new Response(body, { status: code });
/** A responder whose GET handling is broken (`get`), POST answered fine. */
const getBroken =
  (get: Reply, post: Reply = goodAnswer): Reply =>
  (call) =>
    call.method === "GET" ? get(call) : post(call);

/** A fake CA, a clock and a memory of responders of its own; `fetch` is one exchange. */
function setup(reply: Reply, o: { timeoutMs?: number; methods?: ResponderMethods } = {}) {
  const calls: Call[] = [];
  const clock = { now: AT };
  const methods = o.methods ?? new ResponderMethods();
  const config: UpstreamConfig = {
    clock: () => clock.now,
    timeoutMs: o.timeoutMs ?? TIMEOUT_MS,
    allowPrivate: false,
    userAgent: "ocsp-relay/test",
    methods,
    fetch: async (input, init) => {
      const body = init?.body ? new Uint8Array(init.body as Uint8Array) : undefined;
      const call: Call = {
        method: init?.method ?? "GET",
        url: String(input),
        contentType: new Headers(init?.headers).get("Content-Type"),
        body,
        signal: init?.signal ?? undefined,
      };
      calls.push(call);
      return current.reply(call);
    },
  };
  const current = { reply };
  const fetch = async (): Promise<UpstreamResult> => {
    const issuerCert = certificate(fixture(good.issuer));
    const certId = await caseCertId(good);
    const issuer = await makeIssuerRecord(issuerCert, { responderUrl: RESPONDER }, new Date(AT));
    const query: UpstreamQuery = { key: certIdKey(certId), certId, issuer, issuerCert, now: AT };
    return fetchVerified(query, config, 3_600_000);
  };
  return { calls, clock, methods, current, fetch };
}

/** The upstream.get_refused lines logged. */
let refusals: Record<string, unknown>[];
beforeEach(() => {
  refusals = [];
  vi.spyOn(console, "log").mockImplementation((line: unknown) => {
    const entry = JSON.parse(String(line)) as Record<string, unknown>;
    if (entry.event === "upstream.get_refused") refusals.push(entry);
  });
});
afterEach(() => {
  vi.restoreAllMocks();
});

const methodsOf = (calls: Call[]) => calls.map((c) => c.method);

describe("a responder that refuses GET", () => {
  it.each([400, 404, 405, 414, 501])(
    "answering GET with HTTP %i: POSTed again at once, the answer is good",
    async (code) => {
      const ca = setup(getBroken(status(code)));
      const result = await ca.fetch();
      expect(result.ok && result.value.status).toBe("good");
      expect(result.getFallback).toBe(true);
      expect(methodsOf(ca.calls)).toEqual(["GET", "POST"]);
      const [get, post] = ca.calls;
      expect(get!.url.startsWith(`${RESPONDER}/`)).toBe(true);
      expect(post!.url).toBe(RESPONDER);
      expect(post!.contentType).toBe("application/ocsp-request");
      expect(post!.body).toEqual(encodeRequest(await caseCertId(good)));
      expect(refusals).toHaveLength(1);
      expect(refusals[0]).toMatchObject({
        responder: RESPONDER,
        detail: `GET answered HTTP ${code}`,
        retryGetAt: new Date(AT + GET_RECHECK_MS).toISOString(),
      });
    },
  );

  it.each([
    ["an HTML page", () => new Response("<html>GET not supported</html>", { status: 200 })],
    ["an empty body", () => new Response(null, { status: 200 })],
    ["an OCSPResponse saying malformedRequest", ocsp(encodeErrorResponse("malformedRequest"))],
  ])("answering GET 200 with %s: POSTed again at once", async (_, get) => {
    const ca = setup(getBroken(get));
    const result = await ca.fetch();
    expect(result.ok && result.value.status).toBe("good");
    expect(result.getFallback).toBe(true);
    expect(methodsOf(ca.calls)).toEqual(["GET", "POST"]);
  });

  it("is asked with POST only afterwards: no GET, no second log, no fallback counted", async () => {
    const ca = setup(getBroken(status(400)));
    await ca.fetch();
    for (let i = 0; i < 3; i++) {
      ca.clock.now += 60 * 60 * 1000;
      const result = await ca.fetch();
      expect(result.ok && result.value.status).toBe("good");
      expect(result.getFallback).toBeUndefined();
    }
    expect(methodsOf(ca.calls)).toEqual(["GET", "POST", "POST", "POST", "POST"]);
    expect(refusals).toHaveLength(1);
  });

  it("is asked with GET again once GET_RECHECK_MS passed: GET alone when it works now", async () => {
    const ca = setup(getBroken(status(400)));
    await ca.fetch();
    ca.clock.now = AT + GET_RECHECK_MS - 1;
    await ca.fetch();
    expect(methodsOf(ca.calls)).toEqual(["GET", "POST", "POST"]);

    ca.current.reply = goodAnswer; // the CA fixed its GET
    ca.clock.now = AT + GET_RECHECK_MS;
    const fixed = await ca.fetch();
    expect(fixed.ok && fixed.value.status).toBe("good");
    expect(fixed.getFallback).toBeUndefined();
    await ca.fetch();
    expect(methodsOf(ca.calls)).toEqual(["GET", "POST", "POST", "GET", "GET"]);
    expect(ca.methods.size).toBe(0);
  });

  it("still refusing GET after GET_RECHECK_MS: learnt again, logged again, POSTed again", async () => {
    const ca = setup(getBroken(status(405)));
    await ca.fetch();
    ca.clock.now = AT + GET_RECHECK_MS;
    const again = await ca.fetch();
    expect(again.getFallback).toBe(true);
    expect(methodsOf(ca.calls)).toEqual(["GET", "POST", "GET", "POST"]);
    expect(refusals.map((r) => r.retryGetAt)).toEqual([
      new Date(AT + GET_RECHECK_MS).toISOString(),
      new Date(AT + 2 * GET_RECHECK_MS).toISOString(),
    ]);
  });

  it("failing POST too: tryLater after exactly one GET and one POST, and not learnt (an error page for everything)", async () => {
    const ca = setup(status(400));
    const result = await ca.fetch();
    expect(result.ok ? "ok" : result.error.kind).toBe("tryLater");
    expect(result.ok ? "" : result.error.detail).toContain("HTTP 400");
    expect(result.getFallback).toBeUndefined();
    expect(methodsOf(ca.calls)).toEqual(["GET", "POST"]);
    ca.clock.now += 5_000;
    await ca.fetch();
    expect(methodsOf(ca.calls)).toEqual(["GET", "POST", "GET", "POST"]);
  });

  it("has one deadline for the exchange: a POST after a slow refusal gets what is left of it", async () => {
    const timeoutMs = 400;
    const ca = setup(
      getBroken(
        async () => {
          await new Promise((done) => setTimeout(done, 250));
          return new Response("bad request", { status: 400 });
        },
        (call) =>
          new Promise<Response>((_, reject) =>
            call.signal!.addEventListener("abort", () => reject(call.signal!.reason)),
          ),
      ),
      { timeoutMs },
    );
    const started = Date.now();
    const result = await ca.fetch();
    const elapsed = Date.now() - started;
    expect(result.ok ? "" : result.error.detail).toContain(`no answer within ${timeoutMs} ms`);
    expect(methodsOf(ca.calls)).toEqual(["GET", "POST"]);
    expect(ca.calls[1]!.signal).toBe(ca.calls[0]!.signal);
    expect(elapsed).toBeLessThan(timeoutMs + 200);
    // Not learnt: the POST did not work either (a responder failing both ways is not switched to
    // POSTs for a day); the next fetch tries GET again.
    expect(ca.methods.postsOnly(responderKey(RESPONDER), ca.clock.now)).toBe(false);
  });
});

describe("a responder that fails otherwise: asked once, as today", () => {
  it.each([
    ["HTTP 503", status(503)],
    ["HTTP 429", status(429)],
    ["HTTP 500", status(500)],
    ["HTTP 403", status(403)],
    ["a redirect", () => new Response(null, { status: 302, headers: { Location: RESPONDER } })],
    ["an OCSPResponse saying tryLater", ocsp(encodeErrorResponse("tryLater"))],
    ["an OCSPResponse for another certificate", ocsp(fixture("responses/ec-direct-good.der"))],
    [
      "a network failure",
      () => {
        throw new TypeError("connection refused");
      },
    ],
  ])("answering GET with %s: tryLater, one GET, GET still tried next time", async (_, reply) => {
    const ca = setup(getBroken(reply as Reply, status(599, "POST must not be sent")));
    const result = await ca.fetch();
    expect(result.ok ? "ok" : result.error.kind).toBe("tryLater");
    expect(result.getFallback).toBeUndefined();
    expect(methodsOf(ca.calls)).toEqual(["GET"]);
    expect(refusals).toEqual([]);
    ca.clock.now += 5_000;
    await ca.fetch();
    expect(methodsOf(ca.calls)).toEqual(["GET", "GET"]);
  });
});

describe("the memory of responders", () => {
  it("is per responder: origin and path of its URL, not the query or other paths", () => {
    const m = new ResponderMethods();
    m.refusedGet(responderKey("http://ocsp.ca.example/a?x=1"), AT);
    expect(m.postsOnly(responderKey("http://ocsp.ca.example/a"), AT)).toBe(true);
    expect(m.postsOnly(responderKey("http://ocsp.ca.example/b"), AT)).toBe(false);
    expect(m.postsOnly(responderKey("https://ocsp.ca.example/a"), AT)).toBe(false);
  });

  it("learns a responder once while it is known, and forgets it when its time is up", () => {
    const m = new ResponderMethods({ recheckMs: 1_000, max: 10 });
    expect(m.refusedGet("r", AT)).toEqual({ learnt: true, retryGetAt: AT + 1_000 });
    expect(m.refusedGet("r", AT + 500)).toEqual({ learnt: false, retryGetAt: AT + 1_000 });
    expect(m.postsOnly("r", AT + 999)).toBe(true);
    expect(m.postsOnly("r", AT + 1_000)).toBe(false);
    expect(m.size).toBe(0);
  });

  it("is bounded: the responder learnt first goes first", () => {
    const m = new ResponderMethods({ recheckMs: GET_RECHECK_MS, max: 3 });
    for (const r of ["a", "b", "c", "d"]) m.refusedGet(r, AT);
    expect(m.size).toBe(3);
    expect(["a", "b", "c", "d"].map((r) => m.postsOnly(r, AT))).toEqual([false, true, true, true]);
  });
});
