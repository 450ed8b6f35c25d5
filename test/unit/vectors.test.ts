// Every file of ../shared/vectors (OpenSSL's ocsp-tests, RustCrypto's x509-ocsp examples) run
// through the protocol core, each with the verdict stated. See the CASES.md beside the vectors.

import { describe, expect, it } from "vitest";
import { fromBase64, toHex } from "../../src/ocsp/bytes.ts";
import { parseCertificate, parsePemCertificates } from "../../src/ocsp/certificate.ts";
import { issuerHashes } from "../../src/ocsp/issuer.ts";
import { certIdFor, decodeRequest, encodeRequest, type CertId } from "../../src/ocsp/request.ts";
import { decodeResponse } from "../../src/ocsp/response.ts";
import { verifyResponse, type RejectReason } from "../../src/ocsp/verify.ts";
import { certificate, text, vector, vectorPaths } from "../support/files.ts";

type Expect =
  | { ok: true; status: "good" | "revoked"; responder: "issuer" | "delegated" }
  | { ok: false; reason: RejectReason };

// ---- OpenSSL: test/recipes/80-test_ocsp.t, cases 1-59 (numbers as in openssl/CASES.md) ----
const SUBJECT_CERT: Record<string, string> = {
  ND1: "ND1_Cert_EE.pem",
  ND2: "ND2_Cert_ICA.pem",
  ND3: "ND3_Cert_EE.pem",
  D1: "D1_Cert_EE.pem",
  D2: "D2_Cert_ICA.pem",
  D3: "D3_Cert_EE.pem",
};
const ISSUER: Record<string, string> = {
  ND1: "ND1_Issuer_ICA.pem",
  ND2: "ND2_Issuer_Root.pem",
  ND3: "ND3_Issuer_Root.pem",
  D1: "D1_Issuer_ICA.pem",
  D2: "D2_Issuer_Root.pem",
  D3: "D3_Issuer_Root.pem",
};
const BASES = ["ND1", "ND2", "ND3", "D1", "D2", "D3"] as const;
const delegated = (b: string) => b.startsWith("D");
const good = (b: string): Expect => ({
  ok: true,
  status: "good",
  responder: delegated(b) ? "delegated" : "issuer",
});

interface OpensslCase {
  cases: string;
  response: string;
  base: (typeof BASES)[number];
  issuer: string;
  expect: Expect;
  why: string;
}

const OPENSSL: OpensslCase[] = [
  ...BASES.map((b, i) => ({
    cases: `${i + 1 + (i >= 3 ? 1 : 0)}`,
    response: b,
    base: b,
    issuer: ISSUER[b]!,
    expect: good(b),
    why: "valid real-world response",
  })),
  // Case 4: ND1 chained to a cross root. The relay trusts the registered issuing CA itself, so
  // the issuer here is the ICA carried in ND1_Issuer_ICA-Cross.pem (its first certificate).
  {
    cases: "4",
    response: "ND1",
    base: "ND1",
    issuer: "ND1_Issuer_ICA-Cross.pem",
    expect: good("ND1"),
    why: "same ICA, cross-signed copy",
  },
  ...BASES.map((b, i) => ({
    cases: `${8 + i}`,
    response: `ISOP_${b}`,
    base: b,
    issuer: ISSUER[b]!,
    expect: { ok: false, reason: "badSignature" } as Expect,
    why: "response signature corrupted",
  })),
  ...BASES.map((b, i) => ({
    cases: `${14 + i}`,
    response: `WRID_${b}`,
    base: b,
    issuer: ISSUER[b]!,
    expect: { ok: false, reason: "unauthorizedSigner" } as Expect,
    why: "responderID names no available certificate",
  })),
  // OpenSSL fails these on the signature too: the CertID was edited after signing.
  ...BASES.map((b, i) => ({
    cases: `${20 + i}`,
    response: `WINH_${b}`,
    base: b,
    issuer: ISSUER[b]!,
    expect: { ok: false, reason: "badSignature" } as Expect,
    why: "issuerNameHash edited after signing",
  })),
  ...BASES.map((b, i) => ({
    cases: `${26 + i}`,
    response: `WIKH_${b}`,
    base: b,
    issuer: ISSUER[b]!,
    expect: { ok: false, reason: "badSignature" } as Expect,
    why: "issuerKeyHash edited after signing",
  })),
  // Wrong key in the delegated signer cert: byKey (D1, D2) finds no signer; byName (D3) finds it and its key fails.
  {
    cases: "32",
    response: "WKDOSC_D1",
    base: "D1",
    issuer: ISSUER.D1!,
    expect: { ok: false, reason: "unauthorizedSigner" },
    why: "byKey names no certificate present",
  },
  {
    cases: "33",
    response: "WKDOSC_D2",
    base: "D2",
    issuer: ISSUER.D2!,
    expect: { ok: false, reason: "unauthorizedSigner" },
    why: "byKey names no certificate present",
  },
  {
    cases: "34",
    response: "WKDOSC_D3",
    base: "D3",
    issuer: ISSUER.D3!,
    expect: { ok: false, reason: "badSignature" },
    why: "byName signer's key does not verify",
  },
  // Cases 35-40: the delegated cert's own signature is broken, so the CA never authorised it
  // (38-40 are the same files with -no_cert_checks, which OpenSSL still rejects).
  ...(["D1", "D2", "D3"] as const).map((b, i) => ({
    cases: `${35 + i},${38 + i}`,
    response: `ISDOSC_${b}`,
    base: b,
    issuer: ISSUER[b]!,
    expect: { ok: false, reason: "unauthorizedSigner" } as Expect,
    why: "responder cert not signed by the CA",
  })),
  // Cases 41-46: the issuer cert has another subject name. Non-delegated: the key signs, but the
  // CertID's issuerNameHash is not this issuer's. Delegated: the signer was issued by another name.
  ...BASES.map((b, i) => ({
    cases: `${41 + i}`,
    response: b,
    base: b,
    issuer: `WSNIC_${ISSUER[b]}`,
    expect: { ok: false, reason: delegated(b) ? "unauthorizedSigner" : "certIdMismatch" } as Expect,
    why: "issuer cert with a wrong subject name",
  })),
  // Cases 47-52: the issuer cert has another key: neither the CA's signature nor the delegation verifies.
  ...BASES.map((b, i) => ({
    cases: `${47 + i}`,
    response: b,
    base: b,
    issuer: `WKIC_${ISSUER[b]}`,
    expect: { ok: false, reason: "unauthorizedSigner" } as Expect,
    why: "issuer cert with a wrong key",
  })),
  // Cases 53-58: the issuer's own signature is broken, but the issuer is the trust anchor.
  ...BASES.map((b, i) => ({
    cases: `${53 + i}`,
    response: b,
    base: b,
    issuer: `ISIC_${ISSUER[b]}`,
    expect: good(b),
    why: "trusted issuer; its own signature is not checked",
  })),
  // Case 59 tests OpenSSL's chain building (an -issuer hint is not a trust anchor). The relay has no
  // chain building: the registered issuer is the anchor, so with the same cert it answers as in 53.
  {
    cases: "59",
    response: "ND1",
    base: "ND1",
    issuer: "ISIC_ND1_Issuer_ICA.pem",
    expect: good("ND1"),
    why: "registered issuer is the anchor (no chain building)",
  },
];

async function checkAt(der: Uint8Array): Promise<Date> {
  const decoded = decodeResponse(der);
  if (decoded.ok && decoded.value.status === "successful" && decoded.value.basic) {
    const t = decoded.value.basic.responses[0]!.thisUpdate;
    return new Date(t.getTime() + 60_000);
  }
  return new Date("2012-10-24T00:00:00Z");
}

describe("OpenSSL ocsp-tests vectors", () => {
  it.each(
    OPENSSL.map((c) => [`case ${c.cases}: ${c.response} with ${c.issuer} (${c.why})`, c] as const),
  )("%s", async (_, c) => {
    const der = vector(`openssl/der/${c.response}.der`);
    const issuer = certificate(vector(`openssl/${c.issuer}`));
    const leaf = certificate(vector(`openssl/${SUBJECT_CERT[c.base]}`));
    const verdict = await verifyResponse({
      response: der,
      issuer,
      certId: await certIdFor(issuer, leaf),
      now: await checkAt(der),
    });
    if (c.expect.ok) {
      expect(verdict).toMatchObject({
        ok: true,
        responder: c.expect.responder,
        certStatus: { status: c.expect.status },
      });
    } else {
      expect(verdict).toMatchObject({ ok: false, reason: c.expect.reason });
    }
  });

  it("the base responses expire at their nextUpdate and are not valid before thisUpdate", async () => {
    for (const b of BASES) {
      const der = vector(`openssl/der/${b}.der`);
      const issuer = certificate(vector(`openssl/${ISSUER[b]}`));
      const certId = await certIdFor(issuer, certificate(vector(`openssl/${SUBJECT_CERT[b]}`)));
      const single = (
        decodeResponse(der) as {
          ok: true;
          value: {
            status: "successful";
            basic: { responses: { thisUpdate: Date; nextUpdate: Date }[] };
          };
        }
      ).value.basic.responses[0]!;
      const at = (now: Date) => verifyResponse({ response: der, issuer, certId, now });
      expect(await at(single.nextUpdate)).toMatchObject({ ok: false, reason: "expired" });
      expect(await at(new Date(single.nextUpdate.getTime() - 1000))).toMatchObject({ ok: true });
      expect(await at(new Date(single.thisUpdate.getTime() - 6 * 60_000))).toMatchObject({
        ok: false,
        reason: "notYetValid",
      });
      expect(await at(new Date(single.thisUpdate.getTime() - 4 * 60_000))).toMatchObject({
        ok: true,
      });
      // A clock of 2026 (these files are from 2012): every one is refused; the delegated ones
      // already at the signer check, their responder certificates having expired too.
      expect(await at(new Date("2026-11-28T00:00:00Z"))).toMatchObject({
        ok: false,
        reason: delegated(b) ? "unauthorizedSigner" : "expired",
      });
    }
  });

  it("each .ors file is the base64 text of its der/ copy", () => {
    const ors = vectorPaths().filter((p) => p.startsWith("openssl/") && p.endsWith(".ors"));
    expect(ors).toHaveLength(36);
    for (const p of ors) {
      const decoded = fromBase64(text(vector(p)).replace(/\s+/g, ""));
      const name = p.slice("openssl/".length, -".ors".length);
      expect(toHex(decoded!), p).toBe(toHex(vector(`openssl/der/${name}.der`)));
    }
  });

  it("the round-trip PKI's certificates parse; its keys are not certificates", () => {
    for (const name of ["root-cert.pem", "intermediate-cert.pem", "server-cert.pem"]) {
      expect(parsePemCertificates(text(vector(`openssl/${name}`))).ok, name).toBe(true);
    }
    expect(certificate(vector("openssl/intermediate-cert.pem")).subjectText).toContain(
      "TestIntermediateCA",
    );
    // ocsp.pem and server.pem hold certificates plus a key: the certificates are read, the key ignored.
    expect(parsePemCertificates(text(vector("openssl/ocsp.pem")))).toMatchObject({
      ok: true,
      value: [{ isCA: true }],
    });
    expect(
      (parsePemCertificates(text(vector("openssl/server.pem"))) as { ok: true; value: unknown[] })
        .value.length,
    ).toBeGreaterThanOrEqual(1);
    for (const name of [
      "root-key.pem",
      "intermediate-key.pem",
      "server-key.pem",
      "intermediate-csr.pem",
      "server-csr.pem",
    ]) {
      expect(parsePemCertificates(text(vector(`openssl/${name}`))), name).toMatchObject({
        ok: false,
        error: { kind: "malformed" },
      });
    }
    // The CA file with two certificates (ICA + cross cert).
    expect(
      (
        parsePemCertificates(text(vector("openssl/ND1_Issuer_ICA-Cross.pem"))) as {
          ok: true;
          value: unknown[];
        }
      ).value,
    ).toHaveLength(2);
  });
});

// ---- RustCrypto x509-ocsp/tests/examples ----
const RC = (name: string) => vector(`rustcrypto/${name}`);

describe("RustCrypto x509-ocsp vectors", () => {
  const ca = () => certificate(RC("rsa-2048-sha256-ca.der"));

  it("the test CA's issuer hashes are those in CASES.md", async () => {
    const h = await issuerHashes(ca());
    expect(h["SHA-1"].keyHash.toUpperCase()).toMatch(/^5DD72C17.*115C$/);
    expect(h["SHA-1"].nameHash.toUpperCase()).toMatch(/^94D418C8.*BB74$/);
    expect(ca().isCA).toBe(true);
    expect(certificate(RC("rsa-2048-sha256-crt.der"))).toMatchObject({
      isCA: false,
      subjectText: "CN=rsa-2048-sha256-crt",
    });
    expect(certificate(RC("rsa-2048-sha256-ocsp-crt.der")).extKeyUsage).toContain(
      "1.3.6.1.5.5.7.3.9",
    );
  });

  it("keys and the CRL are not certificates nor OCSP messages", () => {
    for (const name of [
      "rsa-2048-sha256-ca-key.der",
      "rsa-2048-sha256-crt-key.der",
      "rsa-2048-sha256-ocsp-crt-key.der",
      "rsa-2048-sha256-ca-crl.der",
    ]) {
      expect(parseCertificate(RC(name)).ok, name).toBe(false);
      expect(decodeResponse(RC(name)).ok, name).toBe(false);
      expect(decodeRequest(RC(name)).ok, name).toBe(false);
    }
  });

  it.each([
    ["sha1-certid-ocsp-req.der", 1, ["SHA-1"], false, false],
    ["sha224-certid-ocsp-req.der", 1, [undefined], false, false],
    ["sha256-certid-ocsp-req.der", 1, ["SHA-256"], false, false],
    ["sha384-certid-ocsp-req.der", 1, ["SHA-384"], false, false],
    ["sha512-certid-ocsp-req.der", 1, ["SHA-512"], false, false],
    ["ocsp-multiple-exts-clean-req.der", 1, ["SHA-1"], true, false],
    [
      "ocsp-multiple-requests-req.der",
      8,
      ["SHA-1", undefined, "SHA-256", "SHA-384", "SHA-512", "SHA-1", "SHA-1", "SHA-1"],
      false,
      false,
    ],
    [
      "ocsp-multiple-requests-nonce-req.der",
      8,
      ["SHA-1", undefined, "SHA-256", "SHA-384", "SHA-512", "SHA-1", "SHA-1", "SHA-1"],
      true,
      false,
    ],
    ["ocsp-signed-req.der", 1, ["SHA-1"], false, true],
  ] as const)("request %s: %i CertIDs", (name, count, hashes, nonce, signed) => {
    const r = decodeRequest(RC(name));
    if (!r.ok) throw new Error(r.error.detail);
    expect(r.value.certIds).toHaveLength(count);
    expect(r.value.certIds.map((c) => c.hashName)).toEqual(hashes);
    expect(toHex(r.value.certIds[0]!.serialNumber)).toBe("010001");
    expect(r.value.nonce !== undefined).toBe(nonce);
    expect(r.value.signed).toBe(signed);
  });

  it("encodes the SHA-1 request byte for byte as RustCrypto's builder does", async () => {
    const id = await certIdFor(ca(), { serialNumber: new Uint8Array([1, 0, 1]) });
    expect(toHex(encodeRequest(id))).toBe(toHex(RC("sha1-certid-ocsp-req.der")));
  });

  // The CA signed these but the responderID names the delegated cert, which is not included:
  // no certificate the responderID names is available (OpenSSL: "signer certificate not found").
  it.each([
    ["sha1-certid-ocsp-res.der", "sha1-certid-ocsp-req.der"],
    ["sha256-certid-ocsp-res.der", "sha256-certid-ocsp-req.der"],
    ["sha512-certid-ocsp-res.der", "sha512-certid-ocsp-req.der"],
    ["ocsp-multiple-exts-res.der", "sha1-certid-ocsp-req.der"],
    ["ocsp-multiple-responses-res.der", "sha1-certid-ocsp-req.der"],
    ["ocsp-dtm-no-chain-res.der", "sha1-certid-ocsp-req.der"],
    ["ocsp-by-key-res.der", "sha1-certid-ocsp-req.der"],
  ])("%s is rejected: unauthorizedSigner", async (res, req) => {
    const certId = (decodeRequest(RC(req)) as { ok: true; value: { certIds: CertId[] } }).value
      .certIds[0]!;
    const verdict = await verifyResponse({
      response: RC(res),
      issuer: ca(),
      certId,
      now: new Date("2020-01-01T00:00:00Z"),
    });
    expect(verdict).toMatchObject({ ok: false, reason: "unauthorizedSigner" });
  });

  it("ocsp-multiple-responses-res.der answers all 8 CertIDs of its request", () => {
    const res = decodeResponse(RC("ocsp-multiple-responses-res.der"));
    const req = decodeRequest(RC("ocsp-multiple-requests-req.der"));
    if (!res.ok || res.value.status !== "successful" || !req.ok) throw new Error("decode");
    expect(res.value.basic!.responses.map((r) => toHex(r.certId.serialNumber))).toEqual(
      req.value.certIds.map((c) => toHex(c.serialNumber)),
    );
  });

  it("rsa-2048-sha256-revoked-ocsp-res.der: revoked, by the delegated responder, inside its window", async () => {
    const certId = await certIdFor(ca(), { serialNumber: new Uint8Array([3]) });
    const at = (iso: string) =>
      verifyResponse({
        response: RC("rsa-2048-sha256-revoked-ocsp-res.der"),
        issuer: ca(),
        certId,
        now: new Date(iso),
      });
    const v = await at("2024-01-01T00:00:00Z");
    expect(v).toMatchObject({
      ok: true,
      responder: "delegated",
      certStatus: { status: "revoked", revocationReason: undefined },
    });
    expect(
      v.ok && v.certStatus.status === "revoked" && v.certStatus.revocationTime.toISOString(),
    ).toBe("2023-11-05T01:09:45.000Z");
    // After the responder cert expired (2024-11-04) the delegation no longer holds; so does nextUpdate.
    expect(await at("2024-11-05T00:00:00Z")).toMatchObject({ ok: false });
  });

  it("DODEMAILCA_63-resp.der: 20 answers, 0x7AB92 revoked (superseded); its CA is not here, so no other CA accepts it", async () => {
    const res = decodeResponse(RC("DODEMAILCA_63-resp.der"));
    if (!res.ok || res.value.status !== "successful") throw new Error("decode");
    const responses = res.value.basic!.responses;
    expect(responses).toHaveLength(20);
    expect(responses.filter((r) => r.certStatus.status === "revoked")).toHaveLength(8);
    const target = responses.find((r) => toHex(r.certId.serialNumber) === "07ab92");
    expect(target?.certStatus).toMatchObject({ status: "revoked", revocationReason: "superseded" });
    const verdict = await verifyResponse({
      response: RC("DODEMAILCA_63-resp.der"),
      issuer: ca(),
      certId: target!.certId,
      now: new Date("2023-11-08T00:00:00Z"),
    });
    expect(verdict).toMatchObject({ ok: false, reason: "unauthorizedSigner" });
  });

  it.each([
    ["ocsp-malformed.der", "malformedRequest"],
    ["ocsp-internal-error.der", "internalError"],
    ["ocsp-try-later.der", "tryLater"],
    ["ocsp-sig-required.der", "sigRequired"],
    ["ocsp-unauthorized.der", "unauthorized"],
  ])("%s: status %s, rejected as unsuccessfulStatus", async (name, status) => {
    expect(decodeResponse(RC(name))).toMatchObject({ ok: true, value: { status } });
    const certId = await certIdFor(ca(), { serialNumber: new Uint8Array([1, 0, 1]) });
    expect(
      await verifyResponse({ response: RC(name), issuer: ca(), certId, now: new Date() }),
    ).toMatchObject({ ok: false, reason: "unsuccessfulStatus" });
  });
});

describe("every vector file has a stated verdict", () => {
  it("no file of ../shared/vectors is left out of the tables above", () => {
    const covered = new Set<string>([
      ...OPENSSL.flatMap((c) => [
        `openssl/der/${c.response}.der`,
        `openssl/${c.issuer}`,
        `openssl/${SUBJECT_CERT[c.base]}`,
      ]),
    ]);
    const documentation = /(^|\/)(CASES\.md|MANIFEST\.md|LICENSE.*|index\.txt(\.attr)?)$/;
    const handledElsewhere =
      /^openssl\/[^/]+\.ors$|^openssl\/(root|intermediate|server)-(cert|key|csr)\.pem$|^openssl\/(ocsp|server)\.pem$|^openssl\/ND1_Cross_Root\.pem$|^rustcrypto\//;
    const missing = vectorPaths().filter(
      (p) => !covered.has(p) && !documentation.test(p) && !handledElsewhere.test(p),
    );
    expect(missing).toEqual([]);
    expect(vectorPaths().length).toBeGreaterThan(140);
  });
});
