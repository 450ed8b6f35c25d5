// PEM certificates (RFC 7468 §2, as parsePemCertificates reads them): the same certificates and the
// same errors as the regex it replaced, in one forward scan (issue 16: a lazy regex searched to the
// end of the text again from every BEGIN line without an END, quadratic on hostile /check bodies).

import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { err, malformed, ok, type Result } from "../../src/errors.ts";
import { fromBase64, toBase64, toHex } from "../../src/ocsp/bytes.ts";
import {
  parseCertificate,
  parsePemCertificates,
  type CertificateFacts,
} from "../../src/ocsp/certificate.ts";
import { certificate, fixture, fixturePaths, text, vector, vectorPaths } from "../support/files.ts";

const BEGIN = "-----BEGIN CERTIFICATE-----";
const END = "-----END CERTIFICATE-----";
const KiB64 = 64 * 1024;

/** parsePemCertificates as it was before issue 16, verbatim: the reference for its results. */
function regexParse(text: string): Result<CertificateFacts[]> {
  const blocks = [
    ...text.matchAll(/-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g),
  ];
  if (blocks.length === 0) return malformed("no PEM CERTIFICATE block found");
  const certs: CertificateFacts[] = [];
  for (const [i, block] of blocks.entries()) {
    const der = fromBase64((block[1] ?? "").replace(/\s+/g, ""));
    if (!der) return malformed(`PEM block ${i + 1} is not valid base64`);
    const cert = parseCertificate(der);
    if (!cert.ok)
      return err({ kind: "malformed", detail: `certificate ${i + 1}: ${cert.error.detail}` });
    certs.push(cert.value);
  }
  return ok(certs);
}

/** What a caller sees: the certificates' DER, or the error. */
function seen(r: Result<CertificateFacts[]>): string {
  return r.ok
    ? `ok: ${r.value.map((c) => toHex(c.der)).join(" ")}`
    : `${r.error.kind}: ${r.error.detail}`;
}

const pemFiles = () => [
  ...fixturePaths()
    .filter((p) => p.startsWith("pki/") && /\.(pem|key)$/.test(p))
    .map((p) => [p, text(fixture(p))] as const),
  ...vectorPaths()
    .filter((p) => p.endsWith(".pem"))
    .map((p) => [p, text(vector(p))] as const),
];
const leafPem = () => text(fixture("pki/leaf-rsa-good.pem"));
const chainPem = () => text(fixture("pki/rsa-ca-chain.pem"));
/** The leaf's DER in base64, cut to whole 3-byte groups so that copies join up. */
const leafBase64 = () => {
  const der = certificate(fixture("pki/leaf-rsa-good.pem")).der;
  return toBase64(der.subarray(0, der.length - (der.length % 3)));
};
const leafBody = () =>
  leafPem().slice(leafPem().indexOf(BEGIN) + BEGIN.length, leafPem().indexOf(END));
/** `unit` repeated to exactly 64 KiB. */
const fill = (unit: string) => unit.repeat(Math.ceil(KiB64 / unit.length)).slice(0, KiB64);

describe("parsePemCertificates reads what the regex read", () => {
  it("every PEM file of the fixtures and the vectors (certificates, chains, keys), LF and CRLF", () => {
    const files = pemFiles();
    expect(files.length).toBeGreaterThanOrEqual(80);
    for (const [path, pem] of files) {
      expect(seen(parsePemCertificates(pem)), path).toBe(seen(regexParse(pem)));
      const crlf = pem.replace(/\r?\n/g, "\r\n");
      expect(seen(parsePemCertificates(crlf)), `${path}, CRLF`).toBe(seen(regexParse(crlf)));
    }
  });

  it("all of them concatenated, in order", () => {
    const all = pemFiles()
      .map(([, pem]) => pem)
      .join("");
    const r = parsePemCertificates(all);
    expect(r.ok && r.value.length).toBeGreaterThan(60);
    expect(seen(r)).toBe(seen(regexParse(all)));
  });

  it.each([
    ["nothing", () => "", /^malformed: no PEM CERTIFICATE block found$/],
    ["a BEGIN line alone", () => `${BEGIN}\n`, /^malformed: no PEM CERTIFICATE block found$/],
    ["an END line alone", () => `${END}\n`, /^malformed: no PEM CERTIFICATE block found$/],
    ["END, then BEGIN", () => `${END}\n${BEGIN}\n`, /^malformed: no PEM CERTIFICATE block found$/],
    [
      "markers one dash short",
      () => `${BEGIN.slice(1)}${leafBody()}${END.slice(0, -1)}`,
      /^malformed: no PEM/,
    ],
    [
      "BEGIN and END sharing their dashes",
      () => `${BEGIN.slice(0, -5)}${END}`,
      /^malformed: no PEM/,
    ],
    [
      "BEGIN directly followed by END",
      () => `${BEGIN}${END}`,
      /^malformed: certificate 1: empty input$/,
    ],
    ["a leaf", leafPem, /^ok: 30\w+$/],
    ["a chain of two", chainPem, /^ok: 30\w+ 30\w+$/],
    ["a stray END before a leaf", () => `${END}\n${leafPem()}`, /^ok: 30\w+$/],
    [
      "two blocks with nothing between END and BEGIN",
      () => leafPem().trim() + leafPem().trim(),
      /^ok: 30\w+ 30\w+$/,
    ],
    [
      "a leaf, then a BEGIN that never ends",
      () => `${leafPem()}${BEGIN}\n${leafBody()}`,
      /^ok: 30\w+$/,
    ],
    [
      "a leaf inside another block's BEGIN",
      () => `${BEGIN}\n${leafPem()}`,
      /^malformed: PEM block 1 is not valid base64$/,
    ],
    [
      "a body of tabs, spaces and CRLF",
      () => `${BEGIN}${leafBody().replace(/\n/g, " \t\r\n")}${END}`,
      /^ok: 30\w+$/,
    ],
    [
      "a body that is not base64",
      () => `${BEGIN}\n*${leafBody()}${END}`,
      /^malformed: PEM block 1 is not valid base64$/,
    ],
    [
      "a second block of zeros",
      () => `${leafPem()}${BEGIN}\nAAAA\n${END}\n`,
      /^malformed: certificate 2: /,
    ],
    [
      "a CRL block, then a leaf",
      () => `-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n${leafPem()}`,
      /^ok: 30\w+$/,
    ],
  ])("%s", (_, input, want) => {
    const pem = input();
    const got = seen(parsePemCertificates(pem));
    expect(got).toMatch(want);
    expect(got).toBe(seen(regexParse(pem)));
  });

  // Any text made of markers, base64, whitespace and noise.
  const token = fc.oneof(
    fc.constantFrom(
      BEGIN,
      END,
      `${BEGIN}\n`,
      `\n${END}\n`,
      "\n",
      "\r\n",
      " ",
      "-----",
      "A",
      "AAAA",
    ),
    fc.constantFrom("-----BEGIN X509 CRL-----", "-----END X509 CRL-----", BEGIN.slice(0, 12)),
    fc.constant(null).map(() => leafBody()),
    fc.string({ maxLength: 8 }),
  );
  test.prop([fc.array(token, { maxLength: 24 })], { numRuns: 300 })(
    "random texts of markers, bodies and noise",
    (tokens) => {
      const pem = tokens.join("");
      expect(seen(parsePemCertificates(pem))).toBe(seen(regexParse(pem)));
    },
  );
});

// Not a timing test: each 64 KiB input (the /check body cap) must give its error; the times of the
// old regex and of the scan are printed for the record, not compared.
describe("parsePemCertificates on 64 KiB of hostile text", () => {
  const cases: [string, () => string, RegExp][] = [
    ["BEGIN lines", () => fill(`${BEGIN}\n`), /^malformed: no PEM CERTIFICATE block found$/],
    [
      "unterminated blocks (a BEGIN line, a base64 line)",
      () => fill(`${BEGIN}\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA${"A".repeat(20)}\n`),
      /^malformed: no PEM CERTIFICATE block found$/,
    ],
    [
      "a chain, then BEGIN lines",
      () => chainPem() + fill(`${BEGIN}\n`).slice(chainPem().length),
      /^ok: 30\w+ 30\w+$/,
    ],
    [
      "BEGIN lines, one END at the end",
      () => fill(`${BEGIN}\n`).slice(0, KiB64 - END.length) + END,
      /^malformed: PEM block 1 is not valid base64$/,
    ],
    [
      "one block with a base64 body of zeros",
      () =>
        `${BEGIN}\n${fill(`${"A".repeat(64)}\n`).slice(0, KiB64 - BEGIN.length - END.length - 3)}\n${END}\n`,
      /^malformed: certificate 1: \d+ trailing bytes after the DER element$/,
    ],
    [
      "one block whose body is not base64",
      () =>
        `${BEGIN}\n${fill(`${"!".repeat(64)}\n`).slice(0, KiB64 - BEGIN.length - END.length - 3)}\n${END}\n`,
      /^malformed: PEM block 1 is not valid base64$/,
    ],
    [
      "one block with a certificate's base64 over and over",
      () => `${BEGIN}${fill(leafBase64()).slice(0, KiB64 - BEGIN.length - END.length)}${END}`,
      /^malformed: certificate 1: /,
    ],
    ["tiny blocks of zeros", () => fill(`${BEGIN}\nAAAA\n${END}\n`), /^malformed: certificate 1: /],
    ["END lines", () => fill(`${END}\n`), /^malformed: no PEM CERTIFICATE block found$/],
    [
      "whole certificates",
      () => leafPem().repeat(Math.floor(KiB64 / leafPem().length)),
      new RegExp(`^ok: (30\\w+ ){${Math.floor(KiB64 / leafPem().length) - 1}}30\\w+$`),
    ],
  ];

  it.each(cases)("%s", (name, input, want) => {
    const pem = input();
    expect(pem.length).toBeLessThanOrEqual(KiB64);
    expect(pem.length).toBeGreaterThan(KiB64 - 2_000);
    const time = (parse: (t: string) => Result<CertificateFacts[]>) => {
      const start = performance.now();
      let r = parse(pem);
      for (let i = 1; i < 5; i++) r = parse(pem);
      return { r, ms: ((performance.now() - start) / 5).toFixed(1) };
    };
    const before = time(regexParse);
    const after = time(parsePemCertificates);
    console.log(`PEM, 64 KiB of ${name}: regex ${before.ms} ms, scan ${after.ms} ms`);
    expect(seen(after.r)).toMatch(want);
    expect(seen(after.r)).toBe(seen(before.r));
  });
});
