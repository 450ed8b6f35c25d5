// The CRL owner's watch lists (fleet/crl-owner.ts) with in-memory storage and the fixture CRL: a
// certificate is watched (reported to the ledger on every new CRL, and so alerts when revoked) only
// when the CRL speaks for it and the caller may ask for that: a pin always, in a list of its own; an
// authenticated /check while the watch list has room; an anonymous /check never.

import { beforeAll, describe, expect, it } from "vitest";
import {
  CrlOwnerLogic,
  MAX_WATCHED,
  type CrlOwnerStorage,
  type CrlReport,
  type CrlRequest,
} from "../../src/fleet/crl-owner.ts";
import { DEFAULT_SCHEDULE } from "../../src/fleet/schedule.ts";
import { makeIssuerRecord, type IssuerRecord } from "../../src/issuers/issuer.ts";
import { forgeCrl } from "../support/crl-forge.ts";
import { certificate, fixture } from "../support/files.ts";

const CRL_URL = "http://127.0.0.1:8889/crl-ca.crl";
const CLOCK = Date.parse("2026-12-01T19:57:09Z");
const leaf = (n: number) => ({ subject: `CN=site${n}.example`, mustStaple: false });

class MemoryStorage implements CrlOwnerStorage {
  readonly data = new Map<string, unknown>();
  async get<T>(key: string) {
    return structuredClone(this.data.get(key)) as T | undefined;
  }
  async put<T>(key: string, value: T) {
    this.data.set(key, structuredClone(value));
  }
  async delete(key: string) {
    return this.data.delete(key);
  }
  async setAlarm() {}
}

let issuer: IssuerRecord;
beforeAll(async () => {
  issuer = await makeIssuerRecord(
    certificate(fixture("crls/pki/crl-ca.pem")),
    { crlUrls: [CRL_URL] },
    new Date(CLOCK),
  );
});

function setup(crl = () => fixture("crls/crl-ca-revoked.der")) {
  const reports: CrlReport[] = [];
  const owner = new CrlOwnerLogic({
    storage: new MemoryStorage(),
    fetchCrl: async () => ({ ok: true, value: crl() }),
    currentIssuer: async () => issuer,
    now: () => CLOCK,
    random: () => 0.5,
    schedule: DEFAULT_SCHEDULE,
    report: async (r) => void reports.push(r),
  });
  const ask = (serial: string, o: Partial<CrlRequest> = {}) =>
    owner.status({ url: CRL_URL, issuer, serial, names: true, ...o });
  return { owner, reports, ask };
}

const reported = (r: CrlReport | undefined) => (r?.certificates ?? []).map((c) => c.serial).sort();

describe("CRL watch lists", () => {
  it("an anonymous /check watches nothing; an authenticated one does", async () => {
    const { owner, reports, ask } = setup();
    expect(await ask("5002", { leaf: leaf(1) })).toMatchObject({
      ok: true,
      value: { watches: false },
    });
    expect(await ask("5001", { leaf: leaf(2), watch: true })).toMatchObject({
      ok: true,
      value: { watches: true },
    });
    await owner.alarm(); // the next fetch reports the watched certificates
    expect(reported(reports.at(-1))).toEqual(["5001"]);
  });

  it("a pin is watched even when anonymous-sized lists are full, and never displaced", async () => {
    const { owner, reports, ask } = setup();
    for (let n = 0; n < MAX_WATCHED + 10; n++)
      await ask((0x100000 + n).toString(16), { leaf: leaf(n), watch: true });
    expect(await ask("5002", { leaf: leaf(0), pin: true })).toMatchObject({
      ok: true,
      value: { watches: true, revoked: { reason: "keyCompromise" } },
    });
    for (let n = 0; n < 100; n++)
      await ask((0x200000 + n).toString(16), { leaf: leaf(n), watch: true });
    await owner.alarm();
    const serials = reported(reports.at(-1));
    expect(serials).toContain("5002");
    expect(serials).toHaveLength(MAX_WATCHED + 1);
    expect(reports.at(-1)!.certificates.find((c) => c.serial === "5002")).toMatchObject({
      status: "revoked",
    });
  });

  it("a complete CRL (no issuingDistributionPoint) speaks for a certificate naming another", async () => {
    const { owner, ask } = setup();
    // crl-ca-revoked.der has no issuingDistributionPoint: complete, it speaks for every certificate.
    expect(await ask("5003", { leaf: leaf(3), pin: true, names: false })).toMatchObject({
      ok: true,
      value: { watches: true },
    });
    const held = await owner.inspect("5003");
    expect(held.watches).toBe(true);
    expect(held.crl?.idpUrls).toEqual([]);
  });

  it("a partitioned CRL pins or watches only the certificates that name it", async () => {
    const part = await forgeCrl({
      idpUrl: CRL_URL,
      thisUpdate: new Date(CLOCK - 3_600_000),
      nextUpdate: new Date(CLOCK + 86_400_000),
      number: 7,
    });
    const { owner, reports, ask } = setup(() => part);
    expect(await ask("5003", { leaf: leaf(3), pin: true, names: false })).toMatchObject({
      ok: true,
      value: { watches: false, revoked: undefined },
    });
    expect(await ask("5004", { leaf: leaf(4), watch: true, names: false })).toMatchObject({
      ok: true,
      value: { watches: false },
    });
    expect(await ask("5001", { leaf: leaf(1), pin: true, names: true })).toMatchObject({
      ok: true,
      value: { watches: true },
    });
    await owner.alarm();
    expect(reported(reports.at(-1))).toEqual(["5001"]);
  });
});
