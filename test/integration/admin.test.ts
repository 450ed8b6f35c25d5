// The admin API as an operator sees it (curl against /admin/issuers): registering, listing and
// deleting the issuing CAs the relay serves, and every way a registration is refused.

import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import type { Env } from "../../src/env.ts";
import { toHex } from "../../src/ocsp/bytes.ts";
import { HASH_NAMES } from "../../src/ocsp/oids.ts";
import { fixtureCase } from "../support/cases.ts";
import { fixture, text } from "../support/files.ts";
import {
  ADMIN_TOKEN,
  AIA_RESPONDER,
  bodyOf,
  certIdOf,
  Deployment,
  freshDeploymentPerTest,
  ocspReply,
  RESPONDER,
  requestFor,
  servingClock,
  type IssuerJson,
} from "./support.ts";

const good = fixtureCase("rsa-direct-good");
const bearer = { Authorization: `Bearer ${ADMIN_TOKEN}` };
let clock: number;

beforeAll(async () => {
  clock = await servingClock(good);
});
freshDeploymentPerTest();

describe("registering an issuing CA", () => {
  it("a CA with ?responder= answers 201 with its id, subject, responder URL and hashes under SHA-1/256/384/512", async () => {
    const relay = new Deployment(clock).isolate();
    const res = await relay.register(["pki/rsa-ca.pem"]);
    expect(res.status).toBe(201);
    expect(res.headers.get("Content-Type")).toMatch(/^application\/json/);
    const issuer: IssuerJson = await res.json();
    expect(issuer.id).toMatch(/^[0-9a-f]{16}$/);
    expect(issuer.subject).toContain("CN=");
    expect(issuer.responderUrl).toBe(RESPONDER);
    expect(Object.keys(issuer.hashes).sort()).toEqual([...HASH_NAMES].sort());
    for (const hash of HASH_NAMES) {
      // The hashes a client's CertID carries for a certificate this CA issued.
      const certId = await certIdOf("pki/rsa-ca.pem", "pki/leaf-rsa-good.pem", hash);
      expect(issuer.hashes[hash], hash).toEqual({
        nameHash: toHex(certId.issuerNameHash),
        keyHash: toHex(certId.issuerKeyHash),
      });
    }
  });

  it("registering the same CA again is idempotent: 200 with the same id, listed once", async () => {
    const relay = new Deployment(clock).isolate();
    const first = await relay.register(["pki/rsa-ca.pem"]);
    const again = await relay.register(["pki/rsa-ca.pem"]);
    expect([first.status, again.status]).toEqual([201, 200]);
    const a: IssuerJson = await first.json();
    const b: IssuerJson = await again.json();
    expect(b.id).toBe(a.id);
    expect(b.createdAt).toBe(a.createdAt);
    const list = await relay.request("/admin/issuers", { headers: bearer });
    const { issuers } = (await list.json()) as { issuers: IssuerJson[] };
    expect(issuers.map((i) => i.id)).toEqual([a.id]);
  });

  it("GET /admin/issuers lists every registered CA", async () => {
    const relay = new Deployment(clock).isolate();
    const rsa = await relay.registered(["pki/rsa-ca.pem"]);
    const ec = await relay.registered(["pki/ec-ca.pem"]);
    const res = await relay.request("/admin/issuers", { headers: bearer });
    expect(res.status).toBe(200);
    const { issuers } = (await res.json()) as { issuers: IssuerJson[] };
    expect(issuers.map((i) => i.id).sort()).toEqual([rsa.id, ec.id].sort());
    // The listing describes each issuer as its registration did.
    expect(rsa).toMatchObject(issuers.find((i) => i.id === rsa.id)!);
  });

  it("DELETE /admin/issuers/<id> answers 204, then 404; the CA is no longer listed or served", async () => {
    const deployment = new Deployment(clock, ocspReply(fixture(good.response)));
    const relay = deployment.isolate();
    const { id } = await relay.registered(["pki/rsa-ca.pem"]);
    const del = await relay.request(`/admin/issuers/${id}`, { method: "DELETE", headers: bearer });
    expect(del.status).toBe(204);
    const again = await relay.request(`/admin/issuers/${id}`, {
      method: "DELETE",
      headers: bearer,
    });
    expect(again.status).toBe(404);
    expect(await again.json()).toMatchObject({ error: "no such issuer" });
    const list = await relay.request("/admin/issuers", { headers: bearer });
    expect(await list.json()).toEqual({ issuers: [] });
    const ocsp = await relay.get(await requestFor(good.issuer, good.cert!));
    expect(ocsp.status).toBe(200);
    expect(ocsp.headers.get("X-OCSP-Relay-Error")).toBe("unauthorized");
    expect(deployment.calls).toHaveLength(0);
  });

  it("a leaf followed by its issuer registers the issuer, with the responder the leaf's AIA names", async () => {
    const relay = new Deployment(clock).isolate();
    const res = await relay.register(["pki/leaf-rsa-good.pem", "pki/rsa-ca.pem"], "");
    expect(res.status).toBe(201);
    const issuer: IssuerJson = await res.json();
    expect(issuer.responderUrl).toBe(AIA_RESPONDER);
    const caOnly = await relay.register(["pki/rsa-ca.pem"]);
    expect(((await caOnly.json()) as IssuerJson).id).toBe(issuer.id);
  });

  it("an explicit ?responder= wins over the leaf's AIA", async () => {
    const relay = new Deployment(clock).isolate();
    const res = await relay.register(
      ["pki/leaf-rsa-good.pem", "pki/rsa-ca.pem"],
      "?responder=http://ocsp.example.com/rsa",
    );
    expect(res.status).toBe(201);
    expect(((await res.json()) as IssuerJson).responderUrl).toBe("http://ocsp.example.com/rsa");
  });
});

interface Refusal {
  name: string;
  env?: Partial<Env>;
  path?: string;
  init?: RequestInit;
  pem?: string[];
  query?: string;
  status: number;
  error: string;
}

const pem = (...paths: string[]) => paths.map((p) => text(fixture(p))).join("\n");

const refusals: Refusal[] = [
  {
    name: "a body that is not PEM",
    init: { method: "POST", headers: bearer, body: "hello, I am not a certificate" },
    status: 400,
    error: "bad PEM",
  },
  {
    name: "a PEM block whose base64 is garbage",
    init: {
      method: "POST",
      headers: bearer,
      body: "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
    },
    status: 400,
    error: "bad PEM",
  },
  {
    name: "a PEM block holding bytes that are not a certificate",
    init: {
      method: "POST",
      headers: bearer,
      body: "-----BEGIN CERTIFICATE-----\nAAECAwQFBgcICQ==\n-----END CERTIFICATE-----\n",
    },
    status: 400,
    error: "bad PEM",
  },
  {
    name: "an empty body",
    init: { method: "POST", headers: bearer },
    status: 400,
    error: "empty body",
  },
  {
    name: "an ftp:// responder",
    pem: ["pki/rsa-ca.pem"],
    query: "?responder=ftp://ocsp.example.com/",
    status: 400,
    error: "responder URL refused",
  },
  {
    name: "a responder URL with userinfo",
    pem: ["pki/rsa-ca.pem"],
    query: "?responder=" + encodeURIComponent("http://user:secret@ocsp.example.com/"),
    status: 400,
    error: "responder URL refused",
  },
  {
    name: "a responder that is not a URL",
    pem: ["pki/rsa-ca.pem"],
    query: "?responder=ocsp.example.com",
    status: 400,
    error: "responder URL refused",
  },
  ...[
    "http://127.0.0.1:8888/",
    "http://localhost/",
    "http://10.1.2.3/",
    "http://192.168.0.1/",
    "http://169.254.169.254/",
    "http://[::1]/",
  ].map((url): Refusal => ({
    name: `the private responder ${url} without ALLOW_PRIVATE_RESPONDERS`,
    env: { ALLOW_PRIVATE_RESPONDERS: undefined },
    pem: ["pki/rsa-ca.pem"],
    query: "?responder=" + encodeURIComponent(url),
    status: 400,
    error: "responder URL refused",
  })),
  {
    name: 'a leaf whose AIA names a loopback responder, with ALLOW_PRIVATE_RESPONDERS="false"',
    env: { ALLOW_PRIVATE_RESPONDERS: "false" },
    pem: ["pki/leaf-rsa-good.pem", "pki/rsa-ca.pem"],
    query: "",
    status: 400,
    error: "responder URL refused",
  },
  {
    name: "a leaf alone (not a CA)",
    pem: ["pki/leaf-rsa-good.pem"],
    status: 400,
    error: "not a CA certificate",
  },
  {
    name: "a leaf followed by another leaf",
    pem: ["pki/leaf-rsa-good.pem", "pki/leaf-rsa-revoked.pem"],
    status: 400,
    error: "not a CA certificate",
  },
  {
    name: "a leaf followed by a CA that did not issue it",
    pem: ["pki/leaf-rsa-good.pem", "pki/ec-ca.pem"],
    query: "",
    status: 400,
    error: "not the issuer",
  },
  {
    name: "a CA without ?responder=",
    pem: ["pki/rsa-ca.pem"],
    query: "",
    status: 400,
    error: "responder URL required",
  },
  {
    name: "a body over 256 KiB",
    init: { method: "POST", headers: bearer, body: "A".repeat(256 * 1024 + 1) },
    status: 413,
    error: "body too large",
  },
  {
    name: "a body over 256 KiB of repeated PEM",
    init: {
      method: "POST",
      headers: bearer,
      body: pem("pki/rsa-ca.pem").repeat(
        Math.ceil((256 * 1024) / pem("pki/rsa-ca.pem").length) + 1,
      ),
    },
    status: 413,
    error: "body too large",
  },
  ...(["GET", "POST", "DELETE"] as const).map((method): Refusal => ({
    name: `${method} without ADMIN_TOKEN configured`,
    env: { ADMIN_TOKEN: undefined },
    path: method === "DELETE" ? "/admin/issuers/0123456789abcdef" : "/admin/issuers",
    init: {
      method,
      headers: bearer,
      ...(method === "POST" ? { body: pem("pki/rsa-ca.pem") } : {}),
    },
    status: 403,
    error: "admin API disabled",
  })),
  {
    name: "an empty ADMIN_TOKEN (treated as not configured)",
    env: { ADMIN_TOKEN: "" },
    init: { headers: { Authorization: "Bearer " } },
    status: 403,
    error: "admin API disabled",
  },
  {
    name: "a wrong bearer token",
    init: {
      method: "POST",
      headers: { Authorization: "Bearer wrong" },
      body: pem("pki/rsa-ca.pem"),
    },
    status: 401,
    error: "unauthorized",
  },
  {
    name: "a token that only starts like the right one",
    init: { headers: { Authorization: `Bearer ${ADMIN_TOKEN}x` } },
    status: 401,
    error: "unauthorized",
  },
  {
    name: "no Authorization header",
    init: { method: "POST", body: pem("pki/rsa-ca.pem") },
    status: 401,
    error: "unauthorized",
  },
  {
    name: "Basic instead of Bearer",
    init: { headers: { Authorization: `Basic ${btoa(`admin:${ADMIN_TOKEN}`)}` } },
    status: 401,
    error: "unauthorized",
  },
];

describe("refused admin requests answer JSON errors and register nothing", () => {
  it.each(refusals.map((r) => [r.name, r] as const))("%s", async (_, r) => {
    const deployment = new Deployment(clock);
    const relay = deployment.isolate(r.env);
    const res = r.pem
      ? await relay.register(r.pem, r.query)
      : await relay.request(r.path ?? "/admin/issuers", r.init);
    expect(res.status).toBe(r.status);
    expect(res.headers.get("Content-Type")).toMatch(/^application\/json/);
    expect(res.headers.get("Cache-Control")).toMatch(/no-store/);
    const body = (await res.json()) as { error: string; detail?: string };
    expect(body.error).toBe(r.error);
    if (r.status === 401) {
      expect(res.headers.get("WWW-Authenticate")).toMatch(/^Bearer /);
    }
    // Nothing was registered: an admin with the right token (another isolate) lists no issuer.
    const list = await deployment.isolate().request("/admin/issuers", { headers: bearer });
    expect(await list.json()).toEqual({ issuers: [] });
    expect(deployment.calls).toHaveLength(0);
  });
});

describe("private responders", () => {
  it("a public responder is accepted when ALLOW_PRIVATE_RESPONDERS is not set", async () => {
    const relay = new Deployment(clock).isolate({ ALLOW_PRIVATE_RESPONDERS: undefined });
    const res = await relay.register(["pki/rsa-ca.pem"], "?responder=http://ocsp.example.com/");
    expect(res.status).toBe(201);
  });

  it("an issuer registered with a loopback responder is never fetched by a deployment that does not allow private responders", async () => {
    // The certificate owners read the deployment's own bindings (wrangler.toml), which do not
    // allow private responders; the admin isolate below was told otherwise.
    expect(env.ALLOW_PRIVATE_RESPONDERS).not.toBe("true");
    const deployment = new Deployment(clock, ocspReply(fixture(good.response)));
    const relay = deployment.isolate();
    await relay.registered(["pki/rsa-ca.pem"], `?responder=${AIA_RESPONDER}`);
    const res = await relay.get(await requestFor(good.issuer, good.cert!));
    expect(res.status).toBe(200);
    expect(res.headers.get("X-OCSP-Relay-Error")).toBe("tryLater");
    expect(deployment.calls).toHaveLength(0);
  });
});

describe("without ADMIN_TOKEN", () => {
  it("the admin API answers 403 while the OCSP endpoint still serves registered issuers", async () => {
    const deployment = new Deployment(clock, ocspReply(fixture(good.response)));
    await deployment.isolate().registered(["pki/rsa-ca.pem"]);
    const relay = deployment.isolate({ ADMIN_TOKEN: undefined });
    const admin = await relay.request("/admin/issuers", { headers: bearer });
    expect(admin.status).toBe(403);
    const res = await relay.get(await requestFor(good.issuer, good.cert!));
    expect(res.status).toBe(200);
    expect(res.headers.get("Content-Type")).toBe("application/ocsp-response");
    expect(await bodyOf(res)).toEqual(fixture(good.response));
    expect(deployment.calls).toHaveLength(1);
  });
});

describe("pinning and warming leaf certificates", () => {
  const leafPem = "pki/leaf-rsa-good.pem";

  it("a leaf sent with its issuer is warmed: the CA is asked once, and the first client GET is a HIT", async () => {
    const deployment = new Deployment(clock, ocspReply(fixture(good.response)));
    const relay = deployment.isolate();
    const res = await relay.register([leafPem, good.issuer], `?responder=${RESPONDER}`);
    expect(res.status).toBe(201);
    const body = (await res.json()) as IssuerJson & { warmed: Record<string, unknown>[] };
    expect(body.warmed).toEqual([
      expect.objectContaining({ pinned: true, status: "good", serial: expect.any(String) }),
    ]);
    expect(deployment.calls).toHaveLength(1);
    const ocsp = await relay.get(await requestFor(good.issuer, leafPem));
    expect(ocsp.status).toBe(200);
    expect(ocsp.headers.get("X-Cache")).toBe("HIT");
    expect(await bodyOf(ocsp)).toEqual(fixture(good.response));
    expect(deployment.calls).toHaveLength(1);
  });

  type CertificatesBody = { certificates?: unknown[]; error?: string };
  const certificates: [string, string[], number, (body: CertificatesBody) => void][] = [
    [
      "a leaf of a registered issuer is pinned and warmed (200)",
      [leafPem],
      200,
      (body) => expect(body.certificates).toEqual([expect.objectContaining({ status: "good" })]),
    ],
    [
      "a leaf of an unregistered issuer is refused (404)",
      ["pki/leaf-ec-good.pem"],
      404,
      (body) =>
        expect(body.certificates).toEqual([
          expect.objectContaining({ error: "issuer not registered" }),
        ]),
    ],
    [
      "only CA certificates is refused (400)",
      [good.issuer],
      400,
      (body) => expect(body.error).toBe("no leaf certificate"),
    ],
  ];
  it.each(certificates)("POST /admin/certificates: %s", async (_, pems, status, check) => {
    const deployment = new Deployment(clock, ocspReply(fixture(good.response)));
    const relay = deployment.isolate();
    await relay.registered([good.issuer]);
    const res = await relay.request("/admin/certificates", {
      method: "POST",
      headers: bearer,
      body: pem(...pems),
    });
    expect(res.status).toBe(status);
    check((await res.json()) as CertificatesBody);
    expect(deployment.calls).toHaveLength(status === 200 ? 1 : 0);
  });
});
