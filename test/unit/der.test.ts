// The bounded DER decoder every parse goes through (STYLE habit 1): size, depth and node caps,
// no trailing bytes, no indefinite lengths. Whatever the input, the answer is a typed value.

import { CertID, OCSPResponse } from "@peculiar/asn1-ocsp";
import { AlgorithmIdentifier, Certificate, Extension } from "@peculiar/asn1-x509";
import { describe, expect, it } from "vitest";
import { fromHex, toHex } from "../../src/ocsp/bytes.ts";
import {
  decodeAs,
  decodeCanonical,
  decodeElement,
  DER_LIMITS,
  type DerLimits,
} from "../../src/ocsp/der.ts";
import { decodeRequest } from "../../src/ocsp/request.ts";
import { OcspRequest } from "../../src/ocsp/request-schema.ts";
import { fixture, fixturePaths, vector, vectorPaths } from "../support/files.ts";
import { tlv } from "../support/der.ts";

const hex = (s: string) => fromHex(s.replace(/\s+/g, ""))!;

/** `levels` SEQUENCEs, one inside the other, around a NULL (which sits at depth `levels`). */
function nested(levels: number): Uint8Array {
  let der = hex("0500");
  for (let i = 0; i < levels; i++) der = tlv(0x30, der);
  return der;
}

const SMALL: DerLimits = { maxBytes: 64, maxDepth: 4, maxNodes: 8 };

describe("decodeElement", () => {
  it.each([
    ["an empty SEQUENCE", "3000", "Sequence"],
    ["NULL", "0500", "Null"],
    ["a SEQUENCE holding an INTEGER and an OCTET STRING", "3007 020101 0402abcd", "Sequence"],
  ])("accepts %s", (_, input, type) => {
    const r = decodeElement(hex(input), SMALL);
    expect(r).toMatchObject({ ok: true });
    expect(r.ok && r.value.constructor.name).toBe(type);
  });

  it("accepts exactly maxBytes, refuses maxBytes + 1", () => {
    const fits = tlv(0x04, new Uint8Array(SMALL.maxBytes - 2));
    expect(fits.length).toBe(SMALL.maxBytes);
    expect(decodeElement(fits, SMALL)).toMatchObject({ ok: true });
    const over = tlv(0x04, new Uint8Array(SMALL.maxBytes - 1));
    expect(decodeElement(over, SMALL)).toMatchObject({
      ok: false,
      error: { kind: "malformed", detail: expect.stringContaining("exceeds the 64-byte cap") },
    });
  });

  it("accepts nesting down to maxDepth, refuses one level deeper", () => {
    expect(decodeElement(nested(SMALL.maxDepth), SMALL)).toMatchObject({ ok: true });
    expect(decodeElement(nested(SMALL.maxDepth + 1), { ...SMALL, maxNodes: 100 })).toMatchObject({
      ok: false,
      error: { kind: "malformed", detail: expect.stringContaining("depth") },
    });
  });

  it.each([
    ["request", DER_LIMITS.request],
    ["response", DER_LIMITS.response],
    ["certificate", DER_LIMITS.certificate],
  ] as const)("the %s limits refuse 1 000 nested SEQUENCEs", (_, limits) => {
    expect(decodeElement(nested(1_000), limits)).toMatchObject({
      ok: false,
      error: { kind: "malformed" },
    });
  });

  it("refuses more than maxNodes elements", () => {
    const nine = tlv(0x30, ...Array.from({ length: 8 }, () => hex("0500")));
    expect(decodeElement(nine, SMALL)).toMatchObject({
      ok: false,
      error: { kind: "malformed", detail: expect.stringContaining("node") },
    });
    const eight = tlv(0x30, ...Array.from({ length: 7 }, () => hex("0500")));
    expect(decodeElement(eight, SMALL)).toMatchObject({ ok: true });
  });

  it.each([
    ["zero bytes", ""],
    ["a lone tag", "30"],
    ["a long-form length cut after its first byte", "3082 01"],
    ["a long-form length with no content", "3082 0001"],
    ["content shorter than the length", "3005 0500"],
    ["a length of 2^32 - 1", "3084 ffffffff"],
    ["a length field of 127 bytes", "30ff"],
    ["a high tag number cut short", "1f"],
    ["trailing bytes after the element", "0500 00"],
    ["a second element after the first", "0500 0500"],
    ["an indefinite-length SEQUENCE", "3080 0500 0000"],
    ["an indefinite-length SEQUENCE without end-of-contents", "3080 0500"],
    ["an indefinite-length constructed OCTET STRING", "2480 040100 0000"],
    ["an indefinite length on a primitive", "0480 00 0000"],
  ])("refuses %s: typed malformed error, no exception", (_, input) => {
    const r = decodeElement(hex(input), SMALL);
    expect(r).toMatchObject({ ok: false, error: { kind: "malformed" } });
    expect(r.ok || r.error.detail.length).toBeGreaterThan(0);
  });

  it("refuses a declared length of 2 GiB on a few bytes of input", () => {
    const big = hex("3084 7fffffff 05 00");
    expect(decodeElement(big, DER_LIMITS.response)).toMatchObject({
      ok: false,
      error: { kind: "malformed" },
    });
  });

  // X.690 §8.1.1: a constructed element's contents are exactly its declared length. asn1js 3.1
  // lets a child run on past its parent's end, so the parent silently grows (see the report and
  // the matching response test: a response with a shortened outer length still verifies).
  it.each([
    ["a child running 2 bytes past its parent", "3002 0402 abcd"],
    ["a child running 1 byte past its parent", "3003 0402 abcd"],
    ["a grandchild running past both its parents", "3004 3003 0402 abcd"],
  ])("refuses %s", (_, input) => {
    expect(decodeElement(hex(input), SMALL)).toMatchObject({
      ok: false,
      error: { kind: "malformed" },
    });
  });

  // DER (X.690 §10.1) has only the definite form, at every level. decodeElement checks the
  // outermost length only, so a nested indefinite length gets through (see the report).
  it("refuses an indefinite length nested inside a definite one", () => {
    const innerIndefinite = hex("3006 3080 0500 0000");
    expect(decodeElement(innerIndefinite, SMALL)).toMatchObject({
      ok: false,
      error: { kind: "malformed" },
    });
    // The same in a real request: openssl's request with its CertID re-encoded in BER.
    const der = fixture("requests/rsa-delegated-good.der");
    const ber = hex(`3045 3043 3041 303f 3080 ${toHex(der.subarray(10))} 0000`);
    expect(decodeRequest(ber)).toMatchObject({ ok: false, error: { kind: "malformed" } });
  });
});

describe("decodeAs", () => {
  it("decodes the fixtures as their types, from a Uint8Array or an ArrayBuffer", () => {
    const req = fixture("requests/rsa-delegated-good.der");
    expect(decodeAs(req, OcspRequest, DER_LIMITS.request)).toMatchObject({ ok: true });
    expect(decodeAs(req.slice().buffer, OcspRequest, DER_LIMITS.request)).toMatchObject({
      ok: true,
    });
    const res = fixture("responses/rsa-delegated-good.der");
    expect(decodeAs(res, OCSPResponse, DER_LIMITS.response)).toMatchObject({
      ok: true,
      value: { responseStatus: 0 },
    });
  });

  it.each([
    ["an OCSP request as a Certificate", "requests/rsa-delegated-good.der", Certificate],
    ["an OCSP response as an OCSP request", "responses/rsa-delegated-good.der", OcspRequest],
    ["an OCSP request as an OCSP response", "requests/rsa-delegated-good.der", OCSPResponse],
  ] as const)("%s → malformed `not a valid …`", (_, path, type) => {
    expect(decodeAs(fixture(path), type as new () => unknown, DER_LIMITS.response)).toMatchObject({
      ok: false,
      error: { kind: "malformed", detail: expect.stringMatching(/^not a valid /) },
    });
  });

  const REQ = DER_LIMITS.request;
  const good = () => fixture("requests/rsa-delegated-good.der");
  it.each([
    ["zero bytes", () => new Uint8Array(0), REQ],
    ["NULL", () => hex("0500"), REQ],
    ["an empty SEQUENCE", () => hex("3000"), REQ],
    ["a SEQUENCE of NULLs", () => hex("3004 0500 0500"), REQ],
    ["the request plus a trailing byte", () => withTrailing(good()), REQ],
    ["the request without its last byte", () => good().subarray(0, good().length - 1), REQ],
    ["the request over a 32-byte cap", good, { ...REQ, maxBytes: 32 }],
    ["the request under a depth cap of 3", good, { ...REQ, maxDepth: 3 }],
    ["40 nested SEQUENCEs", () => nested(40), REQ],
  ] as const)("OCSPRequest from %s → malformed, no exception", (_, input, limits) => {
    expect(decodeAs(input(), OcspRequest, limits)).toMatchObject({
      ok: false,
      error: { kind: "malformed" },
    });
  });

  it("a successful response whose DER is fine but whose schema is not still answers malformed", () => {
    // OCSPResponse { responseStatus ENUMERATED 0, [0] { SEQUENCE { NULL } } }
    const bad = hex("300b 0a0100 a006 3004 0500 0500");
    expect(decodeAs(bad, OCSPResponse, DER_LIMITS.response)).toMatchObject({
      ok: false,
      error: { kind: "malformed" },
    });
  });
});

// DER is canonical (X.690 §10, §11): one value, one encoding. decodeCanonical checks it the general
// way, by re-encoding what it decoded; the tree walk in decodeElement only sees lengths.
describe("decodeCanonical", () => {
  const REQ = DER_LIMITS.request;
  /** Extension { basicConstraints, critical?, OCTET STRING { SEQUENCE { BOOLEAN TRUE } } } */
  const ext = (critical: string) => tlv(0x30, hex(`0603 551d13 ${critical} 0405 3003 0101ff`));

  it("accepts every request in the fixtures and the vectors: all of them are DER", () => {
    const requests = [
      ...fixturePaths()
        .filter((p) => p.startsWith("requests/"))
        .map((p) => [p, fixture(p)] as const),
      ...vectorPaths()
        .filter((p) => p.endsWith("-req.der"))
        .map((p) => [p, vector(p)] as const),
    ];
    expect(requests.length).toBeGreaterThanOrEqual(52);
    for (const [path, der] of requests) {
      expect(decodeCanonical(der, OcspRequest, REQ), path).toMatchObject({ ok: true });
    }
  });

  it("accepts an Extension without the DEFAULT critical, and with critical TRUE as FF", () => {
    expect(decodeCanonical(ext(""), Extension, REQ)).toMatchObject({
      ok: true,
      value: { value: { critical: false } },
    });
    expect(decodeCanonical(ext("0101ff"), Extension, REQ)).toMatchObject({
      ok: true,
      value: { value: { critical: true } },
    });
  });

  it.each([
    ["critical FALSE encoded although it is the DEFAULT", ext("010100"), Extension, 7],
    ["critical TRUE as 01 (DER says FF)", ext("010101"), Extension, 7],
    ["an OID subidentifier padded with 80", hex("3008 0606 2b0e8003021a"), AlgorithmIdentifier, 2],
  ] as const)("refuses %s as malformed `not DER`, saying where", (_, der, type, at) => {
    expect(decodeCanonical(der, type as new () => unknown, REQ)).toMatchObject({
      ok: false,
      error: {
        kind: "malformed",
        detail: expect.stringMatching(new RegExp(`^not DER: .* at byte ${at}\\b`)),
      },
    });
  });

  it("counts the byte from the input's start, also when it is a view into a larger buffer", () => {
    const pool = new Uint8Array(64).fill(0xee);
    pool.set(ext("010101"), 37);
    const view = pool.subarray(37, 37 + ext("010101").length);
    expect(decodeCanonical(view, Extension, REQ)).toMatchObject({
      ok: false,
      error: { detail: "not DER: BOOLEAN at byte 7 (010101) is 0101ff in DER" },
    });
  });

  it("refuses what decodeElement refuses (a long-form length) before re-encoding", () => {
    expect(decodeCanonical(hex("3081 03 0101ff"), Extension, REQ)).toMatchObject({
      ok: false,
      error: { kind: "malformed", detail: "non-minimal length is not DER" },
    });
  });

  // What a schema keeps as raw bytes re-encodes as it came: a CertID's serialNumber is its INTEGER
  // content octets, so a padded serial survives the round trip (request.ts checks it itself).
  it("cannot see a padded INTEGER that the schema keeps as bytes", () => {
    const certId = (serial: string) =>
      tlv(0x30, hex("3007 0605 2b0e03021a 0400 0400"), tlv(0x02, hex(serial)));
    expect(decodeCanonical(certId("1001"), CertID, REQ)).toMatchObject({ ok: true });
    expect(decodeCanonical(certId("001001"), CertID, REQ)).toMatchObject({ ok: true });
  });
});

function withTrailing(der: Uint8Array): Uint8Array {
  const out = new Uint8Array(der.length + 1);
  out.set(der);
  return out;
}
