// Driving the deployed shape of the relay inside workerd: the real worker (createWorker) over the real
// simulated KV, Cache API and CertOwner Durable Objects, with the CA's responder replaced at the
// fetch boundary by a recording fake and the clock injected, both through a Platform (src/platform.ts: the
// seams the worker and its Durable Objects read). Fixture answers only verify inside their window.

import { env } from "cloudflare:workers";
import { abortAllDurableObjects, listDurableObjectIds, runInDurableObject } from "cloudflare:test";
import { afterEach, beforeEach, expect } from "vitest";
import { createWorker } from "../../src/index.ts";
import type { Env } from "../../src/env.ts";
import { toBase64 } from "../../src/ocsp/bytes.ts";
import { HASH_NAMES } from "../../src/ocsp/oids.ts";
import { certIdFor, certIdKey, encodeRequest, type CertId } from "../../src/ocsp/request.ts";
import { decodeResponse, type ResponseStatusName } from "../../src/ocsp/response.ts";
import { verifyResponse } from "../../src/ocsp/verify.ts";
import { PLATFORM, useDurableObjectPlatform, type Platform } from "../../src/platform.ts";
import { forgetResponderMethods } from "../../src/fleet/responder-methods.ts";
import { REGISTRY_EDGE_KEY } from "../../src/issuers/registry.ts";
import { edgeKey } from "../../src/sources/edge.ts";
import { caseCertId, fixtureCases, type FixtureCase } from "../support/cases.ts";
import { certificate, fixture, text } from "../support/files.ts";

declare global {
  namespace Cloudflare {
    interface Env {
      OCSP_CACHE: KVNamespace;
      CERT_OWNER: import("../../src/env.ts").Env["CERT_OWNER"];
      UPSTREAM_BUDGET: import("../../src/env.ts").Env["UPSTREAM_BUDGET"];
      REGISTRAR: import("../../src/env.ts").Env["REGISTRAR"];
      CRL_OWNER: import("../../src/env.ts").Env["CRL_OWNER"];
      PIN_QUEUE: import("../../src/env.ts").Env["PIN_QUEUE"];
      UPSTREAM_TIMEOUT_MS?: string;
      ALLOW_PRIVATE_RESPONDERS?: string;
    }
  }
}

/**
 * The responder the OCSP-path tests register. Not a loopback one: the CertOwner Durable Object
 * that fetches reads its configuration from the deployment's bindings (wrangler.toml), not from
 * the Env a test hands to app.request(), and wrangler.toml does not allow private responders.
 * No request ever leaves the process: every fetch goes to the fake CA below.
 */
export const RESPONDER = "http://ocsp.ca.example/";
/** The responder the fixture leaves name in their AIA (admin API tests). */
export const AIA_RESPONDER = "http://127.0.0.1:8888/";
export const ADMIN_TOKEN = "t";
/** The relay's own origin in tests (full URLs keep Hono's app.request from merging `//`). */
export const ORIGIN = "http://ocsp-relay.test";
export const HOUR = 60 * 60 * 1000;

/**
 * The Env a test hands to app.request(): admin on, loopback responders allowed (these reach the
 * worker's routes; the CertOwner Durable Objects read the deployment's own bindings).
 */
export function bindings(overrides: Partial<Env> = {}): Env {
  return {
    // The `env` of cloudflare:workers does not spread: name the bindings.
    OCSP_CACHE: env.OCSP_CACHE,
    CERT_OWNER: env.CERT_OWNER,
    FLEET_LEDGER: env.FLEET_LEDGER,
    UPSTREAM_BUDGET: env.UPSTREAM_BUDGET,
    REGISTRAR: env.REGISTRAR,
    CRL_OWNER: env.CRL_OWNER,
    PIN_QUEUE: env.PIN_QUEUE,
    ADMIN_TOKEN,
    ALLOW_PRIVATE_RESPONDERS: "true",
    // Every request counted: the tests read exact counts in /metrics (metrics/counters.ts).
    METRICS_SAMPLE: "1",
    ...overrides,
  };
}

/** The upstream timeout the certificate owners (Durable Objects) actually use. */
export const deployedTimeoutMs = () => Number(env.UPSTREAM_TIMEOUT_MS ?? "5000");

/** One exchange the relay started with "the CA", as the fake fetch saw it. */
export interface UpstreamCall {
  url: string;
  method: string;
  headers: Headers;
  body: Uint8Array | undefined;
  redirect: RequestInit["redirect"];
  signal: AbortSignal | undefined;
}

export type UpstreamReply = (call: UpstreamCall) => Response | Promise<Response>;

/** The CA's responder, mocked at the fetch boundary: records every call, answers with `reply`. */
export class FakeUpstream {
  readonly calls: UpstreamCall[] = [];

  constructor(public reply: UpstreamReply = () => new Response("no reply set", { status: 500 })) {}

  readonly fetch = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const request = input instanceof Request ? input : undefined;
    const body = init?.body ?? (request ? await request.arrayBuffer() : undefined);
    const call: UpstreamCall = {
      url: request ? request.url : String(input),
      method: init?.method ?? request?.method ?? "GET",
      headers: new Headers(init?.headers ?? request?.headers),
      body:
        body == null
          ? undefined
          : new Uint8Array(await new Response(body as BodyInit).arrayBuffer()),
      redirect: init?.redirect ?? request?.redirect,
      signal: init?.signal ?? request?.signal ?? undefined,
    };
    this.calls.push(call);
    return this.reply(call);
  };
}

/** A 200 from the CA carrying `der` as application/ocsp-response. */
export const ocspReply =
  (der: Uint8Array): UpstreamReply =>
  () =>
    new Response(der.slice(), {
      status: 200,
      headers: { "Content-Type": "application/ocsp-response" },
    });

/** A CA that never answers: the fetch settles only when the relay aborts it. */
export const hangingReply: UpstreamReply = (call) =>
  new Promise<Response>((_, reject) => {
    const signal = call.signal;
    if (!signal) return reject(new Error("the relay gave the upstream fetch no signal"));
    signal.addEventListener("abort", () => reject(signal.reason), { once: true });
  });

/**
 * One deployment under test: its clock and its CA, as one Platform that its isolates are built
 * with and that every Durable Object uses, and any number of isolates over the same KV and owners.
 */
export class Deployment {
  readonly upstream: FakeUpstream;
  readonly platform: Platform;

  constructor(
    public clock: number,
    reply?: UpstreamReply,
  ) {
    this.upstream = new FakeUpstream(reply);
    this.platform = {
      now: () => this.clock,
      random: () => Math.random(),
      fetch: this.upstream.fetch,
      // What an owner reports to the ledger is there when the test reads /status or /metrics next.
      inlineBackground: true,
    };
    useDurableObjectPlatform(this.platform);
    // A new deployment's owners have not learnt which responders refuse GET.
    forgetResponderMethods();
  }

  get calls(): UpstreamCall[] {
    return this.upstream.calls;
  }

  set reply(reply: UpstreamReply) {
    this.upstream.reply = reply;
  }

  advance(ms: number): void {
    this.clock += ms;
  }

  /** A new isolate: its own app (memory, registry copy), the same KV, edge cache and owners. */
  isolate(overrides: Partial<Env> = {}): Isolate {
    return new Isolate(bindings(overrides), this.platform);
  }
}

export class Isolate {
  /** The worker as the runtime runs it: fetch() takes the hot path first (index.ts). */
  readonly worker: ReturnType<typeof createWorker>;
  /** Its routes alone (app.request() runs without an ExecutionContext: no hot path). */
  readonly app: ReturnType<typeof createWorker>["app"];

  constructor(
    readonly env: Env,
    platform: Platform = PLATFORM,
  ) {
    this.worker = createWorker(platform);
    this.app = this.worker.app;
  }

  async request(path: string, init: RequestInit = {}): Promise<Response> {
    return this.app.request(ORIGIN + path, init, this.env);
  }

  /** POST /admin/issuers with the given fixture PEM files concatenated. */
  async register(pemPaths: string[], query = `?responder=${RESPONDER}`): Promise<Response> {
    return this.request(`/admin/issuers${query}`, {
      method: "POST",
      headers: { Authorization: `Bearer ${ADMIN_TOKEN}` },
      body: pemPaths.map((p) => text(fixture(p))).join("\n"),
    });
  }

  /** Registers `pemPaths` and fails the test unless the admin API accepted it. */
  async registered(pemPaths: string[], query?: string): Promise<IssuerJson> {
    const res = await this.register(pemPaths, query);
    expect([200, 201], await res.clone().text()).toContain(res.status);
    return res.json();
  }

  /** GET /{url-encoded base64 of the DER OCSPRequest}, as openssl and most clients send it. */
  async get(requestDer: Uint8Array, headers: HeadersInit = {}): Promise<Response> {
    return this.request(getPath(requestDer), { headers });
  }

  async post(requestDer: Uint8Array, headers: HeadersInit = {}): Promise<Response> {
    return this.request("/", {
      method: "POST",
      headers: { "Content-Type": "application/ocsp-request", ...headers },
      body: requestDer.slice(),
    });
  }
}

export interface IssuerJson {
  id: string;
  subject: string;
  responderUrl: string;
  hashes: Record<string, { nameHash: string; keyHash: string }>;
  notAfter: string;
  createdAt: string;
}

export const getPath = (requestDer: Uint8Array) => "/" + encodeURIComponent(toBase64(requestDer));

/** The CertID of a fixture leaf under a fixture CA. */
export async function certIdOf(issuerPem: string, leafPem: string, hash?: CertId["hashName"]) {
  return certIdFor(certificate(fixture(issuerPem)), certificate(fixture(leafPem)), hash);
}

/** A DER OCSPRequest for a fixture leaf, as `openssl ocsp -no_nonce` would build it. */
export async function requestFor(issuerPem: string, leafPem: string, nonce?: Uint8Array) {
  return encodeRequest(await certIdOf(issuerPem, leafPem), nonce);
}

/** The OCSP request a fixture case's client sends: the case's own request file, else built. */
export async function caseRequest(c: FixtureCase): Promise<Uint8Array> {
  return c.request ? fixture(c.request) : requestFor(c.issuer, c.cert!);
}

export const at = (iso: string) => new Date(iso).getTime();

/** thisUpdate and nextUpdate of a fixture answer, epoch ms. */
export function answerTimes(der: Uint8Array): { thisUpdate: number; nextUpdate: number } {
  const decoded = decodeResponse(der);
  if (!decoded.ok || decoded.value.status !== "successful" || !decoded.value.basic)
    throw new Error("not a successful basic OCSP response");
  const single = decoded.value.basic.responses[0]!;
  return { thisUpdate: single.thisUpdate.getTime(), nextUpdate: single.nextUpdate!.getTime() };
}

/**
 * The clock of a valid fixture case: its `at`, when it verifies (committed fixtures never expire:
 * the clock is injected). KV expirations are relative and owner alarms are scheduled by the time
 * left on this clock, so it may lie anywhere relative to the wall clock.
 */
export async function servingClock(c: FixtureCase): Promise<number> {
  const clock = at(c.at);
  const verdict = await verifyResponse({
    response: fixture(c.response),
    issuer: certificate(fixture(c.issuer)),
    certId: await caseCertId(c),
    now: new Date(clock),
  });
  if (!verdict.ok) {
    throw new Error(`fixture ${c.name} does not verify at its own time ${c.at}: ${verdict.reason}`);
  }
  return clock;
}

/** The OCSP responseStatus of a body the relay sent. */
export function ocspStatusOf(body: Uint8Array): ResponseStatusName {
  const decoded = decodeResponse(body);
  if (!decoded.ok)
    throw new Error(`the relay sent an unreadable OCSPResponse: ${decoded.error.detail}`);
  return decoded.value.status;
}

export const bodyOf = async (res: Response) => new Uint8Array(await res.arrayBuffer());

/**
 * What an OCSP client sees on an error: the expected HTTP status, an RFC 6960 error response with
 * the expected responseStatus, and headers that forbid caching it.
 */
export async function expectOcspError(
  res: Response,
  http: number,
  status: Exclude<ResponseStatusName, "successful">,
): Promise<void> {
  expect(res.status).toBe(http);
  expect(res.headers.get("Content-Type")).toBe("application/ocsp-response");
  expect(res.headers.get("Cache-Control")).toMatch(/no-cache|no-store/);
  expect(res.headers.get("ETag")).toBeNull();
  expect(res.headers.get("Expires")).toBeNull();
  expect(ocspStatusOf(await bodyOf(res))).toBe(status);
}

/** The response keys in KV (`v1:resp:*`). */
export async function cachedResponseKeys(): Promise<string[]> {
  const listed = await env.OCSP_CACHE.list({ prefix: "v1:resp:" });
  return listed.keys.map((k) => k.name);
}

/** Every cache key a test can produce: each fixture CertID and each leaf under each CA and hash. */
let knownKeys: Promise<string[]> | undefined;
const knownCertIdKeys = () => (knownKeys ??= computeKnownCertIdKeys());

async function computeKnownCertIdKeys(): Promise<string[]> {
  const keys = new Set<string>();
  const cases = fixtureCases();
  for (const c of cases) keys.add(certIdKey(await caseCertId(c)));
  const pairs = new Set(cases.filter((c) => c.cert).map((c) => `${c.issuer}|${c.cert}`));
  for (const pair of pairs) {
    const [issuer, leaf] = pair.split("|") as [string, string];
    for (const hash of HASH_NAMES) keys.add(certIdKey(await certIdOf(issuer, leaf, hash)));
  }
  return [...keys];
}

/**
 * Empties what a deployment keeps between requests: KV, the edge cache and every CertOwner
 * (storage, alarm and in-memory state). The workerd pool does not isolate storage between the
 * tests of a file, so each test starts from this.
 */
export async function wipeDeployment(): Promise<void> {
  const wipe = async (_: unknown, state: DurableObjectState) => {
    await state.storage.deleteAlarm();
    await state.storage.deleteAll();
  };
  for (const id of await listDurableObjectIds(env.CERT_OWNER))
    await runInDurableObject(env.CERT_OWNER.get(id), wipe);
  for (const id of await listDurableObjectIds(env.UPSTREAM_BUDGET))
    await runInDurableObject(env.UPSTREAM_BUDGET.get(id), wipe);
  for (const id of await listDurableObjectIds(env.REGISTRAR))
    await runInDurableObject(env.REGISTRAR.get(id), wipe);
  for (const id of await listDurableObjectIds(env.CRL_OWNER))
    await runInDurableObject(env.CRL_OWNER.get(id), wipe);
  for (const id of await listDurableObjectIds(env.PIN_QUEUE))
    await runInDurableObject(env.PIN_QUEUE.get(id), wipe);
  // Resets the owners' in-memory state (in-flight fetch, remembered failure).
  await abortAllDurableObjects();
  for (;;) {
    const listed = await env.OCSP_CACHE.list();
    if (listed.keys.length === 0) break;
    await Promise.all(listed.keys.map((k) => env.OCSP_CACHE.delete(k.name)));
  }
  await Promise.all((await knownCertIdKeys()).map((k) => caches.default.delete(edgeKey(k))));
  await caches.default.delete(REGISTRY_EDGE_KEY);
}

/** Each test starts from an empty deployment and leaves the real clock and fetch in place. */
export function freshDeploymentPerTest(): void {
  beforeEach(wipeDeployment);
  afterEach(async () => {
    useDurableObjectPlatform(PLATFORM);
    await wipeDeployment();
  });
}
