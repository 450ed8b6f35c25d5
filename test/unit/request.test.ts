// OCSPRequest decoding (RFC 6960 §4.1.1) and its GET form (RFC 6960 Appendix A.1, RFC 5019 §5):
// every form real clients send decodes to the CertID of the DER request; every bad one is a
// typed error, never an exception.

import { describe, expect, it } from "vitest";
import { fromHex, toBase64, toHex } from "../../src/ocsp/bytes.ts";
import { HASH_NAMES } from "../../src/ocsp/oids.ts";
import {
  certIdFor,
  certIdKey,
  decodeGetPath,
  decodeRequest,
  encodeRequest,
  MAX_GET_PATH_CHARS,
  MAX_REQUEST_BYTES,
  MAX_SERIAL_OCTETS,
  type CertId,
} from "../../src/ocsp/request.ts";
import { certificate, fixture, fixturePaths, vector, vectorPaths } from "../support/files.ts";

const rsaCa = () => certificate(fixture("pki/rsa-ca.pem"));
const leafGood = () => certificate(fixture("pki/leaf-rsa-good.pem"));
const leafRevoked = () => certificate(fixture("pki/leaf-rsa-revoked.pem"));

function decoded(der: Uint8Array) {
  const r = decodeRequest(der);
  if (!r.ok) throw new Error(`fixture request does not decode: ${r.error.detail}`);
  return r.value;
}

/** DER TLV with a definite length, for building requests the encoder would never produce. */
function tlv(tag: number, ...contents: Uint8Array[]): Uint8Array {
  const len = contents.reduce((n, c) => n + c.length, 0);
  const head =
    len < 0x80 ? [tag, len] : len < 0x100 ? [tag, 0x81, len] : [tag, 0x82, len >> 8, len & 0xff];
  const out = new Uint8Array(head.length + len);
  out.set(head);
  let at = head.length;
  for (const c of contents) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

const concat = (a: Uint8Array, b: Uint8Array) => {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
};

/**
 * A request whose base64 holds `/`, `+` and `=` padding, so that every GET variant below really
 * changes the text: a fixture request if one qualifies (keys differ on every fixture run), else
 * the rsa-delegated-good CertID with serials tried in turn until one does.
 */
function trickyRequest(): { name: string; der: Uint8Array } {
  const qualifies = (der: Uint8Array) => /\/.*\+|\+.*\//.test(toBase64(der)) && der.length % 3;
  for (const path of fixturePaths().filter((p) => p.startsWith("requests/"))) {
    const der = fixture(path);
    if (decodeRequest(der).ok && qualifies(der)) return { name: path, der };
  }
  const base = decoded(fixture("requests/rsa-delegated-good.der")).certIds[0]!;
  for (let serial = 1; serial < 1 << 20; serial++) {
    const serialNumber = new Uint8Array([0x01, serial >> 16, (serial >> 8) & 0xff, serial & 0xff]);
    const der = encodeRequest({ ...base, serialNumber });
    if (qualifies(der))
      return { name: `rsa-delegated-good CertID, serial ${toHex(serialNumber)}`, der };
  }
  throw new Error("no serial gives a base64 request with both / and +");
}

describe("decodeGetPath: every GET form clients send gives the DER request's CertID", () => {
  const tricky = trickyRequest();
  const samples = [
    { name: "requests/rsa-delegated-good.der", der: fixture("requests/rsa-delegated-good.der") },
    {
      name: "requests/rsa-delegated-sha256.der",
      der: fixture("requests/rsa-delegated-sha256.der"),
    },
    tricky,
  ];

  it("the tricky sample's base64 really holds /, + and = padding", () => {
    const b64 = toBase64(tricky.der);
    expect(b64).toContain("/");
    expect(b64).toContain("+");
    expect(b64).toMatch(/=$/);
  });

  const FORMS: [string, (b64: string) => string][] = [
    ["URL-escaped base64 (RFC 6960 A.1, encodeURIComponent)", (b) => `/${encodeURIComponent(b)}`],
    [
      "URL-escaped with lowercase hex (%2f, %2b, %3d)",
      (b) => `/${encodeURIComponent(b).replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase())}`,
    ],
    ["raw base64, / and + unescaped", (b) => `/${b}`],
    ["raw base64 without the leading slash", (b) => b],
    ["a + turned into a space (form decoding)", (b) => `/${b.replace(/\+/g, " ")}`],
    ["a + sent as %20", (b) => `/${b.replace(/\+/g, "%20")}`],
    [
      "the leading // nginx sends (responder URL ending in /), escaped",
      (b) => `//${encodeURIComponent(b)}`,
    ],
    ["the leading // nginx sends, raw", (b) => `//${b}`],
    [
      "base64url (- and _), no padding",
      (b) => `/${b.replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "")}`,
    ],
    ["base64url with padding", (b) => `/${b.replace(/\+/g, "-").replace(/\//g, "_")}`],
    ["standard base64 with the padding left off", (b) => `/${b.replace(/=+$/, "")}`],
    [
      "escaped base64 with the padding left off",
      (b) => `/${encodeURIComponent(b.replace(/=+$/, ""))}`,
    ],
  ];

  it.each(
    samples.flatMap((s) => FORMS.map(([form, make]) => [form, s.name, make, s.der] as const)),
  )("%s (%s)", (_, __, make, der) => {
    const want = decoded(der);
    const got = decodeGetPath(make(toBase64(der)));
    expect(got).toMatchObject({ ok: true });
    if (!got.ok) return;
    expect(got.value.certIds).toEqual(want.certIds);
    expect(certIdKey(got.value.certIds[0]!)).toBe(certIdKey(want.certIds[0]!));
    expect(toHex(got.value.der)).toBe(toHex(der));
    expect(got.value.nonce).toBeUndefined();
    expect(got.value.signed).toBe(false);
  });
});

describe("decodeGetPath and decodeRequest refuse bad input with a typed error", () => {
  const good = fixture("requests/rsa-delegated-good.der");
  const certId = () => decoded(good).certIds[0]!;
  const huge = () => encodeRequest(certId(), new Uint8Array(12_000));

  it("a request with a 12 000-byte nonce is valid DER above the 10 000-byte cap", () => {
    expect(MAX_REQUEST_BYTES).toBe(10_000);
    expect(huge().length).toBeGreaterThan(12_000);
  });

  it.each([
    ["an empty path", () => ""],
    ["a lone slash", () => "/"],
    ["only slashes", () => "///"],
    ["only escaped whitespace", () => "/%20%0A"],
    ["text that is not base64", () => "/not base64!"],
    [
      "base64 with = in the middle",
      () => `/${toBase64(good).slice(0, 8)}=${toBase64(good).slice(8)}`,
    ],
    ["a base64 length no byte string has (4n+1)", () => "/QUFBQ"],
    ["bad percent-encoding (%zz)", () => `/${toBase64(good).slice(0, 10)}%zz`],
    ["a truncated percent escape", () => `/${toBase64(good)}%3`],
    ["percent-encoding of invalid UTF-8", () => "/%C3%28"],
    ["base64 of garbage", () => `/${toBase64(new TextEncoder().encode("GET / HTTP/1.1 garbage"))}`],
    ["base64 of a DER NULL", () => `/${toBase64(new Uint8Array([5, 0]))}`],
    [
      "base64 of an OCSP response",
      () => `/${encodeURIComponent(toBase64(fixture("responses/rsa-delegated-good.der")))}`,
    ],
    [
      "trailing bytes after the request",
      () => `/${encodeURIComponent(toBase64(concat(good, new Uint8Array([0]))))}`,
    ],
    [
      "a request cut short",
      () => `/${encodeURIComponent(toBase64(good.subarray(0, good.length - 3)))}`,
    ],
  ])("GET %s → malformed", (_, path) => {
    expect(decodeGetPath(path())).toMatchObject({ ok: false, error: { kind: "malformed" } });
  });

  it("GET of a valid request over 10 000 bytes → tooLarge", () => {
    expect(decodeGetPath(`/${encodeURIComponent(toBase64(huge()))}`)).toMatchObject({
      ok: false,
      error: { kind: "tooLarge" },
    });
  });

  it("GET path longer than MAX_GET_PATH_CHARS → tooLarge, before any decoding", () => {
    expect(decodeGetPath(`/${"%".repeat(MAX_GET_PATH_CHARS)}`)).toMatchObject({
      ok: false,
      error: { kind: "tooLarge" },
    });
  });

  const emptyList = tlv(0x30, tlv(0x30, tlv(0x30)));
  it.each([
    ["no bytes", "malformed", () => new Uint8Array(0)],
    ["a valid request over 10 000 bytes", "tooLarge", huge],
    ["10 001 zero bytes", "tooLarge", () => new Uint8Array(10_001)],
    ["trailing bytes after the request", "malformed", () => concat(good, new Uint8Array([0]))],
    ["a request cut short", "malformed", () => good.subarray(0, good.length - 1)],
    ["an OCSP response", "malformed", () => fixture("responses/rsa-delegated-good.der")],
    ["a certificate", "malformed", () => leafGood().der],
    ["an empty requestList", "malformed", () => emptyList],
    ["random text", "malformed", () => new TextEncoder().encode("hello, OCSP")],
  ] as const)("DER %s → %s", (_, kind, der) => {
    expect(decodeRequest(der())).toMatchObject({ ok: false, error: { kind } });
  });
});

// RFC 6960 Appendix A.1: a request is "the DER encoding of the OCSPRequest". The relay sends the
// CA the CertID as the client encoded it, so a serial INTEGER with a redundant leading byte reached
// the CA, which answered HTTP 400 (issue 16). Every BER liberty is refused as malformedRequest.
describe("a request that is not DER is malformed, GET and POST alike", () => {
  const good = fixture("requests/rsa-delegated-good.der");
  const id = () => decoded(good).certIds[0]!;
  const h = (s: string) => fromHex(s.replace(/\s+/g, ""))!;
  const SHA1 = h("06052b0e03021a");
  const serial = (octets: string) => tlv(0x02, h(octets));

  /** openssl's request (rsa-delegated-good) rebuilt, with one part swapped for another encoding. */
  function request(
    parts: { serial?: Uint8Array; version?: Uint8Array; hash?: Uint8Array; ext?: Uint8Array } = {},
  ): Uint8Array {
    const certId = tlv(
      0x30,
      tlv(0x30, parts.hash ?? SHA1, h("0500")),
      tlv(0x04, id().issuerNameHash),
      tlv(0x04, id().issuerKeyHash),
      parts.serial ?? tlv(0x02, id().serialNumber),
    );
    const extensions = parts.ext ? [tlv(0xa2, tlv(0x30, parts.ext))] : [];
    const version = parts.version ? [parts.version] : [];
    return tlv(0x30, tlv(0x30, ...version, tlv(0x30, tlv(0x30, certId)), ...extensions));
  }
  const nonce = (critical: string) =>
    tlv(
      0x30,
      h("06092b0601050507300102"),
      h(critical),
      tlv(0x04, tlv(0x04, h("0102030405060708"))),
    );
  /** The outer SEQUENCE's length in long form (81 43 for 43), or indefinite (80 … 00 00). */
  const longForm = (der: Uint8Array) =>
    concat(h(`30 81 ${toHex(der.subarray(1, 2))}`), der.subarray(2));
  const indefinite = (der: Uint8Array) => concat(concat(h("3080"), der.subarray(2)), h("0000"));

  it("the builder reproduces openssl's request byte for byte (so each row changes one thing)", () => {
    expect(toHex(request())).toBe(toHex(good));
  });

  it.each([
    [
      "a serial with a leading 00 (00 10 01)",
      () => request({ serial: serial("001001") }),
      /serialNumber INTEGER 001001 is not minimally encoded: a leading 00/,
    ],
    [
      "a serial with a leading 00 before a 00 (00 00 80)",
      () => request({ serial: serial("000080") }),
      /serialNumber INTEGER 000080 is not minimally encoded/,
    ],
    [
      "a serial that is only 00 00",
      () => request({ serial: serial("0000") }),
      /serialNumber INTEGER 0000 is not minimally encoded/,
    ],
    [
      "a serial with a leading FF (FF 80)",
      () => request({ serial: serial("ff80") }),
      /serialNumber INTEGER ff80 is not minimally encoded: a leading ff/,
    ],
    [
      "an empty serial INTEGER (02 00)",
      () => request({ serial: h("0200") }),
      /serialNumber INTEGER has no content octets/,
    ],
    [
      "a long-form length where the short form suffices (30 81 43)",
      () => longForm(good),
      /non-minimal length is not DER/,
    ],
    [
      "a long-form length on the serial INTEGER (02 81 02)",
      () => request({ serial: h("028102 1001") }),
      /non-minimal length is not DER/,
    ],
    ["an indefinite length on the request", () => indefinite(good), /indefinite length is not DER/],
    [
      "the DEFAULT version v1 encoded explicitly ([0] INTEGER 0)",
      () => request({ version: h("a003 020100") }),
      /^not DER: \[0\] at byte 4 \(a003020100\) is not in its DER re-encoding, .*\(a DEFAULT value encoded\?\)$/,
    ],
    [
      "the version INTEGER 0 in two octets",
      () => request({ version: h("a004 02020000") }),
      /^not DER: \[0\] at byte 4 \(a00402020000\) is not in its DER re-encoding/,
    ],
    [
      "a nonce extension with critical FALSE encoded explicitly",
      () => request({ ext: nonce("010100") }),
      /^not DER: BOOLEAN at byte 86 \(010100\) is not in its DER re-encoding/,
    ],
    [
      "a nonce extension with critical TRUE as 01, not FF",
      () => request({ ext: nonce("010101") }),
      /^not DER: BOOLEAN at byte 86 \(010101\) is 0101ff in DER$/,
    ],
    [
      "a hash OID with a padded subidentifier (2b 0e 80 03 02 1a)",
      () => request({ hash: h("06062b0e8003021a") }),
      /^not DER: OBJECT IDENTIFIER at byte 12 \(06062b0e8003021a\) is 06052b0e03021a in DER$/,
    ],
  ] as const)("%s → malformed, with the reason", (_, der, detail) => {
    const bytes = der();
    for (const result of [
      decodeRequest(bytes),
      decodeGetPath(`/${encodeURIComponent(toBase64(bytes))}`),
    ]) {
      expect(result).toMatchObject({
        ok: false,
        error: { kind: "malformed", detail: expect.stringMatching(detail) },
      });
    }
  });

  // RFC 5280 §4.1.2.2 wants serials positive, but CAs have issued certificates with negative and
  // zero serials, and a client asking about one must still get the CA's answer: any sign is
  // accepted, in its shortest form.
  it.each([
    ["the rsa-delegated-good serial (10 01)", "1001"],
    ["a leading 00 that the sign needs (00 80)", "0080"],
    ["a leading 00 before FF (00 ff 01)", "00ff01"],
    ["zero (00)", "00"],
    ["a negative serial (80 01)", "8001"],
    ["a negative serial with a leading FF that the sign needs (ff 10)", "ff10"],
    ["minus one (ff)", "ff"],
    ["a 20-octet serial", "4a" + "11".repeat(19)],
  ])("a minimally encoded serial decodes: %s", (_, octets) => {
    const bytes = request({ serial: serial(octets) });
    for (const result of [decodeRequest(bytes), decodeGetPath(`/${toBase64(bytes)}`)]) {
      expect(result.ok && toHex(result.value.certIds[0]!.serialNumber)).toBe(octets);
    }
  });

  it("every request in the fixtures and the third-party vectors still decodes", () => {
    const paths = [
      ...fixturePaths().filter((p) => p.startsWith("requests/")),
      ...vectorPaths().filter((p) => p.endsWith("-req.der")),
    ];
    expect(paths.length).toBeGreaterThanOrEqual(52);
    const refused = paths.flatMap((p) => {
      const r = decodeRequest(p.startsWith("requests/") ? fixture(p) : vector(p));
      return r.ok ? [] : [`${p}: ${r.error.detail}`];
    });
    expect(refused).toEqual([]);
  });
});

describe("what the relay's endpoint asks of a request beyond RFC 6960", () => {
  const id = () => decoded(fixture("requests/rsa-delegated-good.der")).certIds[0]!;
  const certId = () =>
    tlv(
      0x30,
      tlv(0x30, fromHex("06052b0e03021a")!, fromHex("0500")!),
      tlv(0x04, id().issuerNameHash),
      tlv(0x04, id().issuerKeyHash),
      tlv(0x02, id().serialNumber),
    );

  it("{ single }: more than one CertID is refused first, before the DER re-encoding", () => {
    // Two CertIDs, and the DEFAULT version encoded (not DER): the count is what is reported.
    const version = fromHex("a003020100")!;
    const two = tlv(0x30, tlv(0x30, version, tlv(0x30, tlv(0x30, certId()), tlv(0x30, certId()))));
    expect(decodeRequest(two, { single: true })).toMatchObject({
      ok: false,
      error: { kind: "malformed", detail: "request asks about 2 certificates; send one" },
    });
    expect(decodeRequest(two)).toMatchObject({ ok: false, error: { kind: "malformed" } });
    expect(String((decodeRequest(two) as { error: { detail: string } }).error.detail)).toMatch(
      /^not DER/,
    );
  });

  it("counts the request's extensions (a nonce is one; nginx sends none)", async () => {
    const one = await certIdFor(rsaCa(), leafGood());
    expect(decodeRequest(encodeRequest(one), { single: true })).toMatchObject({
      ok: true,
      value: { extensions: 0, nonce: undefined },
    });
    expect(decodeRequest(encodeRequest(one, new Uint8Array([1, 2, 3])))).toMatchObject({
      ok: true,
      value: { extensions: 1 },
    });
  });
});

describe("encodeRequest", () => {
  it("is byte for byte openssl's request (openssl ocsp -no_nonce)", async () => {
    const openssl = fixture("requests/rsa-delegated-good.der");
    const ours = encodeRequest(await certIdFor(rsaCa(), leafGood()));
    expect(toHex(ours)).toBe(toHex(openssl));
  });

  it("is byte for byte openssl's SHA-256 request", async () => {
    const openssl = fixture("requests/rsa-delegated-sha256.der");
    const ours = encodeRequest(await certIdFor(rsaCa(), leafGood(), "SHA-256"));
    expect(toHex(ours)).toBe(toHex(openssl));
  });

  const nonces: [string, Uint8Array | undefined][] = [
    ["no nonce", undefined],
    ["a 1-byte nonce", new Uint8Array([0x2a])],
    ["a 16-byte nonce", new Uint8Array(16).map((_, i) => i * 17)],
    ["a 32-byte nonce", new Uint8Array(32).fill(0xff)],
  ];
  it.each(HASH_NAMES.flatMap((hash) => nonces.map(([n, nonce]) => [hash, n, nonce] as const)))(
    "round-trips through decodeRequest: %s CertID, %s",
    async (hash, _, nonce) => {
      const id = await certIdFor(rsaCa(), leafGood(), hash);
      const der = encodeRequest(id, nonce);
      const back = decodeRequest(der);
      expect(back).toMatchObject({ ok: true });
      if (!back.ok) return;
      expect(back.value.certIds).toEqual([id]);
      expect(back.value.certIds[0]!.hashName).toBe(hash);
      expect(back.value.nonce && toHex(back.value.nonce)).toBe(nonce && toHex(nonce));
      expect(back.value.signed).toBe(false);
      expect(toHex(back.value.der)).toBe(toHex(der));
    },
  );

  it("round-trips serials with a leading 00 and a 20-byte serial", async () => {
    for (const hex of ["00", "0080", "7f", "00ff01", "4a" + "11".repeat(19)]) {
      const id = await certIdFor(rsaCa(), { serialNumber: fromHex(hex)! });
      const back = decodeRequest(encodeRequest(id));
      expect(back.ok && toHex(back.value.certIds[0]!.serialNumber), hex).toBe(hex);
    }
  });

  it("refuses a serial longer than MAX_SERIAL_OCTETS (64) as malformed, GET and POST alike; 64 passes", async () => {
    expect(MAX_SERIAL_OCTETS).toBe(64);
    const ok64 = encodeRequest(
      await certIdFor(rsaCa(), { serialNumber: fromHex("4a" + "11".repeat(63))! }),
    );
    expect(decodeRequest(ok64).ok).toBe(true);
    const long = encodeRequest(
      await certIdFor(rsaCa(), { serialNumber: fromHex("4a" + "11".repeat(64))! }),
    );
    for (const result of [
      decodeRequest(long),
      decodeGetPath("/" + encodeURIComponent(toBase64(long))),
    ]) {
      expect(result.ok).toBe(false);
      if (!result.ok) {
        expect(result.error.kind).toBe("malformed");
        expect(result.error.detail).toContain("65 octets exceeds 64");
      }
    }
  });

  it("encodes the serial it was given even when it is a view into a larger buffer (a Node Buffer)", async () => {
    const pool = new Uint8Array(8192).fill(0x33);
    pool.set([0x10, 0x02], 100);
    const id = await certIdFor(rsaCa(), { serialNumber: pool.subarray(100, 102) });
    const back = decodeRequest(encodeRequest(id));
    expect(back.ok && toHex(back.value.certIds[0]!.serialNumber)).toBe("1002");
  });

  // RFC 8954 §2.1 (and RFC 6960 §4.4.1): the nonce extension's extnValue holds the DER of
  // `Nonce ::= OCTET STRING`, as OpenSSL and RustCrypto send it. See the report: encodeRequest puts
  // the bare nonce in extnValue and decodeRequest hands back the inner OCTET STRING's header too.
  it("reads and writes the nonce as RFC 8954 §2.1 encodes it", () => {
    const standard = decodeRequest(vector("rustcrypto/ocsp-multiple-requests-nonce-req.der"));
    expect(standard.ok && toHex(standard.value.nonce!)).toBe(
      "27e51b16c355c29c18b686987041a1d972c4c17ae1f6250fcdea5fcd7ae81677",
    );
    const nonce = new Uint8Array(16).fill(0xab);
    const der = encodeRequest(
      decoded(fixture("requests/rsa-delegated-good.der")).certIds[0]!,
      nonce,
    );
    // ... Extension { extnID id-pkix-ocsp-nonce, extnValue OCTET STRING { OCTET STRING nonce } }
    expect(toHex(der)).toContain(
      `06092b0601050507300102041204 10${toHex(nonce)}`.replace(/ /g, ""),
    );
  });
});

describe("certIdKey", () => {
  it("is the same for the CertID from openssl's request, from the certificates and from GET", async () => {
    const der = fixture("requests/rsa-delegated-good.der");
    const fromDer = certIdKey(decoded(der).certIds[0]!);
    const fromCerts = certIdKey(await certIdFor(rsaCa(), leafGood()));
    const get = decodeGetPath(`/${encodeURIComponent(toBase64(der))}`);
    expect(fromCerts).toBe(fromDer);
    expect(get.ok && certIdKey(get.value.certIds[0]!)).toBe(fromDer);
    expect(certIdKey(await certIdFor(rsaCa(), leafGood()))).toBe(fromCerts);
  });

  it("is `<hash>:<issuerNameHash>:<issuerKeyHash>:<serial>` in lowercase hex", async () => {
    const id = await certIdFor(rsaCa(), leafGood());
    expect(certIdKey(id)).toBe(
      `SHA-1:${toHex(id.issuerNameHash)}:${toHex(id.issuerKeyHash)}:${toHex(leafGood().serialNumber)}`,
    );
    expect(certIdKey(id)).toMatch(/^SHA-1:[0-9a-f]{40}:[0-9a-f]{40}:[0-9a-f]+$/);
  });

  it("tells hash algorithms, serials and issuers apart", async () => {
    const keys = new Set<string>();
    const ids: CertId[] = [];
    for (const hash of HASH_NAMES) {
      ids.push(await certIdFor(rsaCa(), leafGood(), hash));
      ids.push(await certIdFor(rsaCa(), leafRevoked(), hash));
      ids.push(await certIdFor(certificate(fixture("pki/ec-ca.pem")), leafGood(), hash));
    }
    for (const id of ids) keys.add(certIdKey(id));
    expect(keys.size).toBe(ids.length);
  });

  it("tells a serial with a leading 00 from the same digits without it (exact INTEGER octets)", async () => {
    const a = await certIdFor(rsaCa(), { serialNumber: fromHex("0080")! });
    const b = await certIdFor(rsaCa(), { serialNumber: fromHex("80")! });
    expect(certIdKey(a)).not.toBe(certIdKey(b));
  });

  it("names an unsupported hash by its OID", () => {
    const r = decodeRequest(vector("rustcrypto/sha224-certid-ocsp-req.der"));
    expect(r.ok && certIdKey(r.value.certIds[0]!)).toMatch(/^2\.16\.840\.1\.101\.3\.4\.2\.4:/);
  });

  it("is the same whether the hash AlgorithmIdentifier has NULL parameters or none", () => {
    const id = decoded(fixture("requests/rsa-delegated-good.der")).certIds[0]!;
    const sha1 = fromHex("06052b0e03021a")!;
    const certIdNoParams = tlv(
      0x30,
      tlv(0x30, sha1),
      tlv(0x04, id.issuerNameHash),
      tlv(0x04, id.issuerKeyHash),
      tlv(0x02, id.serialNumber),
    );
    const der = tlv(0x30, tlv(0x30, tlv(0x30, tlv(0x30, certIdNoParams))));
    const r = decodeRequest(der);
    expect(r.ok && certIdKey(r.value.certIds[0]!)).toBe(certIdKey(id));
  });
});
