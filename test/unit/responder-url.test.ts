// Which responder URLs the relay will fetch (no open proxy, no SSRF): checkResponderUrl on the URL
// as the WHATWG parser in workerd normalizes it.

import { describe, expect, it } from "vitest";
import {
  SPECIAL_PURPOSE_RANGES,
  checkResponderUrl,
  isInternalHost,
} from "../../src/issuers/responder-url.ts";

describe("checkResponderUrl accepts public http and https responders", () => {
  it.each([
    ["http://ocsp.digicert.com", "http://ocsp.digicert.com/"],
    ["http://r3.o.lencr.org/", "http://r3.o.lencr.org/"],
    ["https://ocsp.sectigo.com/", "https://ocsp.sectigo.com/"],
    ["http://ocsp.example.com:8080/ocsp/", "http://ocsp.example.com:8080/ocsp/"],
    ["HTTP://OCSP.Example.COM/Path", "http://ocsp.example.com/Path"],
    ["http://ocsp.example.com/?q=1", "http://ocsp.example.com/?q=1"],
    ["http://8.8.8.8/", "http://8.8.8.8/"],
    ["http://1.1.1.1:80/", "http://1.1.1.1/"],
    ["http://172.32.0.1/", "http://172.32.0.1/"],
    ["http://100.128.0.1/", "http://100.128.0.1/"],
    ["http://[2606:4700::1111]/", "http://[2606:4700::1111]/"],
  ])("%s → ok, %s", (raw, url) => {
    expect(checkResponderUrl(raw, false)).toEqual({ ok: true, url });
  });
});

describe("checkResponderUrl refuses what is not a public http(s) responder", () => {
  it.each([
    ["not a URL", "ocsp.example.com"],
    ["an empty string", ""],
    ["ftp:", "ftp://ocsp.example.com/"],
    ["file:", "file:///etc/passwd"],
    ["javascript:", "javascript:alert(1)"],
    ["data:", "data:application/ocsp-response;base64,MAMKAQE="],
    ["ws:", "ws://ocsp.example.com/"],
    ["userinfo (user and password)", "http://user:pass@ocsp.example.com/"],
    ["userinfo (user only)", "http://user@ocsp.example.com/"],
    ["userinfo hiding the real host", "http://ocsp.example.com@127.0.0.1/"],
    ["a fragment", "http://ocsp.example.com/#x"],
  ])("%s (%s)", (_, raw) => {
    const r = checkResponderUrl(raw, false);
    expect(r).toMatchObject({ ok: false });
    expect(r.ok || r.detail.length).toBeGreaterThan(0);
    // allowPrivate opens internal hosts only, never other schemes or credentials.
    expect(checkResponderUrl(raw, true)).toMatchObject({ ok: false });
  });
});

describe("checkResponderUrl refuses internal hosts unless allowPrivate", () => {
  // [written, host the WHATWG parser makes of it]
  const INTERNAL: [string, string][] = [
    ["http://localhost/", "localhost"],
    ["http://LOCALHOST:8888/", "localhost"],
    ["http://localhost./", "localhost."],
    ["http://ocsp.localhost/", "ocsp.localhost"],
    ["http://127.0.0.1/", "127.0.0.1"],
    ["http://127.1.2.3:8888/", "127.1.2.3"],
    ["http://[::1]/", "[::1]"],
    ["http://[0:0:0:0:0:0:0:1]/", "[::1]"],
    ["http://[::]/", "[::]"],
    ["http://10.0.0.1/", "10.0.0.1"],
    ["http://10.255.255.255/", "10.255.255.255"],
    ["http://172.16.0.1/", "172.16.0.1"],
    ["http://172.31.255.255/", "172.31.255.255"],
    ["http://192.168.1.1/", "192.168.1.1"],
    ["http://169.254.169.254/latest/meta-data/", "169.254.169.254"],
    ["http://100.64.0.1/", "100.64.0.1"],
    ["http://100.127.255.255/", "100.127.255.255"],
    ["http://0.0.0.0/", "0.0.0.0"],
    ["http://224.0.0.1/", "224.0.0.1"],
    ["http://[fe80::1]/", "[fe80::1]"],
    ["http://[fc00::1]/", "[fc00::1]"],
    ["http://[fd12:3456::1]/", "[fd12:3456::1]"],
    ["http://[::ffff:127.0.0.1]/", "[::ffff:7f00:1]"],
    ["http://[::ffff:10.0.0.1]/", "[::ffff:a00:1]"],
    // Non-dotted and non-decimal IPv4 forms: the WHATWG parser turns them into dotted decimal.
    ["http://2130706433/", "127.0.0.1"],
    ["http://0x7f.0.0.1/", "127.0.0.1"],
    ["http://0x7f000001/", "127.0.0.1"],
    ["http://017700000001/", "127.0.0.1"],
    ["http://0177.0.0.1/", "127.0.0.1"],
    ["http://127.1/", "127.0.0.1"],
    ["http://0/", "0.0.0.0"],
    ["http://0xa9fea9fe/", "169.254.169.254"],
    // Single-label names resolve on the local network.
    ["http://intranet/", "intranet"],
    ["http://ocsp/", "ocsp"],
    ["http://printer.local/", "printer.local"],
    ["http://metadata.google.internal/", "metadata.google.internal"],
  ];

  it.each(INTERNAL)("%s (host %s) → refused", (raw, host) => {
    expect(new URL(raw).host.replace(/:\d+$/, "")).toBe(host);
    const r = checkResponderUrl(raw, false);
    expect(r).toMatchObject({ ok: false });
    expect(r.ok || r.detail).toContain("ALLOW_PRIVATE_RESPONDERS");
  });

  it.each(INTERNAL)("%s → accepted with allowPrivate=true", (raw) => {
    expect(checkResponderUrl(raw, true)).toEqual({ ok: true, url: new URL(raw).toString() });
  });

  // The security review of issue 16 (item 6): each of these was accepted as a public responder.
  const REVIEW: [string, string][] = [
    ["http://127.0.0.1..:8080/", "127.0.0.1.."],
    ["http://localhost../", "localhost.."],
    ["http://[fec0::1]/", "[fec0::1]"],
    ["http://[2002:7f00:1::]/", "[2002:7f00:1::]"],
    ["http://192.0.0.170/", "192.0.0.170"],
    ["http://192.0.2.1/", "192.0.2.1"],
  ];

  it.each(REVIEW)("review reproduction %s (host %s) → refused", (raw, host) => {
    expect(new URL(raw).host.replace(/:\d+$/, "")).toBe(host);
    const r = checkResponderUrl(raw, false);
    expect(r).toMatchObject({ ok: false });
    expect(r.ok || r.detail).toContain("ALLOW_PRIVATE_RESPONDERS");
    expect(checkResponderUrl(raw, true)).toEqual({ ok: true, url: new URL(raw).toString() });
  });

  it("the fixture leaves' responder URL (http://127.0.0.1:8888/) is a local setup", () => {
    expect(checkResponderUrl("http://127.0.0.1:8888/", false)).toMatchObject({ ok: false });
    expect(checkResponderUrl("http://127.0.0.1:8888/", true)).toEqual({
      ok: true,
      url: "http://127.0.0.1:8888/",
    });
  });
});

// The test's own reading of the table, independent of the module's parser: a CIDR block as the
// first and last address it holds, as BigInts.
type Span = { family: 4 | 6; first: bigint; last: bigint };

function addressValue(text: string): { family: 4 | 6; value: bigint } {
  if (!text.includes(":")) {
    const value = text.split(".").reduce((v, octet) => (v << 8n) | BigInt(octet), 0n);
    return { family: 4, value };
  }
  const [head = "", tail] = text.split("::");
  const groupsOf = (t: string | undefined) => (t ? t.split(":") : []);
  const given = [...groupsOf(head), ...groupsOf(tail)];
  const groups =
    tail === undefined
      ? given
      : [...groupsOf(head), ...Array<string>(8 - given.length).fill("0"), ...groupsOf(tail)];
  expect(groups).toHaveLength(8);
  return { family: 6, value: groups.reduce((v, g) => (v << 16n) | BigInt(`0x${g}`), 0n) };
}

function spanOf(cidr: string): Span {
  const [text = "", length = ""] = cidr.split("/");
  const { family, value } = addressValue(text);
  const hostBits = BigInt((family === 4 ? 32 : 128) - Number(length));
  const size = 1n << hostBits;
  expect(value % size, `${cidr} has host bits set`).toBe(0n);
  return { family, first: value, last: value + size - 1n };
}

function urlFor(family: 4 | 6, value: bigint): string {
  if (family === 4) {
    const octets = [24n, 16n, 8n, 0n].map((s) => String((value >> s) & 0xffn));
    return `http://${octets.join(".")}/`;
  }
  const groups = [112n, 96n, 80n, 64n, 48n, 32n, 16n, 0n].map((s) =>
    ((value >> s) & 0xffffn).toString(16),
  );
  return `http://[${groups.join(":")}]/`;
}

const SPANS = SPECIAL_PURPOSE_RANGES.map((r) => ({ ...r, ...spanOf(r.cidr) }));
const inTable = (family: 4 | 6, value: bigint) =>
  SPANS.some((s) => s.family === family && s.first <= value && value <= s.last);
const TOP: Record<4 | 6, bigint> = { 4: (1n << 32n) - 1n, 6: (1n << 128n) - 1n };

describe("every special-purpose range is refused from its first address to its last", () => {
  it("the table holds each block once, IPv4 and IPv6", () => {
    const cidrs = SPECIAL_PURPOSE_RANGES.map((r) => r.cidr);
    expect(new Set(cidrs).size).toBe(cidrs.length);
    expect(SPANS.filter((s) => s.family === 4).length).toBeGreaterThan(20);
    expect(SPANS.filter((s) => s.family === 6).length).toBeGreaterThan(20);
  });

  it.each(SPANS.map((s) => [s.cidr, s.name, s] as const))("%s (%s)", (cidr, _, span) => {
    for (const value of [span.first, span.last]) {
      const raw = urlFor(span.family, value);
      const r = checkResponderUrl(raw, false);
      expect(r, raw).toMatchObject({ ok: false });
      expect(r.ok || r.detail, raw).toContain("ALLOW_PRIVATE_RESPONDERS");
      expect(checkResponderUrl(raw, true), raw).toMatchObject({ ok: true });
    }
    // Just outside, where that address is in no block of the table, is a public address.
    const outside = [span.first - 1n, span.last + 1n].filter(
      (v) => v >= 0n && v <= TOP[span.family] && !inTable(span.family, v),
    );
    for (const value of outside) {
      const raw = urlFor(span.family, value);
      expect(checkResponderUrl(raw, false), `${raw} next to ${cidr}`).toMatchObject({ ok: true });
    }
  });
});

describe("globally reachable blocks of the registries", () => {
  it.each([
    "http://192.31.196.1/", // AS112-v4
    "http://192.52.193.1/", // AMT
    "http://192.175.48.1/", // Direct Delegation AS112 Service
    "http://[2620:4f:8000::1]/", // Direct Delegation AS112 Service
    "http://[2001:200::1]/", // the first address after 2001::/23
  ])("standing alone, %s is accepted", (raw) => {
    expect(checkResponderUrl(raw, false)).toEqual({ ok: true, url: raw });
  });

  it.each([
    ["http://192.0.0.9/", "192.0.0.0/24"], // PCP anycast
    ["http://192.0.0.10/", "192.0.0.0/24"], // TURN anycast
    ["http://[2001:1::1]/", "2001::/23"], // PCP anycast
    ["http://[2001:1::2]/", "2001::/23"], // TURN anycast
    ["http://[2001:1::3]/", "2001::/23"], // DNS-SD SRP anycast
    ["http://[2001:3::1]/", "2001::/23"], // AMT
    ["http://[2001:4:112::1]/", "2001::/23"], // AS112-v6
    ["http://[2001:20::1]/", "2001::/23"], // ORCHIDv2
    ["http://[2001:30::1]/", "2001::/23"], // DETs
    ["http://[64:ff9b::808:808]/", "64:ff9b::/96"], // NAT64 of a public address
  ])("inside a refused block, %s is refused (%s)", (raw, cidr) => {
    const r = checkResponderUrl(raw, false);
    expect(r).toMatchObject({ ok: false });
    expect(r.ok || r.detail).toContain(cidr);
  });
});

describe("IPv6 forms that wrap an IPv4 address are refused whatever they wrap", () => {
  it.each([
    ["http://[::ffff:8.8.8.8]/", "[::ffff:808:808]", "::ffff:0:0/96"],
    ["http://[::127.0.0.1]/", "[::7f00:1]", "::/96"],
    ["http://[::8.8.8.8]/", "[::808:808]", "::/96"],
    ["http://[::ffff:0:127.0.0.1]/", "[::ffff:0:7f00:1]", "::ffff:0:0:0/96"],
    ["http://[64:ff9b::10.0.0.1]/", "[64:ff9b::a00:1]", "64:ff9b::/96"],
    ["http://[64:ff9b:1::a00:1]/", "[64:ff9b:1::a00:1]", "64:ff9b:1::/48"],
    ["http://[2002:7f00:1::]/", "[2002:7f00:1::]", "2002::/16"],
    ["http://[2002:808:808::1]/", "[2002:808:808::1]", "2002::/16"],
    [
      "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/",
      "[2001:0:4136:e378:8000:63bf:3fff:fdd2]",
      "2001::/32",
    ],
  ])("%s (host %s) → refused, %s", (raw, host, cidr) => {
    expect(new URL(raw).hostname).toBe(host);
    const r = checkResponderUrl(raw, false);
    expect(r).toMatchObject({ ok: false });
    expect(r.ok || r.detail).toContain(cidr);
  });
});

describe("names that are other spellings of a local name are refused", () => {
  it.each([
    ["http://localhost./", "localhost.", "ending in a dot"],
    ["http://localhost../", "localhost..", "ending in a dot"],
    ["http://127.0.0.1..:8080/", "127.0.0.1..", "ending in a dot"],
    ["http://example.com./", "example.com.", "ending in a dot"],
    ["http://ocsp.example.com.../", "ocsp.example.com...", "ending in a dot"],
    ["http://printer.local./", "printer.local.", "ending in a dot"],
    ["http://ocsp..example.com/", "ocsp..example.com", "empty label"],
    ["http://.example.com/", ".example.com", "empty label"],
    ["http://.../", "...", "ending in a dot"],
    ["http://a.b.localhost/", "a.b.localhost", "localhost"],
  ])("%s (host %s) → refused, %s", (raw, host, reason) => {
    expect(new URL(raw).hostname).toBe(host);
    const r = checkResponderUrl(raw, false);
    expect(r).toMatchObject({ ok: false });
    expect(r.ok || r.detail).toContain(reason);
    expect(r.ok || r.detail).toContain("ALLOW_PRIVATE_RESPONDERS");
  });
});

describe("isInternalHost on hosts that did not come from the URL parser", () => {
  it.each([
    ["127.0.0.1", true],
    ["127.1", true], // not a dotted quad: fails closed
    ["0x7f.0.0.1", true],
    ["010.0.0.1", true],
    ["::1", true],
    ["[::1]", true],
    ["::ffff:127.0.0.1", true],
    ["[::ffff:127.0.0.1]", true],
    ["0:0:0:0:0:0:0:1", true],
    ["fe80::1%eth0", true], // a zone is not part of a URL host
    ["[1::2::3]", true],
    ["[::g]", true],
    ["[1:2:3:4:5:6:7:8:9]", true],
    ["[]", true],
    ["", true],
    ["LOCALHOST", true],
    ["Intranet", true],
    ["8.8.8.8", false],
    ["2606:4700::1111", false],
    ["[2606:4700::1111]", false],
    ["[2606:4700:0:0:0:0:0:1111]", false],
    ["ocsp.example.com", false],
    ["OCSP.Example.COM", false],
  ] as const)("%s → %s", (host, internal) => {
    expect(isInternalHost(host)).toBe(internal);
  });
});
