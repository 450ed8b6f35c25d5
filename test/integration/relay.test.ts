// The OCSP endpoint as nginx, openssl and curl see it: GET and POST, the exact DER the CA signed
// with RFC 5019 caching headers, what (little) of the client's request reaches the CA, and the
// RFC 6960 error responses for requests the relay will not relay.

import { env } from "cloudflare:workers";
import { AsnConvert } from "@peculiar/asn1-schema";
import { beforeAll, describe, expect, it } from "vitest";
import { KV_KEYS, parseFacts } from "../../src/cache/record.ts";
import { toBase64 } from "../../src/ocsp/bytes.ts";
import {
  certIdEqual,
  certIdKey,
  decodeGetPath,
  decodeRequest,
  encodeRequest,
  type CertId,
  type OcspRequestFacts,
} from "../../src/ocsp/request.ts";
import { OcspRequest } from "../../src/ocsp/request-schema.ts";
import { VERSION } from "../../src/version.ts";
import { caseCertId, fixtureCase, fixtureCases } from "../support/cases.ts";
import { fixture } from "../support/files.ts";
import {
  answerTimes,
  bodyOf,
  cachedResponseKeys,
  caseRequest,
  certIdOf,
  Deployment,
  expectOcspError,
  freshDeploymentPerTest,
  getPath,
  HOUR,
  ocspReply,
  RESPONDER,
  servingClock,
  type Isolate,
  type UpstreamCall,
} from "./support.ts";

const good = fixtureCase("rsa-direct-good");
const goodDer = fixture(good.response);
let clock: number;
let certId: CertId;
let request: Uint8Array;

beforeAll(async () => {
  clock = await servingClock(good);
  certId = await certIdOf(good.issuer, good.cert!);
  request = encodeRequest(certId);
});
freshDeploymentPerTest();

/** A deployment whose CA answers with the good fixture, with rsa-ca registered. */
async function serving(): Promise<{ deployment: Deployment; relay: Isolate }> {
  const deployment = new Deployment(clock, ocspReply(goodDer));
  const relay = deployment.isolate();
  await relay.registered([good.issuer]);
  return { deployment, relay };
}

/** The OCSP request the relay sent to the CA, decoded from its GET URL or POST body. */
function upstreamRequest(call: UpstreamCall): OcspRequestFacts {
  const decoded =
    call.method === "GET" ? decodeGetPath(new URL(call.url).pathname) : decodeRequest(call.body!);
  if (!decoded.ok) throw new Error(`the relay sent the CA an unreadable request: ${call.url}`);
  return decoded.value;
}

/** One OCSPRequest listing several CertIDs (RFC 6960 allows it; RFC 5019 clients send one). */
function requestForMany(ids: CertId[]): Uint8Array {
  const [first, ...rest] = ids.map((id) => AsnConvert.parse(encodeRequest(id), OcspRequest));
  first!.tbsRequest.requestList.push(...rest.flatMap((r) => r.tbsRequest.requestList));
  return new Uint8Array(AsnConvert.serialize(first!));
}

describe("a GET for a certificate of a registered CA", () => {
  it("a miss asks the CA once and serves its exact DER with RFC 5019 caching headers", async () => {
    const { deployment, relay } = await serving();
    const res = await relay.get(request);
    expect(res.status).toBe(200);
    expect(await bodyOf(res)).toEqual(goodDer);
    expect(deployment.calls).toHaveLength(1);
    const { thisUpdate, nextUpdate } = answerTimes(goodDer);
    expect(res.headers.get("Content-Type")).toBe("application/ocsp-response");
    expect(res.headers.get("Last-Modified")).toBe(new Date(thisUpdate).toUTCString());
    expect(res.headers.get("Expires")).toBe(new Date(nextUpdate).toUTCString());
    const cacheControl = res.headers.get("Cache-Control") ?? "";
    const maxAge = Number(
      cacheControl.match(/^max-age=(\d+), public, no-transform, must-revalidate$/)?.[1],
    );
    expect(maxAge, cacheControl).toBeGreaterThan(0);
    expect(maxAge).toBeLessThanOrEqual((nextUpdate - clock) / 1000);
    expect(res.headers.get("ETag")).toMatch(/^"[0-9a-f]{32}"$/);
    expect(res.headers.get("X-Cache")).toBe("MISS");
  });

  it("a second GET is a HIT served from cache, byte for byte the same, without asking the CA", async () => {
    const { deployment, relay } = await serving();
    const first = await relay.get(request);
    const second = await relay.get(request);
    expect(second.status).toBe(200);
    expect(second.headers.get("X-Cache")).toBe("HIT");
    expect(await bodyOf(second)).toEqual(await bodyOf(first));
    expect(second.headers.get("ETag")).toBe(first.headers.get("ETag"));
    expect(deployment.calls).toHaveLength(1);
  });

  it("a HIT later on counts max-age down to nextUpdate", async () => {
    const { deployment, relay } = await serving();
    await relay.get(request);
    deployment.advance(HOUR);
    const later = await relay.get(request);
    const { nextUpdate } = answerTimes(goodDer);
    expect(later.headers.get("Cache-Control")).toBe(
      `max-age=${Math.floor((nextUpdate - deployment.clock) / 1000)}, public, no-transform, must-revalidate`,
    );
    expect(deployment.calls).toHaveLength(1);
  });

  const conditional: [string, number, (etag: string) => string][] = [
    ["the ETag", 304, (etag) => etag],
    ["the ETag as a weak validator", 304, (etag) => `W/${etag}`],
    ["a list holding the ETag", 304, (etag) => `"0000", ${etag}`],
    ["*", 304, () => "*"],
    ["another ETag", 200, () => `"0123456789abcdef0123456789abcdef"`],
  ];
  it.each(conditional)("If-None-Match with %s answers %i", async (_, status, header) => {
    const { deployment, relay } = await serving();
    const etag = (await relay.get(request)).headers.get("ETag")!;
    const res = await relay.get(request, { "If-None-Match": header(etag) });
    expect(res.status).toBe(status);
    expect(res.headers.get("ETag")).toBe(etag);
    expect(res.headers.get("Cache-Control")).toMatch(/^max-age=\d+, public/);
    if (status === 304) expect(await bodyOf(res)).toHaveLength(0);
    else expect(await bodyOf(res)).toEqual(goodDer);
    expect(deployment.calls).toHaveLength(1);
  });

  it("HEAD answers the headers of a GET without a body, on a miss and on a hit", async () => {
    const { deployment, relay } = await serving();
    const miss = await relay.request(getPath(request), { method: "HEAD" });
    const hit = await relay.request(getPath(request), { method: "HEAD" });
    const get = await relay.get(request);
    for (const [res, cache] of [
      [miss, "MISS"],
      [hit, "HIT"],
    ] as const) {
      expect(res.status).toBe(200);
      expect(await bodyOf(res)).toHaveLength(0);
      expect(res.headers.get("Content-Type")).toBe("application/ocsp-response");
      expect(res.headers.get("ETag")).toBe(get.headers.get("ETag"));
      expect(res.headers.get("Expires")).toBe(get.headers.get("Expires"));
      expect(res.headers.get("X-Cache")).toBe(cache);
    }
    expect(deployment.calls).toHaveLength(1);
  });
});

describe("every form of request clients send gets the same answer", () => {
  const forms: [string, (der: Uint8Array) => [string, RequestInit]][] = [
    ["GET, URL-encoded base64 (openssl)", (der) => [getPath(der), {}]],
    ["GET, raw base64 with / and + unescaped", (der) => ["/" + toBase64(der), {}]],
    [
      "GET with the // prefix nginx sends when its responder URL ends in /",
      (der) => ["/" + getPath(der), {}],
    ],
    [
      "GET, base64url without padding",
      (der) => ["/" + toBase64(der).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, ""), {}],
    ],
    [
      "POST with Content-Type application/ocsp-request",
      (der) => [
        "/",
        {
          method: "POST",
          headers: { "Content-Type": "application/ocsp-request" },
          body: der.slice(),
        },
      ],
    ],
  ];

  it("the raw base64 form of the test request really carries / and +", () => {
    expect(toBase64(request)).toMatch(/[/+]/);
  });

  it.each(forms)("%s: a miss, then a HIT for the canonical GET", async (_, form) => {
    const { deployment, relay } = await serving();
    const [path, init] = form(request);
    const res = await relay.request(path, init);
    expect(res.status).toBe(200);
    expect(res.headers.get("X-Cache")).toBe("MISS");
    expect(await bodyOf(res)).toEqual(goodDer);
    const again = await relay.get(request);
    expect(again.headers.get("X-Cache")).toBe("HIT");
    expect(await bodyOf(again)).toEqual(goodDer);
    expect(deployment.calls).toHaveLength(1);
  });

  it("a POST after a GET is a HIT as well", async () => {
    const { deployment, relay } = await serving();
    await relay.get(request);
    const res = await relay.post(request);
    expect(res.status).toBe(200);
    expect(res.headers.get("X-Cache")).toBe("HIT");
    expect(await bodyOf(res)).toEqual(goodDer);
    expect(deployment.calls).toHaveLength(1);
  });
});

describe("what reaches the CA", () => {
  const clientHeaders = {
    "X-Forwarded-For": "198.51.100.7",
    "X-Real-IP": "198.51.100.7",
    Forwarded: "for=198.51.100.7;proto=https",
    "CF-Connecting-IP": "198.51.100.7",
    "User-Agent": "nginx/1.27 (client)",
    Cookie: "session=secret",
    Authorization: "Bearer client-secret",
    Referer: "https://tls.example/",
  };

  it.each(["GET", "POST"] as const)(
    "a %s miss: only Accept, ocsp-relay's User-Agent and Content-Type, to the registered responder",
    async (method) => {
      const { deployment, relay } = await serving();
      const res =
        method === "GET"
          ? await relay.get(request, clientHeaders)
          : await relay.post(request, clientHeaders);
      expect(res.status).toBe(200);
      expect(deployment.calls).toHaveLength(1);
      const call = deployment.calls[0]!;
      const names = [...call.headers.keys()].sort();
      expect(
        names.every((n) => ["accept", "content-type", "user-agent"].includes(n)),
        names.join(),
      ).toBe(true);
      // The product and version only: the deployment sets no UPSTREAM_CONTACT.
      expect(call.headers.get("User-Agent")).toBe(`ocsp-relay/${VERSION}`);
      expect(call.headers.get("Accept")).toBe("application/ocsp-response");
      for (const value of Object.values(clientHeaders)) {
        expect([...call.headers.values()]).not.toContain(value);
      }
      expect(call.url.startsWith(RESPONDER), call.url).toBe(true);
    },
  );

  it("a request naming another host and a URL in its query still goes only to the registered responder", async () => {
    const { deployment, relay } = await serving();
    const res = await relay.app.request(
      `http://169.254.169.254${getPath(request)}?url=${encodeURIComponent("http://evil.example/")}`,
      { headers: { Host: "evil.example" } },
      relay.env,
    );
    expect(res.status).toBe(200);
    expect(deployment.calls.map((c) => c.url.startsWith(RESPONDER))).toEqual([true]);
  });

  it.each([
    ["without a nonce", undefined],
    ["with a nonce", crypto.getRandomValues(new Uint8Array(16))],
  ] as const)(
    "the relay's own request carries the client's one CertID and no nonce (client %s)",
    async (_, nonce) => {
      const { deployment, relay } = await serving();
      const res = await relay.get(encodeRequest(certId, nonce));
      expect(res.status).toBe(200);
      expect(deployment.calls).toHaveLength(1);
      const sent = upstreamRequest(deployment.calls[0]!);
      expect(sent.certIds).toHaveLength(1);
      expect(certIdEqual(sent.certIds[0]!, certId)).toBe(true);
      expect(sent.nonce).toBeUndefined();
      expect(sent.signed).toBe(false);
    },
  );

  it("a client request with a nonce is answered from cache, with the CA's bytes unchanged", async () => {
    const { deployment, relay } = await serving();
    await relay.get(request);
    const res = await relay.get(encodeRequest(certId, crypto.getRandomValues(new Uint8Array(32))));
    expect(res.status).toBe(200);
    expect(res.headers.get("X-Cache")).toBe("HIT");
    expect(await bodyOf(res)).toEqual(goodDer);
    expect(deployment.calls).toHaveLength(1);
  });
});

describe("requests the relay will not relay", () => {
  const refusals: [
    string,
    () => Promise<[string, RequestInit]>,
    number,
    "malformedRequest" | "unauthorized",
  ][] = [
    [
      "a GET listing two CertIDs",
      async () => [
        getPath(requestForMany([certId, await certIdOf(good.issuer, "pki/leaf-rsa-revoked.pem")])),
        {},
      ],
      400,
      "malformedRequest",
    ],
    [
      "a POST listing the same CertID twice",
      async () => ["/", { method: "POST", body: requestForMany([certId, certId]) }],
      400,
      "malformedRequest",
    ],
    ["a GET path that is not base64", async () => ["/not-base64!!", {}], 400, "malformedRequest"],
    [
      "a GET for a registered issuer with a 200-octet serial (its cache key would be too long for KV)",
      async () => [
        getPath(encodeRequest({ ...certId, serialNumber: new Uint8Array(200).fill(0x42) })),
        {},
      ],
      400,
      "malformedRequest",
    ],
    [
      "a GET path with broken percent-encoding",
      async () => ["/MEMw%ZZ", {}],
      400,
      "malformedRequest",
    ],
    [
      "a GET of base64 that is not an OCSP request",
      async () => [
        "/" + encodeURIComponent(toBase64(crypto.getRandomValues(new Uint8Array(64)))),
        {},
      ],
      400,
      "malformedRequest",
    ],
    [
      "a GET of the request plus a trailing byte",
      async () => [getPath(new Uint8Array([...request, 0])), {}],
      400,
      "malformedRequest",
    ],
    [
      "a POST of garbage",
      async () => ["/", { method: "POST", body: "hello" }],
      400,
      "malformedRequest",
    ],
    ["a POST with an empty body", async () => ["/", { method: "POST" }], 400, "malformedRequest"],
    [
      "a POST over 10 000 bytes",
      async () => ["/", { method: "POST", body: new Uint8Array(10_001) }],
      413,
      "malformedRequest",
    ],
    [
      "a POST over 10 000 bytes, streamed without Content-Length",
      async () => [
        "/",
        {
          method: "POST",
          body: new ReadableStream({
            start(controller) {
              for (let i = 0; i < 11; i++) controller.enqueue(new Uint8Array(1000));
              controller.close();
            },
          }),
        },
      ],
      413,
      "malformedRequest",
    ],
    [
      "a GET path over the length cap",
      async () => ["/" + "A".repeat(50_000), {}],
      413,
      "malformedRequest",
    ],
    [
      "a certificate of an issuer that is not registered",
      async () => [
        getPath(encodeRequest(await certIdOf("pki/ec-ca.pem", "pki/leaf-ec-good.pem"))),
        {},
      ],
      200,
      "unauthorized",
    ],
    [
      "a CertID under rsa-ca's name hash but another key hash",
      async () => [getPath(encodeRequest({ ...certId, issuerKeyHash: new Uint8Array(20) })), {}],
      200,
      "unauthorized",
    ],
  ];

  it.each(refusals.map(([name, make, http, status]) => [name, http, status, make] as const))(
    "%s: HTTP %i, %s, never cached, the CA not asked",
    async (_, http, status, make) => {
      const { deployment, relay } = await serving();
      const [path, init] = await make();
      await expectOcspError(await relay.request(path, init), http, status);
      expect(deployment.calls).toHaveLength(0);
      expect(await cachedResponseKeys()).toEqual([]);
    },
  );
});

describe("every valid fixture answer is relayed byte for byte and stored under its CertID", () => {
  const valid = fixtureCases().filter((c) => c.expect.ok);
  it.each(valid.map((c) => [c.name, c] as const))("%s", async (_, c) => {
    const now = await servingClock(c);
    const deployment = new Deployment(now, ocspReply(fixture(c.response)));
    const relay = deployment.isolate();
    const issuer = await relay.registered([c.issuer]);
    const res = await relay.get(await caseRequest(c));
    expect(res.status).toBe(200);
    expect(await bodyOf(res)).toEqual(fixture(c.response));
    const key = KV_KEYS.response(certIdKey(await caseCertId(c)));
    const { value, metadata } = await env.OCSP_CACHE.getWithMetadata(key, "arrayBuffer");
    if (c.expect.ok && c.expect.status === "unknown") {
      // An unpinned CertID the CA does not know is a guess: its owner holds the answer for its
      // short window, and nothing is written to KV for it.
      expect(value).toBeNull();
      const owner = env.CERT_OWNER.get(env.CERT_OWNER.idFromName(certIdKey(await caseCertId(c))));
      expect((await owner.inspect()).answer?.der).toEqual(fixture(c.response));
      return;
    }
    expect(new Uint8Array(value!)).toEqual(fixture(c.response));
    const facts = parseFacts(metadata);
    expect(facts).toMatchObject({ issuerId: issuer.id, etag: res.headers.get("ETag") });
    if (c.expect.ok) {
      expect(facts?.status).toBe(c.expect.status);
      if (c.expect.revocationReason)
        expect(facts?.revocationReason).toBe(c.expect.revocationReason);
    }
  });
});
