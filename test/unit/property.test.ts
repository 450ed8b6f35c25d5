// Properties of the protocol core on hostile input (STYLE habits 1 and 6): whatever bytes or path a
// client or a CA sends, decoding and verification return a typed value, quickly, and never throw;
// and no corruption of a valid response can make the relay accept a *different* answer.

import { fc, test } from "@fast-check/vitest";
import { beforeAll, describe, expect } from "vitest";
import { toBase64, toHex } from "../../src/ocsp/bytes.ts";
import { parseCertificate, type CertificateFacts } from "../../src/ocsp/certificate.ts";
import {
  certIdEqual,
  decodeGetPath,
  decodeRequest,
  type CertId,
  type OcspRequestFacts,
} from "../../src/ocsp/request.ts";
import { decodeResponse, type DecodedResponse } from "../../src/ocsp/response.ts";
import { REJECT_REASONS, verifyResponse, type Verdict } from "../../src/ocsp/verify.ts";
import type { Result } from "../../src/errors.ts";
import { caseCertId, fixtureCase, fixtureCases } from "../support/cases.ts";
import { certificate, fixture, fixturePaths, vector, vectorPaths } from "../support/files.ts";
import { tlv } from "../support/der.ts";

/** Each call must answer well within this, whatever its input. */
const BOUND_MS = 1_000;
const RUNS = { random: 300, mutations: 250 } as const;

function timed<T>(what: string, f: () => T): T {
  const start = performance.now();
  const out = f();
  expect(performance.now() - start, `${what} took too long`).toBeLessThan(BOUND_MS);
  return out;
}

async function timedAsync<T>(what: string, f: () => Promise<T>): Promise<T> {
  const start = performance.now();
  const out = await f();
  expect(performance.now() - start, `${what} took too long`).toBeLessThan(BOUND_MS);
  return out;
}

// ---- What a typed answer looks like ----

function expectTypedError(r: { ok: false; error: { kind: string; detail: string } }) {
  expect(["malformed", "tooLarge"]).toContain(r.error.kind);
  expect(typeof r.error.detail).toBe("string");
}

function expectTypedRequest(r: Result<OcspRequestFacts>, input?: Uint8Array) {
  expect(typeof r.ok).toBe("boolean");
  if (!r.ok) return expectTypedError(r);
  expect(r.value.der).toBeInstanceOf(Uint8Array);
  if (input) expect(toHex(r.value.der)).toBe(toHex(input));
  expect(r.value.certIds.length).toBeGreaterThan(0);
  for (const id of r.value.certIds) {
    expect(typeof id.hashAlgorithm).toBe("string");
    expect(id.issuerNameHash).toBeInstanceOf(Uint8Array);
    expect(id.issuerKeyHash).toBeInstanceOf(Uint8Array);
    expect(id.serialNumber).toBeInstanceOf(Uint8Array);
  }
  expect(typeof r.value.signed).toBe("boolean");
}

const STATUSES = [
  "successful",
  "malformedRequest",
  "internalError",
  "tryLater",
  "sigRequired",
  "unauthorized",
];

function expectTypedResponse(r: Result<DecodedResponse>) {
  expect(typeof r.ok).toBe("boolean");
  if (!r.ok) return expectTypedError(r);
  expect(STATUSES).toContain(r.value.status);
  if (r.value.status !== "successful" || !r.value.basic) return;
  const b = r.value.basic;
  expect(b.der).toBeInstanceOf(Uint8Array);
  expect(b.tbsResponseData).toBeInstanceOf(Uint8Array);
  expect(b.producedAt).toBeInstanceOf(Date);
  for (const s of b.responses) {
    expect(["good", "revoked", "unknown"]).toContain(s.certStatus.status);
    expect(s.thisUpdate).toBeInstanceOf(Date);
  }
}

function expectTypedCertificate(r: Result<CertificateFacts>) {
  expect(typeof r.ok).toBe("boolean");
  if (!r.ok) return expectTypedError(r);
  expect(r.value.subject).toBeInstanceOf(Uint8Array);
  expect(r.value.spki).toBeInstanceOf(Uint8Array);
  expect(r.value.notBefore).toBeInstanceOf(Date);
}

function expectTypedVerdict(v: Verdict) {
  expect(typeof v.ok).toBe("boolean");
  if (!v.ok) {
    expect(REJECT_REASONS).toContain(v.reason);
    expect(typeof v.detail).toBe("string");
  }
}

// ---- Inputs ----

const randomBytes = fc.uint8Array({ maxLength: 2000 });

/** Well-formed DER trees of the tags OCSP uses: they get past the DER layer into the schemas. */
const primitive = fc
  .tuple(
    fc.constantFrom(0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x0a, 0x0c, 0x13, 0x17, 0x18, 0x80, 0x81),
    fc.uint8Array({ maxLength: 24 }),
  )
  .map(([tag, content]) => tlv(tag, tag === 0x05 ? new Uint8Array(0) : content));
const derTree: fc.Memo<Uint8Array> = fc.memo((n) =>
  n <= 1
    ? primitive
    : fc.oneof(
        primitive,
        fc
          .tuple(
            fc.constantFrom(0x30, 0x31, 0xa0, 0xa1, 0xa2, 0xa3),
            fc.array(derTree(n - 1), { maxLength: 5 }),
          )
          .map(([tag, children]) => tlv(tag, ...children)),
      ),
);
const derInput = derTree(7).filter((d) => d.length <= 2000);

/** Paths: anything, anything in base64's and percent-encoding's alphabet, base64 of bytes. */
const pathAlphabet = "ABCMQTwabz0189+/=-_% ~.2F2B3Dzz0A".split("");
const randomPath = fc.oneof(
  fc.string({ maxLength: 2000 }),
  fc.string({ maxLength: 500, unit: "binary" }),
  fc.string({ maxLength: 2000, unit: fc.constantFrom(...pathAlphabet) }),
  fc.string({
    maxLength: 200,
    unit: fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)),
  }),
  fc.base64String({ maxLength: 2000 }).map((b) => `/${b}`),
  randomBytes.map((b) => `/${encodeURIComponent(toBase64(b))}`),
  derInput.map((b) => `//${toBase64(b)}`),
);

type Mutation =
  | { kind: "flip"; at: number; bit: number }
  | { kind: "set"; at: number; value: number }
  | { kind: "truncate"; at: number }
  | { kind: "insert"; at: number; value: number }
  | { kind: "delete"; at: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({
    kind: fc.constant("flip" as const),
    at: fc.nat(),
    bit: fc.integer({ min: 0, max: 7 }),
  }),
  fc.record({
    kind: fc.constant("set" as const),
    at: fc.nat(),
    value: fc.integer({ min: 0, max: 255 }),
  }),
  fc.record({ kind: fc.constant("truncate" as const), at: fc.nat() }),
  fc.record({
    kind: fc.constant("insert" as const),
    at: fc.nat(),
    value: fc.integer({ min: 0, max: 255 }),
  }),
  fc.record({ kind: fc.constant("delete" as const), at: fc.nat() }),
);

/** Applies `m` at a position inside [from, to) of `der` (the whole of it by default). */
function mutate(der: Uint8Array, m: Mutation, from = 0, to = der.length): Uint8Array {
  const at = from + (m.at % Math.max(1, to - from));
  switch (m.kind) {
    case "flip": {
      const out = der.slice();
      out[at] = out[at]! ^ (1 << m.bit);
      return out;
    }
    case "set": {
      const out = der.slice();
      out[at] = m.value;
      return out;
    }
    case "truncate":
      return der.slice(0, at);
    case "insert":
      return new Uint8Array([...der.subarray(0, at), m.value, ...der.subarray(at)]);
    case "delete":
      return new Uint8Array([...der.subarray(0, at), ...der.subarray(at + 1)]);
  }
}

function unique(list: Uint8Array[]): Uint8Array[] {
  const seen = new Map<string, Uint8Array>();
  for (const b of list) seen.set(toHex(b), b);
  return [...seen.values()];
}

// ---- Random input never throws ----

describe("random input: a typed answer, never an exception, within the bound", () => {
  const c = fixtureCase("rsa-delegated-good");
  const issuer = certificate(fixture(c.issuer));
  const now = new Date(c.at);
  let certId: CertId;
  beforeAll(async () => {
    certId = await caseCertId(c);
  });

  test.prop([fc.oneof(randomBytes, derInput)], { numRuns: RUNS.random })(
    "decodeRequest",
    (bytes) => {
      expectTypedRequest(
        timed("decodeRequest", () => decodeRequest(bytes)),
        bytes,
      );
    },
  );

  test.prop([randomPath], { numRuns: RUNS.random })("decodeGetPath", (path) => {
    expectTypedRequest(timed("decodeGetPath", () => decodeGetPath(path)));
  });

  test.prop([fc.oneof(randomBytes, derInput)], { numRuns: RUNS.random })(
    "decodeResponse",
    (bytes) => {
      expectTypedResponse(timed("decodeResponse", () => decodeResponse(bytes)));
    },
  );

  test.prop([fc.oneof(randomBytes, derInput)], { numRuns: RUNS.random })(
    "parseCertificate",
    (bytes) => {
      expectTypedCertificate(timed("parseCertificate", () => parseCertificate(bytes)));
    },
  );

  test.prop([fc.oneof(randomBytes, derInput)], { numRuns: RUNS.random })(
    "verifyResponse rejects it",
    async (bytes) => {
      const v = await timedAsync("verifyResponse", () =>
        verifyResponse({ response: bytes, issuer, certId, now }),
      );
      expectTypedVerdict(v);
      expect(v.ok).toBe(false);
    },
  );
});

// ---- Corrupted requests ----

describe("corrupted requests decode to a typed value, the same by POST and by GET", () => {
  const requests = unique([
    ...fixturePaths()
      .filter((p) => p.startsWith("requests/"))
      .map((p) => fixture(p)),
    ...vectorPaths()
      .filter((p) => p.startsWith("rustcrypto/") && p.endsWith("-req.der"))
      .map((p) => vector(p)),
  ]);

  test.prop([fc.nat(), mutation], { numRuns: RUNS.mutations })(
    "flip, set, truncate, insert, delete",
    (pick, m) => {
      const der = mutate(requests[pick % requests.length]!, m);
      const post = timed("decodeRequest", () => decodeRequest(der));
      expectTypedRequest(post, der);
      const get = timed("decodeGetPath", () =>
        decodeGetPath(`/${encodeURIComponent(toBase64(der))}`),
      );
      expectTypedRequest(get, der);
      expect(get.ok).toBe(post.ok);
      if (get.ok && post.ok) expect(get.value.certIds).toEqual(post.value.certIds);
      if (!get.ok && !post.ok) expect(get.error.kind).toBe(post.error.kind);
    },
  );

  test.prop([fc.nat(), mutation], { numRuns: RUNS.mutations })(
    "certificates: flip, set, truncate, insert, delete",
    (pick, m) => {
      const certs = fixturePaths().filter((p) => p.startsWith("pki/") && p.endsWith(".pem"));
      const der = mutate(certificate(fixture(certs[pick % certs.length]!)).der, m);
      expectTypedCertificate(timed("parseCertificate", () => parseCertificate(der)));
    },
  );
});

// ---- Corrupted responses ----

interface Accepted {
  name: string;
  der: Uint8Array;
  issuer: CertificateFacts;
  certId: CertId;
  now: Date;
  verdict: Verdict & { ok: true };
  tbsAt: number;
  tbsLength: number;
}

describe("a corrupted response is rejected or gives exactly the original answer", () => {
  const accepted: Accepted[] = [];
  beforeAll(async () => {
    for (const c of fixtureCases().filter((x) => x.expect.ok)) {
      const der = fixture(c.response);
      const issuer = certificate(fixture(c.issuer));
      const certId = await caseCertId(c);
      const now = new Date(c.at);
      const verdict = await verifyResponse({ response: der, issuer, certId, now });
      if (!verdict.ok) throw new Error(`${c.name} no longer verifies: ${verdict.detail}`);
      const tbs = verdict.basic.tbsResponseData;
      const tbsAt = toHex(der).indexOf(toHex(tbs)) / 2;
      accepted.push({
        name: c.name,
        der,
        issuer,
        certId,
        now,
        verdict,
        tbsAt,
        tbsLength: tbs.length,
      });
    }
    expect(accepted.length).toBeGreaterThanOrEqual(12);
  });

  async function check(a: Accepted, mutated: Uint8Array) {
    expectTypedResponse(timed("decodeResponse", () => decodeResponse(mutated)));
    const v = await timedAsync("verifyResponse", () =>
      verifyResponse({ response: mutated, issuer: a.issuer, certId: a.certId, now: a.now }),
    );
    expectTypedVerdict(v);
    if (!v.ok) return;
    // Accepted after corruption: then it is the very same answer, for the very same CertID.
    const was = a.verdict;
    expect(certIdEqual(v.certId, a.certId), a.name).toBe(true);
    expect(v.certStatus.status, a.name).toBe(was.certStatus.status);
    expect(v.thisUpdate.getTime(), a.name).toBe(was.thisUpdate.getTime());
    expect(v.nextUpdate.getTime(), a.name).toBe(was.nextUpdate.getTime());
    if (v.certStatus.status === "revoked" && was.certStatus.status === "revoked") {
      expect(v.certStatus.revocationTime.getTime()).toBe(was.certStatus.revocationTime.getTime());
      expect(v.certStatus.revocationReason).toBe(was.certStatus.revocationReason);
    }
    // What would be cached and served is what was verified.
    expect(toHex(v.basic.der)).toBe(toHex(mutated));
  }

  test.prop([fc.nat(), mutation], { numRuns: RUNS.mutations })(
    "anywhere in the response",
    async (pick, m) => {
      const a = accepted[pick % accepted.length]!;
      await check(a, mutate(a.der, m));
    },
  );

  test.prop([fc.nat(), mutation], { numRuns: RUNS.mutations })(
    "inside the signed tbsResponseData: always rejected",
    async (pick, m) => {
      const a = accepted[pick % accepted.length]!;
      const mutated = mutate(a.der, m, a.tbsAt, a.tbsAt + a.tbsLength);
      if (toHex(mutated) === toHex(a.der)) return; // `set` to the byte already there
      const v = await timedAsync("verifyResponse", () =>
        verifyResponse({ response: mutated, issuer: a.issuer, certId: a.certId, now: a.now }),
      );
      expectTypedVerdict(v);
      expect(v.ok, `${a.name}: ${JSON.stringify(m)}`).toBe(false);
    },
  );
});
