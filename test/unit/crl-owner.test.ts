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

function setup(
  crl: () => Uint8Array | undefined = () => fixture("crls/crl-ca-revoked.der"),
  storage = new MemoryStorage(),
  clock = { now: CLOCK },
) {
  const reports: CrlReport[] = [];
  const owner = new CrlOwnerLogic({
    storage,
    fetchCrl: async () => {
      const der = crl();
      return der ? { ok: true, value: der } : { ok: false, error: "HTTP 503" };
    },
    currentIssuer: async () => issuer,
    now: () => clock.now,
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

  it("watch lists stored before this rule (anyone could fill them) are dropped, not trusted", async () => {
    const storage = new MemoryStorage();
    const { owner: first } = setup(undefined, storage);
    await first.status({ url: CRL_URL, issuer, serial: "5001", names: true });
    // As the code before issue 16 stored it: no version, an anonymous check in the watch list.
    const legacy = storage.data.get("state") as Record<string, unknown>;
    delete legacy.version;
    legacy.watched = { "5003": leaf(3) };
    const { owner, reports } = setup(undefined, storage);
    expect((await owner.inspect("5003")).watches).toBe(false);
    await owner.alarm();
    expect(reported(reports.at(-1))).toEqual([]);
  });

  it("a pin made while the CRL cannot be fetched is kept, and watched once it can", async () => {
    let serving = false;
    const clock = { now: CLOCK };
    const { owner, reports, ask } = setup(
      () => (serving ? fixture("crls/crl-ca-revoked.der") : undefined),
      new MemoryStorage(),
      clock,
    );
    const pinned = await ask("5002", { leaf: leaf(2), pin: true });
    expect(pinned).toMatchObject({ ok: false });
    serving = true;
    clock.now += DEFAULT_SCHEDULE.backoffBaseMs;
    await owner.alarm();
    expect((await owner.inspect("5002")).watches).toBe(true);
    expect(reports.at(-1)!.certificates).toEqual([
      expect.objectContaining({ serial: "5002", status: "revoked" }),
    ]);
  });

  it("a pin recorded while the CRL is being fetched is not lost when the fetch writes back", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const storage = new MemoryStorage();
    const owner = new CrlOwnerLogic({
      storage,
      fetchCrl: async () => {
        await gate;
        return { ok: true, value: fixture("crls/crl-ca-revoked.der") };
      },
      currentIssuer: async () => issuer,
      now: () => CLOCK,
      random: () => 0.5,
      schedule: DEFAULT_SCHEDULE,
    });
    const first = owner.status({ url: CRL_URL, issuer, serial: "5001", names: true });
    await new Promise((r) => setTimeout(r, 10)); // the fetch is in flight
    const pinning = owner.status({
      url: CRL_URL,
      issuer,
      serial: "5002",
      names: true,
      leaf: leaf(2),
      pin: true,
    });
    await new Promise((r) => setTimeout(r, 10));
    release();
    await Promise.all([first, pinning]);
    const held = await owner.inspect("5002");
    expect(held.state?.pinned).toBe(true);
    expect(held.watches).toBe(true);
    expect((storage.data.get("state") as { pins?: object }).pins).toHaveProperty("5002");
  });

  it("a CRL whose storing failed is never served from memory: the next check fetches it again", async () => {
    const storage = new MemoryStorage();
    const put = storage.put.bind(storage);
    let failing = "chunk:0";
    storage.put = async <T>(key: string, value: T) => {
      if (key === failing) {
        failing = "";
        throw new Error("storage put failed");
      }
      return put(key, value);
    };
    const { ask } = setup(undefined, storage);
    await ask("5002").then(
      () => undefined,
      () => undefined,
    );
    expect(await ask("5002")).toMatchObject({
      ok: true,
      value: { revoked: { reason: "keyCompromise" }, fetched: true },
    });
  });
});
