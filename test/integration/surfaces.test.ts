// Each surface is a sub-app with its own error boundary (src/routes/surface.ts): an error thrown
// inside one of its routes (here: Workers KV failing under the registry, or the Env itself) comes
// out as that surface's internal error, an RFC 6960 internalError on the OCSP endpoint and a JSON
// 500 everywhere else, with nothing of the error in it, and is logged once with the fleet key
// redacted from the path.

import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import type { Env } from "../../src/env.ts";
import { fixtureCase } from "../support/cases.ts";
import { fixture, text } from "../support/files.ts";
import { ADMIN_TOKEN, bindings, expectOcspError, getPath, Isolate, requestFor } from "./support.ts";

/** What the failing dependency says: it must reach the log, never the client. */
const SECRET = "KV exploded at handler (src/secret.ts:42)";
const fail = () => Promise.reject(new Error(SECRET));

/** Workers KV failing every call, as a platform outage would. */
const brokenKv = {
  get: fail,
  getWithMetadata: fail,
  put: fail,
  list: fail,
  delete: fail,
} as unknown as KVNamespace;

/** An Env whose KV fails and whose BENCH_MODE cannot even be read. */
function brokenEnv(overrides: Partial<Env> = {}): Env {
  const env = bindings({ OCSP_CACHE: brokenKv, ...overrides });
  Object.defineProperty(env, "BENCH_MODE", {
    get() {
      throw new Error(SECRET);
    },
  });
  return env;
}

const good = fixtureCase("rsa-direct-good");
const bearer = { Authorization: `Bearer ${ADMIN_TOKEN}` };
let leafPem: string;
let ocspRequest: Uint8Array;

beforeAll(async () => {
  leafPem = text(fixture(good.cert!));
  ocspRequest = await requestFor(good.issuer, good.cert!);
});

let logged: string[];
afterEach(() => vi.restoreAllMocks());
function captureLog(): void {
  logged = [];
  vi.spyOn(console, "log").mockImplementation((line: unknown) => {
    logged.push(String(line));
  });
}

/** The `request.error` lines logged, parsed. */
const requestErrors = () =>
  logged
    .map((line) => JSON.parse(line) as { event: string; path?: string; detail?: string })
    .filter((l) => l.event === "request.error");

/** Nothing of the error reaches the client: not in the body, not in a header. */
async function expectNothingLeaked(res: Response): Promise<void> {
  const body = new TextDecoder().decode(await res.clone().arrayBuffer());
  expect(body).not.toContain("secret");
  expect(body).not.toContain("exploded");
  for (const [, value] of res.headers) expect(value).not.toContain("secret");
}

async function expectJson500(res: Response): Promise<void> {
  expect(res.status).toBe(500);
  expect(res.headers.get("Content-Type")).toMatch(/^application\/json/);
  expect(res.headers.get("Cache-Control")).toBe("no-store");
  expect(await res.clone().json()).toEqual({ error: "internal error" });
}

type Surface = "ocsp" | "json";

const cases: [string, Surface, () => [string, RequestInit]][] = [
  ["OCSP GET", "ocsp", () => [getPath(ocspRequest), {}]],
  ["OCSP GET under a fleet key", "ocsp", () => [`/k/fleet-key-xyz${getPath(ocspRequest)}`, {}]],
  [
    "OCSP POST",
    "ocsp",
    () => [
      "/",
      {
        method: "POST",
        headers: { "Content-Type": "application/ocsp-request" },
        body: ocspRequest.slice(),
      },
    ],
  ],
  [
    "admin POST /admin/certificates",
    "json",
    () => ["/admin/certificates", { method: "POST", headers: bearer, body: leafPem }],
  ],
  ["check POST /check", "json", () => ["/check", { method: "POST", body: leafPem }]],
  [
    "check GET /check/<issuer>/<serial>",
    "json",
    () => ["/check/0011223344556677/1001", { headers: bearer }],
  ],
  ["observe GET /healthz", "json", () => ["/healthz", {}]],
  ["observe GET /status", "json", () => ["/status", { headers: bearer }]],
  ["bench GET /__bench/ops", "json", () => ["/__bench/ops", {}]],
];

describe("an error thrown inside a route comes out as its surface's internal error", () => {
  it.each(cases)("%s → %s", async (_, surface, make) => {
    const relay = new Isolate(brokenEnv());
    const [path, init] = make();
    captureLog();
    const res = await relay.request(path, init);
    if (surface === "ocsp") {
      await expectOcspError(res.clone(), 200, "internalError");
      expect(res.headers.get("X-OCSP-Relay-Error")).toBe("internal");
    } else {
      await expectJson500(res);
    }
    await expectNothingLeaked(res);
    // Logged once, by the surface's boundary, with the error's message and no fleet key.
    const errors = requestErrors();
    expect(errors).toHaveLength(1);
    expect(errors[0]!.detail).toBe(SECRET);
    expect(errors[0]!.path).not.toContain("fleet-key-xyz");
    if (path.startsWith("/k/")) expect(errors[0]!.path).toMatch(/^\/k\/…\//);
  });

  it("a surface's own answers are unchanged when nothing throws", async () => {
    const relay = new Isolate(bindings());
    expect(await (await relay.request("/healthz")).json()).toEqual({ ok: true, issuers: 0 });
    const notAdmin = await relay.request("/admin/nothing", { headers: bearer });
    expect(notAdmin.status).toBe(404);
    expect(await notAdmin.json()).toMatchObject({ error: "no such admin endpoint" });
    const put = await relay.request("/", { method: "PUT" });
    expect(put.status).toBe(405);
    expect(await put.json()).toMatchObject({ error: "method not allowed" });
  });

  it("before any surface is reached (the isolate's Relay cannot be built), the OCSP error", async () => {
    const env = bindings();
    Object.defineProperty(env, "OCSP_KEYS", {
      get() {
        throw new Error(SECRET);
      },
    });
    captureLog();
    const res = await new Isolate(env).request("/healthz");
    await expectOcspError(res.clone(), 200, "internalError");
    await expectNothingLeaked(res);
    expect(requestErrors()).toHaveLength(1);
  });
});
