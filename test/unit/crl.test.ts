// The CRL verifier's verdict on every generated CRL case (scripts/fixtures/crls.sh), lookups in the
// stored form, and the size and DER bounds.

import { describe, expect, it } from "vitest";
import {
  MAX_CRL_BYTES,
  parseCertificateList,
  parseCrl,
  parseTbsCertList,
} from "../../src/crl/crl.ts";
import {
  CRL_REJECT_REASONS,
  crlFacts,
  lookupSerial,
  verifyCrl,
  type CrlAccepted,
  type CrlRejectReason,
  type CrlVerdict,
} from "../../src/crl/verify.ts";
import { fromBase64, fromHex } from "../../src/ocsp/bytes.ts";
import { serialHex } from "../../src/ocsp/certificate.ts";
import { tlv } from "../support/der.ts";
import { certificate, fixture, text } from "../support/files.ts";

type Entry = [serial: string, time: string, reason: string | null];
interface CrlCase {
  name: string;
  description: string;
  crl: string;
  issuer: string;
  at: string;
  previousNumber: string | null;
  expectedUrl: string | null;
  expect:
    | {
        ok: true;
        gzip?: boolean;
        size?: number;
        number: string | null;
        thisUpdate: string;
        nextUpdate: string;
        revokedCount: number;
        revoked: Entry[];
        absent: string[];
      }
    | { ok: false; reason: CrlRejectReason };
}

const index = JSON.parse(text(fixture("crls/cases.json"))) as { crlUrl: string; cases: CrlCase[] };
const cases = index.cases;
const byName = (name: string) => {
  const c = cases.find((x) => x.name === name);
  if (!c) throw new Error(`no CRL case ${name}`);
  return c;
};

async function gunzip(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

async function crlBytes(c: CrlCase): Promise<Uint8Array> {
  const raw = fixture(c.crl);
  return c.expect.ok && c.expect.gzip ? gunzip(raw) : raw;
}

function judge(c: CrlCase, crl: Uint8Array): Promise<CrlVerdict> {
  return verifyCrl({
    crl,
    issuer: certificate(fixture(c.issuer)),
    now: new Date(c.at),
    ...(c.previousNumber === null ? {} : { previousNumber: BigInt(c.previousNumber) }),
    ...(c.expectedUrl === null ? {} : { expectedUrl: c.expectedUrl }),
  });
}

function accepted(verdict: CrlVerdict): CrlAccepted {
  if (!verdict.ok) throw new Error(`rejected: ${verdict.reason}: ${verdict.detail}`);
  return verdict;
}

const crlCa = () => certificate(fixture("crls/pki/crl-ca.pem"));
const revokedCase = byName("crl-ca-revoked");
const revokedCrl = () => fixture(revokedCase.crl);
const revokedAt = new Date(revokedCase.at);

describe("generated CRL cases", () => {
  it("cover accepted CRLs and every reject reason but tooLarge (tested in memory below)", () => {
    expect(cases.filter((c) => c.expect.ok).length).toBeGreaterThanOrEqual(15);
    const seen = new Set(cases.flatMap((c) => (c.expect.ok ? [] : [c.expect.reason])));
    expect([...seen].sort()).toEqual(CRL_REJECT_REASONS.filter((r) => r !== "tooLarge").sort());
  });

  it.each(cases.map((c) => [c.name, c.description, c] as const))("%s: %s", async (_, __, c) => {
    const verdict = await judge(c, await crlBytes(c));
    if (!c.expect.ok) {
      expect(verdict).toMatchObject({ ok: false, reason: c.expect.reason });
      return;
    }
    const v = accepted(verdict);
    expect(v.number).toBe(c.expect.number === null ? undefined : BigInt(c.expect.number));
    expect(v.thisUpdate.toISOString()).toBe(new Date(c.expect.thisUpdate).toISOString());
    expect(v.nextUpdate.toISOString()).toBe(new Date(c.expect.nextUpdate).toISOString());
    expect(v.revoked.size).toBe(c.expect.revokedCount);
    const facts = crlFacts(v);
    // Each entry as `openssl crl -text` reads it, in the Map and through the stored form.
    for (const [serial, time, reason] of c.expect.revoked) {
      const want =
        reason === null
          ? { revocationTime: Date.parse(time) }
          : { revocationTime: Date.parse(time), reason };
      expect(v.revoked.get(serial), serial).toEqual(want);
      expect(lookupSerial(facts, serial), serial).toEqual(want);
    }
    for (const serial of c.expect.absent) {
      expect(v.revoked.has(serial), serial).toBe(false);
      expect(lookupSerial(facts, serial), serial).toBeUndefined();
    }
    if (c.expect.size !== undefined) expect(v.size).toBe(c.expect.size);
  });
});

describe("the CRL-only leaves of crl-ca", () => {
  it("crl-leaf-revoked is found with its time and keyCompromise; crl-leaf-good is absent", async () => {
    const facts = crlFacts(
      accepted(await verifyCrl({ crl: revokedCrl(), issuer: crlCa(), now: revokedAt })),
    );
    const revoked = certificate(fixture("crls/pki/crl-leaf-revoked.pem"));
    const good = certificate(fixture("crls/pki/crl-leaf-good.pem"));
    const expected = revokedCase.expect.ok ? revokedCase.expect.revoked[0]! : undefined;
    expect(lookupSerial(facts, serialHex(revoked))).toEqual({
      revocationTime: Date.parse(expected![1]),
      reason: "keyCompromise",
    });
    expect(lookupSerial(facts, serialHex(good))).toBeUndefined();
    // Upper-case hex (as some tools print serials) finds the same entry.
    expect(lookupSerial(facts, serialHex(revoked).toUpperCase())).toMatchObject({
      reason: "keyCompromise",
    });
  });

  it("a leaf's serial with a leading 00 octet matches the CRL entry byte for byte", async () => {
    const c = byName("crl-ca-reasons");
    const v = accepted(await judge(c, fixture(c.crl)));
    expect(v.revoked.get("0080ab")).toMatchObject({ reason: "affiliationChanged" });
    expect(v.revoked.has("80ab")).toBe(false);
  });
});

describe("parseCrl", () => {
  it("keeps the exact tbsCertList and issuer bytes, and reads v1 and v2 CRLs", () => {
    const v2 = parseCrl(revokedCrl());
    if (!v2.ok) throw new Error(v2.error.detail);
    const der = revokedCrl();
    // tbsCertList is the first element inside the outer SEQUENCE (4-byte header for < 64 KiB).
    expect(v2.value.tbsCertList).toEqual(der.subarray(4, 4 + v2.value.tbsCertList.length));
    expect(v2.value.version).toBe(2);
    expect(v2.value.issuer).toEqual(crlCa().subject);
    const v1 = parseCrl(fixture(byName("crl-ca-v1").crl));
    if (!v1.ok) throw new Error(v1.error.detail);
    expect(v1.value).toMatchObject({ version: 1, extensions: [] });
    expect(v1.value.revoked).toEqual([
      { serialHex: "5002", revocationTime: expect.any(Number) as number },
    ]);
  });
});

describe("the stored form", () => {
  it("is plain JSON, sorted by serial, and lookups agree with the Map", async () => {
    const c = byName("crl-ca-reasons");
    const v = accepted(await judge(c, fixture(c.crl)));
    const facts = crlFacts(v);
    const roundTrip = JSON.parse(JSON.stringify(facts));
    expect(roundTrip).toEqual(facts);
    expect(facts.number).toBe("3");
    const serials = facts.revoked.map((r) => r[0]);
    expect(serials).toEqual([...serials].sort());
    for (const [serial, r] of v.revoked) expect(lookupSerial(roundTrip, serial)).toEqual(r);
    expect(lookupSerial(roundTrip, "")).toBeUndefined();
    expect(lookupSerial(roundTrip, "ffff")).toBeUndefined();
  });

  it("the 50 000-entry CRL is verified, stored and looked up", async () => {
    const c = byName("huge");
    const der = await crlBytes(c);
    const started = Date.now();
    const v = accepted(await judge(c, der));
    const verifyMs = Date.now() - started;
    const facts = crlFacts(v);
    expect(facts.revoked).toHaveLength(50_000);
    const json = JSON.stringify(facts);
    console.log(
      `huge CRL: ${der.length} bytes DER, verified in ${verifyMs} ms, stored form ${json.length} bytes of JSON`,
    );
    // A generous bound (workerd in CI): the point is that it is seconds, not minutes.
    expect(verifyMs).toBeLessThan(15_000);
    expect(lookupSerial(facts, "100000")).toMatchObject({ reason: "keyCompromise" });
    expect(lookupSerial(facts, "10c350")).toBeUndefined();
  });
});

describe("bounds and hostile input", () => {
  it("refuses a CRL over MAX_CRL_BYTES before decoding it", async () => {
    expect(MAX_CRL_BYTES).toBe(10 * 1024 * 1024);
    const big = new Uint8Array(MAX_CRL_BYTES + 1);
    big.set(revokedCrl());
    const v = await verifyCrl({ crl: big, issuer: crlCa(), now: revokedAt });
    expect(v).toMatchObject({ ok: false, reason: "tooLarge" });
    const pem = new TextEncoder().encode(
      `-----BEGIN X509 CRL-----\n${"A".repeat(MAX_CRL_BYTES * 1.5)}\n-----END X509 CRL-----\n`,
    );
    expect(parseCrl(pem)).toMatchObject({ ok: false, error: { kind: "tooLarge" } });
  });

  it("a CRL of exactly MAX_CRL_BYTES is decoded (and here refused as malformed, not too large)", async () => {
    const v = await verifyCrl({
      crl: new Uint8Array(MAX_CRL_BYTES),
      issuer: crlCa(),
      now: revokedAt,
    });
    expect(v).toMatchObject({ ok: false, reason: "malformed" });
  });

  it("every truncation of a valid CRL is malformed, never a throw", async () => {
    const der = revokedCrl();
    for (let n = 0; n < der.length; n++) {
      const v = await verifyCrl({ crl: der.subarray(0, n), issuer: crlCa(), now: revokedAt });
      expect(v.ok ? "accepted" : v.reason, `first ${n} bytes`).toBe("malformed");
    }
  });

  it("any one byte changed anywhere is refused, never a throw", async () => {
    const der = revokedCrl();
    const reasons = new Set<string>();
    for (let i = 0; i < der.length; i++) {
      const changed = new Uint8Array(der);
      changed[i]! ^= 0x01;
      const v = await verifyCrl({ crl: changed, issuer: crlCa(), now: revokedAt });
      expect(v.ok, `byte ${i}`).toBe(false);
      if (!v.ok) reasons.add(v.reason);
    }
    expect(reasons).toContain("malformed");
    expect(reasons).toContain("badSignature");
    expect(reasons).toContain("wrongIssuer");
  });

  it("a changed revocation date or signature bit is badSignature", async () => {
    // The entry for serial 5002: INTEGER 02 02 50 02, then UTCTime 17 0d YYMMDDHHMMSSZ.
    const der = new Uint8Array(revokedCrl());
    let at = -1;
    for (let i = 0; i + 5 < der.length && at < 0; i++) {
      if (der[i] === 0x02 && der[i + 1] === 0x02 && der[i + 2] === 0x50 && der[i + 3] === 0x02) {
        if (der[i + 4] === 0x17 && der[i + 5] === 0x0d) at = i + 6 + 11; // second digit of SS
      }
    }
    expect(at).toBeGreaterThan(0);
    der[at] = der[at] === 0x39 ? 0x38 : der[at]! + 1;
    expect(await verifyCrl({ crl: der, issuer: crlCa(), now: revokedAt })).toMatchObject({
      ok: false,
      reason: "badSignature",
    });
    const flipped = new Uint8Array(revokedCrl());
    flipped[flipped.length - 20]! ^= 0x01;
    expect(await verifyCrl({ crl: flipped, issuer: crlCa(), now: revokedAt })).toMatchObject({
      ok: false,
      reason: "badSignature",
    });
  });

  it("a CRL judged for another CA is refused by name before any signature work", async () => {
    const v = await verifyCrl({
      crl: revokedCrl(),
      issuer: certificate(fixture("pki/rsa-ca.pem")),
      now: revokedAt,
    });
    expect(v).toMatchObject({ ok: false, reason: "wrongIssuer" });
  });

  it("random bytes and a lone SEQUENCE are malformed", async () => {
    const random = crypto.getRandomValues(new Uint8Array(600));
    random[0] = 0x30;
    random[1] = 0x82;
    random[2] = 0x02;
    random[3] = 0x54;
    for (const crl of [random, new Uint8Array([0x30, 0x00]), new Uint8Array([0x30, 0x80, 0, 0])]) {
      expect(await verifyCrl({ crl, issuer: crlCa(), now: revokedAt })).toMatchObject({
        ok: false,
        reason: "malformed",
      });
    }
  });
});

describe("CRL number and distribution point rules", () => {
  it("numberWentBackwards against any previous number above the CRL's own", async () => {
    const c = byName("number-forward");
    const crl = fixture(c.crl);
    const at = new Date(c.at);
    for (const [previous, verdict] of [
      [0n, true],
      [4n, true],
      [5n, true],
      [6n, false],
      [2n ** 160n, false],
    ] as const) {
      const v = await verifyCrl({ crl, issuer: crlCa(), now: at, previousNumber: previous });
      expect(v.ok ? true : v.reason, `previous ${previous}`).toBe(
        verdict ? true : "numberWentBackwards",
      );
    }
  });

  it("expectedUrl must be among the IDP's fullName URIs; without an IDP any URL is fine", async () => {
    const idp = byName("idp-match");
    const idpCrl = fixture(idp.crl);
    const at = new Date(idp.at);
    const ok = accepted(
      await verifyCrl({ crl: idpCrl, issuer: crlCa(), now: at, expectedUrl: index.crlUrl }),
    );
    expect(ok.idpUrls).toEqual([index.crlUrl]);
    const other = await verifyCrl({
      crl: idpCrl,
      issuer: crlCa(),
      now: at,
      expectedUrl: "http://127.0.0.1:8889/elsewhere.crl",
    });
    expect(other).toMatchObject({ ok: false, reason: "idpMismatch" });
    const noIdp = accepted(
      await verifyCrl({
        crl: revokedCrl(),
        issuer: crlCa(),
        now: revokedAt,
        expectedUrl: "http://127.0.0.1:8889/elsewhere.crl",
      }),
    );
    expect(noIdp.idpUrls).toEqual([]);
  });

  it("the time window: 5 minutes of skew on thisUpdate, none on nextUpdate", async () => {
    const c = revokedCase;
    if (!c.expect.ok) throw new Error("crl-ca-revoked must be accepted");
    const thisUpdate = Date.parse(c.expect.thisUpdate);
    const nextUpdate = Date.parse(c.expect.nextUpdate);
    const at = async (t: number) => {
      const v = await verifyCrl({ crl: revokedCrl(), issuer: crlCa(), now: new Date(t) });
      return v.ok ? "ok" : v.reason;
    };
    expect(await at(thisUpdate - 5 * 60_000)).toBe("ok");
    expect(await at(thisUpdate - 5 * 60_000 - 1000)).toBe("notYetValid");
    expect(await at(nextUpdate - 1000)).toBe("ok");
    expect(await at(nextUpdate)).toBe("expired");
  });
});

describe("a forged CRL is refused before its revoked entries are read", () => {
  // Anyone on the path of an http:// CRL URL can serve crl-ca's name over ~10 MiB of entries: the
  // signature is what tells that from crl-ca's own CRL, so it is checked before any entry is
  // decoded, and a forgery costs one hash over the bytes, not a decode of every entry.
  const ENTRY_BYTES = 37;
  const ENTRIES = Math.floor((MAX_CRL_BYTES - 1024) / ENTRY_BYTES);
  const utcTime = (t: number) => {
    const iso = new Date(t).toISOString();
    const digits = [
      [2, 4],
      [5, 7],
      [8, 10],
      [11, 13],
      [14, 16],
      [17, 19],
    ] as const;
    return new TextEncoder().encode(`${digits.map(([a, b]) => iso.slice(a, b)).join("")}Z`);
  };

  /** ENTRIES copies of `entry` (ENTRY_BYTES each), index i written at `serialAt` if given. */
  function entries(entry: Uint8Array, serialAt?: number): Uint8Array {
    expect(entry.length).toBe(ENTRY_BYTES);
    const out = new Uint8Array(ENTRIES * ENTRY_BYTES);
    for (let i = 0; i < ENTRIES; i++) {
      const at = i * ENTRY_BYTES;
      out.set(entry, at);
      if (serialAt === undefined) continue;
      out[at + serialAt] = i >>> 16;
      out[at + serialAt + 1] = (i >>> 8) & 0xff;
      out[at + serialAt + 2] = i & 0xff;
    }
    return out;
  }

  /** SEQUENCE { serial 0x10xxxxxx, revocationDate, { reasonCode keyCompromise } }. */
  const revokedEntries = () =>
    entries(
      tlv(
        0x30,
        tlv(0x02, new Uint8Array([0x10, 0, 0, 0])),
        tlv(0x17, utcTime(revokedAt.getTime() - 86_400_000)),
        tlv(0x30, tlv(0x30, tlv(0x06, fromHex("551d15")!), tlv(0x04, tlv(0x0a, fromHex("01")!)))),
      ),
      5,
    );
  /** Well-formed TLVs that are no RevokedCertificate: decoding any one of them refuses the CRL. */
  const undecodableEntries = () => entries(tlv(0x30, tlv(0x04, new Uint8Array(33))));

  /** A v2 CRL under crl-ca's name listing `revoked`, signed (sha256WithRSA) with `key`. */
  async function crlSignedWith(revoked: Uint8Array, key: CryptoKey): Promise<Uint8Array> {
    const template = parseCrl(revokedCrl());
    if (!template.ok) throw new Error(template.error.detail);
    const algorithm = template.value.signatureAlgorithm.der;
    const tbs = tlv(
      0x30,
      tlv(0x02, fromHex("01")!),
      algorithm,
      crlCa().subject,
      tlv(0x17, utcTime(revokedAt.getTime() - 3_600_000)),
      tlv(0x17, utcTime(revokedAt.getTime() + 7 * 86_400_000)),
      tlv(0x30, revoked),
    );
    const signature = new Uint8Array(await crypto.subtle.sign("RSASSA-PKCS1-v1_5", key, tbs));
    return tlv(0x30, tbs, algorithm, tlv(0x03, fromHex("00")!, signature));
  }

  const rsa = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" };
  const forgerKey = async () =>
    (
      (await crypto.subtle.generateKey(
        { ...rsa, modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]) },
        false,
        ["sign", "verify"],
      )) as CryptoKeyPair
    ).privateKey;
  const crlCaKey = () => {
    const pem = text(fixture("crls/pki/crl-ca.key"));
    const der = fromBase64(pem.replace(/-----[^-]+-----|\s+/g, ""))!;
    return crypto.subtle.importKey("pkcs8", der, rsa, false, ["sign"]);
  };

  it("a 10 MiB CRL under crl-ca's name signed with another key is badSignature", async () => {
    const crl = await crlSignedWith(revokedEntries(), await forgerKey());
    expect(crl.length).toBeGreaterThan(MAX_CRL_BYTES - 2048);
    expect(crl.length).toBeLessThanOrEqual(MAX_CRL_BYTES);
    const started = Date.now();
    const v = await verifyCrl({ crl, issuer: crlCa(), now: revokedAt });
    const ms = Date.now() - started;
    console.log(`forged CRL: ${crl.length} bytes, ${ENTRIES} entries, refused in ${ms} ms`);
    expect(v).toMatchObject({ ok: false, reason: "badSignature" });
  });

  it("no entry is decoded before the signature: undecodable ones still give badSignature", async () => {
    // Control: signed by crl-ca itself, the same entries are read, and refused as malformed.
    const signed = await crlSignedWith(undecodableEntries(), await crlCaKey());
    expect(await verifyCrl({ crl: signed, issuer: crlCa(), now: revokedAt })).toMatchObject({
      ok: false,
      reason: "malformed",
      detail: expect.stringContaining("revoked entry 1") as string,
    });
    // Forged: had any entry been decoded first, the verdict would be that same malformed.
    const forged = await crlSignedWith(undecodableEntries(), await forgerKey());
    expect(await verifyCrl({ crl: forged, issuer: crlCa(), now: revokedAt })).toMatchObject({
      ok: false,
      reason: "badSignature",
    });
  });

  it("the envelope is read without the entries; the entries only by parseTbsCertList", async () => {
    const crl = await crlSignedWith(undecodableEntries(), await forgerKey());
    const started = Date.now();
    const signed = parseCertificateList(crl);
    const ms = Date.now() - started;
    if (!signed.ok) throw new Error(signed.error.detail);
    console.log(`forged CRL: envelope of ${crl.length} bytes read in ${ms} ms`);
    expect(signed.value.issuer).toEqual(crlCa().subject);
    expect(signed.value.tbsCertList.length).toBeGreaterThan(MAX_CRL_BYTES - 2048);
    expect(parseTbsCertList(signed.value)).toMatchObject({
      ok: false,
      error: { kind: "malformed", detail: expect.stringContaining("revoked entry 1") as string },
    });
  });
});
