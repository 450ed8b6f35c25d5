// The CRL and leaf forge (test/support/crl-forge.ts): what it makes is what crl-ca would issue, as
// the relay's own CRL verifier and certificate parser read it; a CRL under another key is refused.

import { AsnConvert } from "@peculiar/asn1-schema";
import {
  AuthorityKeyIdentifier,
  id_ce_authorityKeyIdentifier,
  id_ce_subjectKeyIdentifier,
  SubjectKeyIdentifier,
} from "@peculiar/asn1-x509";
import { describe, expect, it } from "vitest";
import { parseCrl } from "../../src/crl/crl.ts";
import { verifyCrl, type CrlAccepted, type CrlVerdict } from "../../src/crl/verify.ts";
import { bytesEqual, u8 } from "../../src/ocsp/bytes.ts";
import {
  parseCertificate,
  parseCertificateFile,
  serialHex,
  type CertificateFacts,
} from "../../src/ocsp/certificate.ts";
import { OID } from "../../src/ocsp/oids.ts";
import { issuedBy } from "../../src/ocsp/signature.ts";
import { forgeCrl, forgeLeaf } from "../support/crl-forge.ts";
import { certificate, fixture } from "../support/files.ts";

const CLOCK = new Date("2026-12-01T19:57:09Z"); // the CRL fixtures' judging time
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const ago = (ms: number) => new Date(CLOCK.getTime() - ms);
const later = (ms: number) => new Date(CLOCK.getTime() + ms);
const SHARD_URL = "http://127.0.0.1:8889/crl-ca/shard-7.crl";
const CRL_URL = "http://127.0.0.1:8889/crl-ca.crl";
const OCSP_URL = "http://127.0.0.1:8888/";

const crlCa = () => certificate(fixture("crls/pki/crl-ca.pem"));

const verify = (crl: Uint8Array, expectedUrl?: string) =>
  verifyCrl({
    crl,
    issuer: crlCa(),
    now: CLOCK,
    ...(expectedUrl === undefined ? {} : { expectedUrl }),
  });

function accepted(verdict: CrlVerdict): CrlAccepted {
  if (!verdict.ok) throw new Error(`rejected: ${verdict.reason}: ${verdict.detail}`);
  return verdict;
}

function parsed(der: Uint8Array): CertificateFacts {
  const cert = parseCertificate(der);
  if (!cert.ok) throw new Error(cert.error.detail);
  return cert.value;
}

const keyIdentifierOf = (cert: CertificateFacts, oid: string) => {
  const ext = cert.extensions.find((e) => e.extnID === oid);
  if (!ext) throw new Error(`no extension ${oid}`);
  return u8(ext.extnValue.buffer);
};

describe("forgeCrl", () => {
  it("a partitioned CRL signed by crl-ca is accepted with its entries, number and IDP", async () => {
    const crl = await forgeCrl({
      idpUrl: SHARD_URL,
      revoked: [
        { serial: "5003", time: ago(DAY), reason: 1 },
        { serial: "00c0ffee", time: ago(2 * DAY) },
      ],
      thisUpdate: ago(HOUR),
      nextUpdate: later(7 * DAY),
      number: 2n ** 70n, // past 2^53: the bigint survives
    });
    const v = accepted(await verify(crl, SHARD_URL));
    expect(v).toMatchObject({
      thisUpdate: ago(HOUR),
      nextUpdate: later(7 * DAY),
      number: 2n ** 70n,
      idpUrls: [SHARD_URL],
      signatureAlgorithm: "sha256WithRSAEncryption",
      issuerText: crlCa().subjectText,
    });
    expect([...v.revoked]).toEqual([
      ["5003", { revocationTime: ago(DAY).getTime(), reason: "keyCompromise" }],
      ["00c0ffee", { revocationTime: ago(2 * DAY).getTime() }],
    ]);

    const raw = parseCrl(crl);
    if (!raw.ok) throw new Error(raw.error.detail);
    expect(raw.value.version).toBe(2);
    expect(bytesEqual(raw.value.issuer, crlCa().subject)).toBe(true);
    const byOid = new Map(raw.value.extensions.map((e) => [e.extnID, e]));
    expect(byOid.get(OID.issuingDistributionPoint)?.critical).toBe(true);
    const aki = AsnConvert.parse(
      byOid.get(OID.authorityKeyIdentifier)!.extnValue.buffer,
      AuthorityKeyIdentifier,
    );
    const caKeyId = keyIdentifierOf(crlCa(), id_ce_subjectKeyIdentifier);
    const caSki = u8(AsnConvert.parse(caKeyId, SubjectKeyIdentifier).buffer);
    expect(bytesEqual(u8(aki.keyIdentifier!.buffer), caSki)).toBe(true);
  });

  it("without idpUrl: a complete CRL with no IDP, here listing nothing", async () => {
    const crl = await forgeCrl({ thisUpdate: ago(HOUR), nextUpdate: later(DAY), number: 7 });
    const v = accepted(await verify(crl, CRL_URL));
    expect(v).toMatchObject({ number: 7n, idpUrls: [] });
    expect(v.revoked.size).toBe(0);
  });

  it("a shard fetched from another URL than its IDP names is idpMismatch", async () => {
    const crl = await forgeCrl({
      idpUrl: SHARD_URL,
      thisUpdate: ago(HOUR),
      nextUpdate: later(DAY),
      number: 1,
    });
    expect(await verify(crl, CRL_URL)).toMatchObject({ ok: false, reason: "idpMismatch" });
  });

  it('signWith "other": crl-ca\'s name over another key is badSignature', async () => {
    const crl = await forgeCrl({
      idpUrl: SHARD_URL,
      revoked: [{ serial: "5001", time: ago(DAY), reason: 1 }],
      thisUpdate: ago(HOUR),
      nextUpdate: later(DAY),
      number: 99,
      signWith: "other",
    });
    expect(await verify(crl, SHARD_URL)).toMatchObject({ ok: false, reason: "badSignature" });
  });

  it("refuses serials that are not positive, minimal INTEGER content", async () => {
    const times = { thisUpdate: ago(HOUR), nextUpdate: later(DAY), number: 1 };
    for (const serial of ["c0ffee", "0050", "", "5g"]) {
      await expect(
        forgeCrl({ ...times, revoked: [{ serial, time: ago(DAY) }] }),
        serial,
      ).rejects.toThrow(/serial/);
    }
  });
});

describe("forgeLeaf", () => {
  it("a leaf crl-ca issued, with the CRL and OCSP URLs given", async () => {
    const leaf = await forgeLeaf({
      serial: "5003",
      crlUrls: [SHARD_URL, CRL_URL],
      ocspUrls: [OCSP_URL],
      notBefore: ago(DAY),
      notAfter: later(90 * DAY),
      subjectCn: "forged.crl.test",
    });
    const cert = parsed(leaf.der);
    const ca = crlCa();
    expect(cert).toMatchObject({
      crlUrls: [SHARD_URL, CRL_URL],
      ocspUrls: [OCSP_URL],
      isCA: false,
      notBefore: ago(DAY),
      notAfter: later(90 * DAY),
      subjectText: "C=XX, O=ocsp-relay test PKI, CN=forged.crl.test",
      issuerText: ca.subjectText,
      spkiCurve: OID.p256,
    });
    expect(serialHex(cert)).toBe("5003");
    expect(await issuedBy(cert, ca)).toBe(true);
    const aki = AsnConvert.parse(
      keyIdentifierOf(cert, id_ce_authorityKeyIdentifier),
      AuthorityKeyIdentifier,
    );
    const caSki = AsnConvert.parse(
      keyIdentifierOf(ca, id_ce_subjectKeyIdentifier),
      SubjectKeyIdentifier,
    );
    expect(bytesEqual(u8(aki.keyIdentifier!.buffer), u8(caSki.buffer))).toBe(true);

    const fromPem = parseCertificateFile(new TextEncoder().encode(leaf.pem));
    expect(fromPem.ok && bytesEqual(fromPem.value.der, leaf.der)).toBe(true);
  });

  it("without ocspUrls: no authorityInfoAccess, so CRL status is the only one", async () => {
    const leaf = await forgeLeaf({
      serial: "00a1",
      crlUrls: [CRL_URL],
      notBefore: ago(DAY),
      notAfter: later(DAY),
      subjectCn: "crl-only.crl.test",
    });
    const cert = parsed(leaf.der);
    expect(cert.ocspUrls).toEqual([]);
    expect(cert.extensions.some((e) => e.extnID === OID.authorityInfoAccess)).toBe(false);
    expect(serialHex(cert)).toBe("00a1");
  });

  it("a forged CRL revoking a forged leaf lists it under the leaf's serialHex", async () => {
    const leaf = parsed(
      (
        await forgeLeaf({
          serial: "0f0001",
          crlUrls: [SHARD_URL],
          notBefore: ago(DAY),
          notAfter: later(DAY),
          subjectCn: "revoked.shard.crl.test",
        })
      ).der,
    );
    const crl = await forgeCrl({
      idpUrl: leaf.crlUrls[0]!,
      revoked: [{ serial: serialHex(leaf), time: ago(HOUR), reason: 4 }],
      thisUpdate: ago(HOUR),
      nextUpdate: later(DAY),
      number: 3,
    });
    const v = accepted(await verify(crl, leaf.crlUrls[0]!));
    expect(v.revoked.get(serialHex(leaf))).toEqual({
      revocationTime: ago(HOUR).getTime(),
      reason: "superseded",
    });
  });
});
