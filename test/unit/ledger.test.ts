// The fleet ledger (fleet/ledger.ts) with in-memory storage, an injected clock and a recording alert
// sender: what /metrics and /status are built from (counters, responder health, per-certificate
// summaries, recent failures, read a batch of rows at a time) and the alerts an operator's webhook
// receives, each exactly once.

import { describe, expect, it } from "vitest";
import {
  LEDGER_BUSY,
  LedgerLogic,
  LIST_BATCH,
  MAX_WAITING_PASSES,
  type Alert,
  type AlertConfig,
  type CertSummary,
  type FetchReport,
  type LedgerStorage,
  type RetireReason,
  type RetireReport,
} from "../../src/fleet/ledger.ts";
import { MetricsDigest } from "../../src/metrics/prometheus.ts";
import { StatusDigest } from "../../src/status/page.ts";

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const t0 = Date.UTC(2026, 10, 28, 12, 0, 0);
const ISSUER = "0123456789abcdef";
const RESPONDER = "http://ocsp.ca.example/";

/**
 * LedgerStorage over a Map, with the Durable Object storage's copy semantics and its listing
 * (key order, `startAfter`, `limit`); counts the list calls.
 */
class MemoryStorage implements LedgerStorage {
  readonly data = new Map<string, unknown>();
  lists = 0;
  async get<T>(key: string) {
    return structuredClone(this.data.get(key)) as T | undefined;
  }
  async put<T>(key: string, value: T) {
    this.data.set(key, structuredClone(value));
  }
  async delete(key: string) {
    return this.data.delete(key);
  }
  async list<T>({
    prefix,
    startAfter,
    limit,
  }: {
    prefix: string;
    startAfter?: string;
    limit?: number;
  }) {
    this.lists += 1;
    const out = new Map<string, T>();
    for (const key of [...this.data.keys()].sort()) {
      if (limit !== undefined && out.size >= limit) break;
      if (key.startsWith(prefix) && (startAfter === undefined || key > startAfter))
        out.set(key, structuredClone(this.data.get(key)) as T);
    }
    return out;
  }
}

interface Setup {
  ledger: LedgerLogic;
  storage: MemoryStorage;
  clock: { now: number };
  sent: Alert[];
}

function setup(
  opts: {
    webhook?: boolean;
    sendAlert?: (alert: Alert) => Promise<void>;
    alerts?: Partial<AlertConfig>;
  } = {},
): Setup {
  const storage = new MemoryStorage();
  const clock = { now: t0 };
  const sent: Alert[] = [];
  const ledger = new LedgerLogic({
    storage,
    now: () => clock.now,
    sendAlert:
      opts.webhook === false
        ? undefined
        : async (alert) => {
            sent.push(alert);
            await opts.sendAlert?.(alert);
          },
    alerts: { mustStapleMarginMs: DAY, responderFailures: 3, ...opts.alerts },
  });
  return { ledger, storage, clock, sent };
}

/**
 * A certificate under ISSUER; `n` makes its serial and CertID distinct. Registered by the operator
 * (pinned) unless `extra` says otherwise: only such certificates alert and judge a responder.
 */
const cert = (n: number, extra: Partial<FetchReport> = {}) => ({
  certIdKey: `SHA-1:aa:bb:${n.toString(16).padStart(4, "0")}`,
  issuerId: ISSUER,
  issuerSubject: "CN=Test CA",
  responderUrl: RESPONDER,
  serial: n.toString(16).padStart(4, "0"),
  pinned: true,
  ...extra,
});

/** A successful fetch: a `status` answer valid for `window` from `at`. */
function success(
  n: number,
  at: number,
  status: "good" | "revoked" | "unknown" = "good",
  extra: Partial<FetchReport> = {},
  window = 7 * DAY,
): FetchReport {
  return {
    ...cert(n),
    at,
    ms: 120,
    ok: true,
    status,
    thisUpdate: at,
    nextUpdate: at + window,
    failures: 0,
    ...(status === "revoked"
      ? { revocationTime: at - HOUR, revocationReason: "keyCompromise" }
      : {}),
    ...extra,
  };
}

/** A failed fetch (CA unreachable), `failures` in a row for this certificate. */
function failure(n: number, at: number, failures: number, extra: Partial<FetchReport> = {}) {
  return {
    ...cert(n),
    at,
    ms: 5000,
    ok: false,
    error: "the CA's responder failed: HTTP 503",
    failures,
    ...extra,
  } satisfies FetchReport;
}

/** An owner's report that it let certificate `n` go. */
const retired = (n: number, reason: RetireReason, at: number, extra: Partial<RetireReport> = {}) =>
  ({
    retired: reason,
    certIdKey: cert(n).certIdKey,
    issuerId: ISSUER,
    serial: cert(n).serial,
    at,
    ...extra,
  }) satisfies RetireReport;

const kinds = (sent: Alert[]) => sent.map((a) => a.kind);
/** Lets alert deliveries running in the background settle. */
const settle = () => new Promise((done) => setTimeout(done, 10));

describe("counters", () => {
  it("add up across calls, series by series", async () => {
    const { ledger } = setup();
    await ledger.addCounters({ 'requests_total{outcome="hit",tier="memory"}': 3 });
    await ledger.addCounters({
      'requests_total{outcome="hit",tier="memory"}': 2,
      'requests_total{outcome="miss",tier="upstream"}': 1,
    });
    await ledger.addCounters({});
    expect((await ledger.snapshot()).counters).toEqual({
      'requests_total{outcome="hit",tier="memory"}': 5,
      'requests_total{outcome="miss",tier="upstream"}': 1,
    });
  });

  it("each fetch counts upstream_fetches_total by result, latency, and rejections by reason", async () => {
    const { ledger } = setup();
    await ledger.reportFetch(success(1, t0, "good", { ms: 200 }));
    await ledger.reportFetch(failure(2, t0, 1, { ms: 300 }));
    await ledger.reportFetch(
      failure(3, t0, 1, {
        ms: 100,
        rejectReason: "badSignature",
        error: "the CA's answer was rejected: badSignature",
      }),
    );
    const { counters } = await ledger.snapshot();
    expect(counters).toMatchObject({
      [`upstream_fetches_total{issuer="${ISSUER}",result="ok"}`]: 1,
      [`upstream_fetches_total{issuer="${ISSUER}",result="error"}`]: 1,
      [`upstream_fetches_total{issuer="${ISSUER}",result="rejected"}`]: 1,
      [`upstream_latency_seconds_count{issuer="${ISSUER}"}`]: 3,
      'verification_rejections_total{reason="badSignature"}': 1,
    });
    expect(counters[`upstream_latency_seconds_sum{issuer="${ISSUER}"}`]).toBeCloseTo(0.6, 9);
  });
});

describe("a fetch writes one row: fetches are counted in the certificates' rows", () => {
  /** Counts the rows written (puts and deletes, as Durable Objects bill them). */
  function writes(storage: MemoryStorage) {
    const keys: string[] = [];
    const put = storage.put.bind(storage);
    const del = storage.delete.bind(storage);
    storage.put = async (key, value) => {
      keys.push(`put ${key}`);
      return put(key, value);
    };
    storage.delete = async (key) => {
      keys.push(`delete ${key}`);
      return del(key);
    };
    return keys;
  }
  const upstream = (result: string) =>
    `upstream_fetches_total{issuer="${ISSUER}",result="${result}"}`;

  it("a refresh like the last writes only its certificate's row; a failure and a recovery also the issuer's", async () => {
    const { ledger, storage } = setup();
    await ledger.reportFetch(success(1, t0)); // the issuer's first success: its health row
    const written = writes(storage);
    await ledger.reportFetch(success(1, t0 + 3 * DAY));
    await ledger.reportFetch(success(2, t0 + 3 * DAY));
    expect(written).toEqual([`put cert:${cert(1).certIdKey}`, `put cert:${cert(2).certIdKey}`]);
    written.length = 0;
    await ledger.reportFetch(failure(1, t0 + 4 * DAY, 1));
    expect(written.sort()).toEqual(
      [`put cert:${cert(1).certIdKey}`, "put failures", `put issuer:${ISSUER}`].sort(),
    );
    written.length = 0;
    await ledger.reportFetch(success(1, t0 + 4 * DAY + HOUR)); // recovered
    expect(written.sort()).toEqual([`put cert:${cert(1).certIdKey}`, `put issuer:${ISSUER}`]);
    const { counters, issuers } = await ledger.snapshot();
    expect(counters).toMatchObject({ [upstream("ok")]: 4, [upstream("error")]: 1 });
    expect(issuers[0]).toMatchObject({ fetches: 5, errors: 1, lastSuccessAt: t0 + 4 * DAY + HOUR });
  });

  it("a row that goes (forgotten, or pruned) leaves its fetches in the totals: the counters never go back", async () => {
    const { ledger, storage, clock } = setup();
    await ledger.reportFetch(success(1, t0, "good", { ms: 100 }));
    await ledger.reportFetch(success(1, t0 + 3 * DAY, "good", { ms: 300 }));
    await ledger.reportFetch(failure(2, t0 + 3 * DAY, 1, { ms: 50 }));
    await ledger.reportFetch(success(3, t0, "good", { ms: 10 }, HOUR)); // expires in an hour
    const before = (await ledger.snapshot()).counters;
    expect(before).toMatchObject({
      [upstream("ok")]: 3,
      [upstream("error")]: 1,
      [`upstream_latency_seconds_count{issuer="${ISSUER}"}`]: 4,
    });

    // Certificate 1 ended: its owner forgot it, and its row goes.
    const written = writes(storage);
    await ledger.report(retired(1, "ended", t0 + 4 * DAY));
    expect(written.sort()).toEqual([`delete cert:${cert(1).certIdKey}`, "put retiredFetches"]);
    // Certificate 3's answer expired 7 days ago: pruned by the pass /metrics makes.
    clock.now = t0 + 9 * DAY;
    const digest = new MetricsDigest({
      now: clock.now,
      mustStapleMarginMs: DAY,
      certificates: "troubled",
    });
    const view = await ledger.view(digest, 7 * DAY);
    expect(storage.data.has(`cert:${cert(3).certIdKey}`)).toBe(false);
    expect(view.counters).toEqual(before);
    expect((await ledger.snapshot()).counters).toEqual(before);
    expect(view.counters[`upstream_latency_seconds_sum{issuer="${ISSUER}"}`]).toBeCloseTo(0.46, 9);
    const counts = { fetches: 3, errors: 0, rejections: 0, latencyMsSum: 410 };
    expect(storage.data.get("retiredFetches")).toEqual({
      [ISSUER]: { ...counts, judged: counts, lastSuccessAt: t0 + 3 * DAY },
    });
  });

  it("a pass and the rows retired meanwhile: each fetch counted once, the counter never goes back", async () => {
    const { ledger, storage } = setup();
    const n = 300;
    for (let i = 0; i < n; i++) await ledger.reportFetch(success(i, t0));
    const retire = (i: number) => ledger.report(retired(i, "idle", t0 + 8 * DAY));
    const scrape = async () =>
      (
        await ledger.view(
          new MetricsDigest({ now: t0, mustStapleMarginMs: DAY, certificates: "troubled" }),
        )
      ).counters[upstream("ok")];
    // Scrapes and retires interleave at every await, as a Durable Object's calls do: a scrape
    // starts after every tenth retire, while the others are under way (one refused because too
    // many passes wait is left out).
    const seen = await Promise.all(
      Array.from({ length: n }, (_, i) =>
        retire(i).then(() =>
          i % 10 === 0
            ? scrape().catch((e: unknown) => {
                if (String(e).includes(LEDGER_BUSY)) return undefined;
                throw e;
              })
            : undefined,
        ),
      ),
    );
    expect(seen.filter((v) => v !== undefined).length).toBeGreaterThanOrEqual(MAX_WAITING_PASSES);
    expect(seen.filter((v) => v !== undefined && v !== n)).toEqual([]);
    expect(await scrape()).toBe(n);
    expect([...storage.data.keys()].filter((k) => k.startsWith("cert:"))).toEqual([]);
  });

  it("the issuers' table: registered certificates' fetches, and their last success even after its row went", async () => {
    const { ledger } = setup();
    await ledger.reportFetch(success(1, t0)); // stored: the issuer's first success
    await ledger.reportFetch(success(1, t0 + 5 * DAY)); // like the last: in the row only
    await ledger.retire(retired(1, "ended", t0 + 6 * DAY));
    const guess = { pinned: false, vouched: false, forgetAt: t0 + 6 * DAY + 5 * MIN };
    await ledger.reportFetch(success(9, t0 + 6 * DAY, "unknown", guess));
    const [health] = (await ledger.snapshot()).issuers;
    expect(health).toMatchObject({ fetches: 2, errors: 0, lastSuccessAt: t0 + 5 * DAY });
  });

  it("a CRL's fetches are counted once, in its issuer's health; a failed one is no success", async () => {
    const { ledger } = setup();
    const crl = (at: number, ok: boolean) => ({
      url: "http://crl.ca.example/ca.crl",
      issuerId: ISSUER,
      issuerSubject: "CN=Test CA",
      at,
      ms: 80,
      ok,
      failures: ok ? 0 : 1,
      ...(ok ? {} : { error: "HTTP 503" }),
      crl: { thisUpdate: t0, nextUpdate: t0 + 7 * DAY, number: "01" }, // held, or fetched now
      certificates: [
        { serial: "0a", subject: "CN=c.example", mustStaple: false, status: "good" as const },
      ],
    });
    await ledger.reportCrl(crl(t0, true));
    await ledger.reportCrl(crl(t0 + HOUR, false));
    const { issuers, counters } = await ledger.snapshot();
    expect(issuers[0]).toMatchObject({ fetches: 2, errors: 1, lastSuccessAt: t0 });
    expect(counters[upstream("ok")]).toBeUndefined(); // not an OCSP fetch
  });

  it("passes wait their turn, at most MAX_WAITING_PASSES of them: more are refused at once, nothing lost", async () => {
    const { ledger } = setup();
    await ledger.reportFetch(success(1, t0));
    const view = () =>
      ledger.view(
        new MetricsDigest({ now: t0, mustStapleMarginMs: DAY, certificates: "troubled" }),
      );
    const settled = await Promise.allSettled(Array.from({ length: MAX_WAITING_PASSES + 2 }, view));
    expect(settled.map((r) => r.status)).toEqual([
      ...Array<string>(MAX_WAITING_PASSES).fill("fulfilled"),
      "rejected",
      "rejected",
    ]);
    expect(String((settled[MAX_WAITING_PASSES] as PromiseRejectedResult).reason)).toContain(
      LEDGER_BUSY,
    );
    // Once they ran, passes are taken again, and a report meanwhile was not refused.
    await Promise.all([view(), ledger.reportFetch(success(2, t0))]);
    expect((await view()).counters[upstream("ok")]).toBe(2);
  });

  it("a certificate's fetches made while it was registered stay in the issuers' table after its unpinning", async () => {
    const { ledger } = setup();
    await ledger.reportFetch(success(1, t0)); // pinned
    await ledger.retire(retired(1, "unpinned", t0 + HOUR, { forgetAt: t0 + 2 * HOUR }));
    // Unpinned and never vouched: its next fetch is a guess's, counted but not judged.
    const guess = { pinned: false, vouched: false, forgetAt: t0 + 3 * HOUR };
    await ledger.reportFetch(failure(1, t0 + 2 * HOUR, 1, guess));
    const { issuers, counters } = await ledger.snapshot();
    expect(issuers[0]).toMatchObject({ fetches: 1, errors: 0 });
    expect(counters[upstream("error")]).toBe(1);
  });

  it("counts stored before fetches were counted in rows (the counters row) are kept and added to", async () => {
    const { ledger, storage } = setup();
    await storage.put("counters", { [upstream("ok")]: 40 });
    await storage.put(`issuer:${ISSUER}`, {
      issuerId: ISSUER,
      subject: "CN=Test CA",
      responderUrl: RESPONDER,
      fetches: 40,
      errors: 0,
      rejections: 0,
      latencyMsSum: 4000,
      consecutiveFailures: 0,
      lastSuccessAt: t0 - DAY,
    });
    await ledger.reportFetch(success(1, t0));
    const { counters, issuers } = await ledger.snapshot();
    expect(counters[upstream("ok")]).toBe(41);
    expect(issuers[0]).toMatchObject({ fetches: 41, latencyMsSum: 4120, lastSuccessAt: t0 });
  });
});

describe("responder health", () => {
  it("counts fetches, errors and rejections; consecutive failures reset on a success", async () => {
    const { ledger } = setup();
    await ledger.reportFetch(success(1, t0));
    await ledger.reportFetch(failure(1, t0 + MIN, 1));
    await ledger.reportFetch(
      failure(1, t0 + 2 * MIN, 2, { rejectReason: "expired", error: "rejected: expired" }),
    );
    let [health] = (await ledger.snapshot()).issuers;
    expect(health).toMatchObject({
      issuerId: ISSUER,
      subject: "CN=Test CA",
      responderUrl: RESPONDER,
      fetches: 3,
      errors: 1,
      rejections: 1,
      consecutiveFailures: 2,
      lastSuccessAt: t0,
      lastFailureAt: t0 + 2 * MIN,
      lastError: "rejected: expired",
    });
    expect(health!.latencyMsSum).toBe(120 + 5000 + 5000);

    await ledger.reportFetch(success(1, t0 + 3 * MIN));
    [health] = (await ledger.snapshot()).issuers;
    expect(health).toMatchObject({
      fetches: 4,
      consecutiveFailures: 0,
      lastSuccessAt: t0 + 3 * MIN,
    });
  });

  it("one entry per issuer, its subject and responder URL as last reported", async () => {
    const { ledger } = setup();
    await ledger.reportFetch(success(1, t0));
    await ledger.reportFetch(success(2, t0, "good", { issuerId: "fedcba9876543210" }));
    await ledger.reportFetch(success(3, t0, "good", { responderUrl: "http://ocsp2.ca.example/" }));
    const { issuers } = await ledger.snapshot();
    expect(issuers.map((i) => i.issuerId).sort()).toEqual([ISSUER, "fedcba9876543210"]);
    expect(issuers.find((i) => i.issuerId === ISSUER)).toMatchObject({
      fetches: 2,
      responderUrl: "http://ocsp2.ca.example/",
    });
  });
});

describe("certificate summaries", () => {
  it("a success records the answer: status, revocation, window, subject, Must-Staple, pinned", async () => {
    const { ledger } = setup();
    await ledger.reportFetch(
      success(7, t0, "revoked", { subject: "CN=shop.example", mustStaple: true, pinned: true }),
    );
    expect((await ledger.snapshot()).certs).toEqual([
      {
        certIdKey: cert(7).certIdKey,
        issuerId: ISSUER,
        serial: "0007",
        subject: "CN=shop.example",
        mustStaple: true,
        pinned: true,
        status: "revoked",
        revocationTime: t0 - HOUR,
        revocationReason: "keyCompromise",
        thisUpdate: t0,
        nextUpdate: t0 + 7 * DAY,
        lastFetchAt: t0,
        lastSuccessAt: t0,
        failures: 0,
        // Its fetches are counted in its row (fleet/ledger-totals.ts).
        fetched: { fetches: 1, errors: 0, rejections: 0, latencyMsSum: 120 },
        judged: { fetches: 1, errors: 0, rejections: 0, latencyMsSum: 120 }, // pinned: judged
      },
    ]);
  });

  it("a failure keeps the status and window of the last success and records the error", async () => {
    const { ledger } = setup();
    await ledger.reportFetch(success(1, t0, "good", { subject: "CN=a.example", mustStaple: true }));
    await ledger.reportFetch(failure(1, t0 + HOUR, 1)); // no subject in this report
    const [summary] = (await ledger.snapshot()).certs;
    expect(summary).toMatchObject({
      status: "good",
      thisUpdate: t0,
      nextUpdate: t0 + 7 * DAY,
      lastSuccessAt: t0,
      lastFetchAt: t0 + HOUR,
      lastError: "the CA's responder failed: HTTP 503",
      lastErrorAt: t0 + HOUR,
      failures: 1,
      subject: "CN=a.example",
      mustStaple: true,
    });
  });

  it("a success after failures clears the error", async () => {
    const { ledger } = setup();
    await ledger.reportFetch(failure(1, t0, 1));
    await ledger.reportFetch(success(1, t0 + MIN));
    const [summary] = (await ledger.snapshot()).certs;
    expect(summary!.lastError).toBeUndefined();
    expect(summary!.lastErrorAt).toBeUndefined();
    expect(summary).toMatchObject({ status: "good", failures: 0, lastSuccessAt: t0 + MIN });
  });

  it("a certificate never answered has no status, only its error", async () => {
    const { ledger } = setup();
    await ledger.reportFetch(failure(1, t0, 1));
    const [summary] = (await ledger.snapshot()).certs;
    expect(summary!.status).toBeUndefined();
    expect(summary!.nextUpdate).toBeUndefined();
    expect(summary!.lastSuccessAt).toBeUndefined();
    expect(summary!.lastError).toContain("HTTP 503");
  });
});

describe("recent failures", () => {
  it("are kept newest first, at most 50", async () => {
    const { ledger } = setup({ alerts: { responderFailures: 1000 } });
    for (let i = 1; i <= 60; i++) await ledger.reportFetch(failure(i, t0 + i * 1000, 1));
    const { failures } = await ledger.snapshot();
    expect(failures).toHaveLength(50);
    expect(failures[0]).toEqual({
      at: t0 + 60_000,
      certIdKey: cert(60).certIdKey,
      issuerId: ISSUER,
      serial: cert(60).serial,
      error: "the CA's responder failed: HTTP 503",
    });
    expect(failures.map((f) => f.at)).toEqual(
      Array.from({ length: 50 }, (_, i) => t0 + (60 - i) * 1000),
    );
  });

  it("successes add none", async () => {
    const { ledger } = setup();
    await ledger.reportFetch(success(1, t0));
    expect((await ledger.snapshot()).failures).toEqual([]);
  });
});

describe("alert: certificate.revoked", () => {
  it("is sent once for the first validly signed revoked, with serial, time and reason", async () => {
    const { ledger, sent } = setup();
    await ledger.reportFetch(
      success(9, t0, "revoked", { subject: "CN=lost-key.example", revokedFirstSeen: true }),
    );
    expect(sent).toEqual([
      expect.objectContaining({
        kind: "certificate.revoked",
        at: new Date(t0).toISOString(),
        certIdKey: cert(9).certIdKey,
        issuerId: ISSUER,
        serial: "0009",
        subject: "CN=lost-key.example",
        revocationTime: new Date(t0 - HOUR).toISOString(),
        revocationReason: "keyCompromise",
      }),
    ]);
    expect(sent[0]!.message).toContain("CN=lost-key.example");
    expect(sent[0]!.message).toContain("keyCompromise");
  });

  it("is not sent again when the owner reports the first sighting twice", async () => {
    const { ledger, sent } = setup();
    await ledger.reportFetch(success(9, t0, "revoked", { revokedFirstSeen: true }));
    await ledger.reportFetch(success(9, t0 + HOUR, "revoked", { revokedFirstSeen: true }));
    await ledger.reportFetch(success(9, t0 + 2 * HOUR, "revoked"));
    expect(kinds(sent)).toEqual(["certificate.revoked"]);
  });

  it("not for a certificate nobody registered: anyone may ask about a revoked one", async () => {
    const { ledger, sent } = setup();
    const anonymous = { pinned: false, vouched: true, revokedFirstSeen: true };
    await ledger.reportFetch(success(9, t0, "revoked", anonymous));
    expect(sent).toEqual([]);
  });

  it("for a certificate an authenticated caller checked (watched), as for a pinned one", async () => {
    const { ledger, sent } = setup();
    const watched = { pinned: false, watched: true, vouched: true, revokedFirstSeen: true };
    await ledger.reportFetch(success(9, t0, "revoked", watched));
    expect(kinds(sent)).toEqual(["certificate.revoked"]);
  });

  it("once per certificate, whatever CertID hash it was asked with", async () => {
    const { ledger, sent } = setup();
    for (const hash of ["SHA-1", "SHA-256", "SHA-384", "SHA-512"]) {
      const certIdKey = `${hash}:aa:bb:0009`;
      await ledger.reportFetch(success(9, t0, "revoked", { certIdKey, revokedFirstSeen: true }));
    }
    expect(kinds(sent)).toEqual(["certificate.revoked"]);
  });

  it("each revoked certificate gets its own alert; good ones none", async () => {
    const { ledger, sent } = setup();
    await ledger.reportFetch(success(1, t0, "good"));
    await ledger.reportFetch(success(2, t0, "revoked", { revokedFirstSeen: true }));
    await ledger.reportFetch(success(3, t0, "revoked", { revokedFirstSeen: true }));
    expect(sent.map((a) => a.serial)).toEqual(["0002", "0003"]);
  });
});

describe("alert: mustStaple.atRisk", () => {
  const mustStaple = { mustStaple: true, subject: "CN=staple.example" };

  it("a Must-Staple certificate whose refresh fails with less than the margin left", async () => {
    const { ledger, sent } = setup();
    await ledger.reportFetch(success(1, t0, "good", mustStaple, 2 * DAY));
    const at = t0 + DAY + HOUR; // 23 h left, margin 24 h
    await ledger.reportFetch(failure(1, at, 1, { heldNextUpdate: t0 + 2 * DAY }));
    expect(sent).toEqual([
      expect.objectContaining({
        kind: "mustStaple.atRisk",
        serial: "0001",
        subject: "CN=staple.example",
        nextUpdate: new Date(t0 + 2 * DAY).toISOString(),
        lastError: "the CA's responder failed: HTTP 503",
      }),
    ]);
  });

  it("not while more than the margin is left", async () => {
    const { ledger, sent } = setup();
    await ledger.reportFetch(success(1, t0, "good", mustStaple));
    await ledger.reportFetch(failure(1, t0 + HOUR, 1, { heldNextUpdate: t0 + 7 * DAY }));
    expect(sent).toEqual([]);
  });

  it("not for a certificate without Must-Staple, however close to expiry", async () => {
    const { ledger, sent } = setup();
    await ledger.reportFetch(success(1, t0, "good", { mustStaple: false }, HOUR));
    await ledger.reportFetch(failure(1, t0 + 50 * MIN, 1, { heldNextUpdate: t0 + HOUR }));
    await ledger.reportFetch(failure(1, t0 + 2 * HOUR, 2));
    expect(sent).toEqual([]);
  });

  it("with no valid answer held at all (never answered, or expired)", async () => {
    const { ledger, sent } = setup();
    await ledger.reportFetch(failure(1, t0, 1, mustStaple));
    expect(sent).toEqual([
      expect.objectContaining({ kind: "mustStaple.atRisk", serial: "0001", nextUpdate: null }),
    ]);
    expect(sent[0]!.message).toContain("no valid answer");
  });

  it("the Must-Staple flag from an earlier report is remembered", async () => {
    const { ledger, sent } = setup();
    await ledger.reportFetch(success(1, t0, "good", mustStaple, HOUR));
    await ledger.reportFetch(failure(1, t0 + 30 * MIN, 1, { heldNextUpdate: t0 + HOUR }));
    expect(kinds(sent)).toEqual(["mustStaple.atRisk"]);
  });

  it("once per held answer: retries against the same answer stay quiet", async () => {
    const { ledger, sent } = setup({ alerts: { responderFailures: 1000 } });
    await ledger.reportFetch(success(1, t0, "good", mustStaple, 2 * DAY));
    for (let i = 1; i <= 5; i++) {
      await ledger.reportFetch(
        failure(1, t0 + DAY + i * HOUR, i, { heldNextUpdate: t0 + 2 * DAY }),
      );
    }
    expect(kinds(sent)).toEqual(["mustStaple.atRisk"]);
  });

  it("a new alert after a new answer is held and its refresh fails too", async () => {
    const { ledger, sent } = setup({ alerts: { responderFailures: 1000 } });
    await ledger.reportFetch(success(1, t0, "good", mustStaple, 2 * DAY));
    await ledger.reportFetch(failure(1, t0 + 30 * HOUR, 1, { heldNextUpdate: t0 + 2 * DAY }));
    const t1 = t0 + 40 * HOUR;
    await ledger.reportFetch(success(1, t1, "good", {}, 2 * DAY));
    await ledger.reportFetch(failure(1, t1 + 30 * HOUR, 1, { heldNextUpdate: t1 + 2 * DAY }));
    await ledger.reportFetch(failure(1, t1 + 31 * HOUR, 2, { heldNextUpdate: t1 + 2 * DAY }));
    expect(sent.map((a) => [a.kind, a.nextUpdate])).toEqual([
      ["mustStaple.atRisk", new Date(t0 + 2 * DAY).toISOString()],
      ["mustStaple.atRisk", new Date(t1 + 2 * DAY).toISOString()],
    ]);
  });

  it("a second outage with nothing valid left alerts again after the CA had recovered in between", async () => {
    // First outage: never answered. Then the CA answers, the answer runs out during a second
    // outage: the operator must hear about the second time the site has nothing to staple.
    const { ledger, sent } = setup({ alerts: { responderFailures: 1000 } });
    await ledger.reportFetch(failure(1, t0, 1, mustStaple));
    await ledger.reportFetch(success(1, t0 + HOUR, "good", {}, 2 * DAY));
    await ledger.reportFetch(failure(1, t0 + 3 * DAY, 1));
    expect(sent.map((a) => [a.kind, a.nextUpdate])).toEqual([
      ["mustStaple.atRisk", null],
      ["mustStaple.atRisk", null],
    ]);
  });
});

describe("alert: responder.failing", () => {
  it("is sent exactly when the consecutive failures reach the threshold", async () => {
    const { ledger, sent } = setup({ alerts: { responderFailures: 3 } });
    await ledger.reportFetch(success(1, t0));
    await ledger.reportFetch(failure(1, t0 + 1000, 1));
    await ledger.reportFetch(failure(2, t0 + 2000, 1));
    expect(sent).toEqual([]);
    await ledger.reportFetch(failure(3, t0 + 3000, 1));
    expect(sent).toEqual([
      expect.objectContaining({
        kind: "responder.failing",
        issuerId: ISSUER,
        responderUrl: RESPONDER,
        consecutiveFailures: 3,
        lastError: "the CA's responder failed: HTTP 503",
      }),
    ]);
    expect(sent[0]!.message).toContain(RESPONDER);
  });

  it("is not sent again while the responder keeps failing", async () => {
    const { ledger, sent } = setup({ alerts: { responderFailures: 2 } });
    for (let i = 1; i <= 10; i++) await ledger.reportFetch(failure(i, t0 + i * 1000, 1));
    expect(kinds(sent)).toEqual(["responder.failing"]);
  });

  it("a success ends the episode: the next run of failures alerts again", async () => {
    const { ledger, sent } = setup({ alerts: { responderFailures: 2 } });
    await ledger.reportFetch(failure(1, t0 + 1000, 1));
    await ledger.reportFetch(failure(1, t0 + 2000, 2));
    await ledger.reportFetch(failure(1, t0 + 3000, 3));
    await ledger.reportFetch(success(1, t0 + 4000));
    await ledger.reportFetch(failure(1, t0 + 5000, 1));
    expect(kinds(sent)).toEqual(["responder.failing"]);
    await ledger.reportFetch(failure(1, t0 + 6000, 2));
    expect(kinds(sent)).toEqual(["responder.failing", "responder.failing"]);
  });

  it("rejected answers count as failures of the responder", async () => {
    const { ledger, sent } = setup({ alerts: { responderFailures: 2 } });
    const rejected = { rejectReason: "badSignature", error: "rejected: badSignature" };
    await ledger.reportFetch(failure(1, t0, 1, rejected));
    await ledger.reportFetch(failure(1, t0 + 1000, 2, rejected));
    expect(sent).toEqual([
      expect.objectContaining({ kind: "responder.failing", lastError: "rejected: badSignature" }),
    ]);
  });

  it("guesses never judge a responder: a made-up or oddly encoded serial the CA refuses", async () => {
    const { ledger, sent } = setup({ alerts: { responderFailures: 3 } });
    await ledger.reportFetch(success(1, t0));
    for (let i = 0; i < 5; i++) {
      const guess = {
        pinned: false,
        vouched: false,
        error: "the CA's responder failed: HTTP 400",
        forgetAt: t0 + HOUR, // its owner forgets it then: a guess
      };
      await ledger.reportFetch(failure(100 + i, t0 + 1000 * (i + 1), 1, guess));
    }
    expect(sent).toEqual([]);
    const [health] = (await ledger.snapshot()).issuers;
    expect(health).toMatchObject({ consecutiveFailures: 0, errors: 0, fetches: 1 });
    // Counted where every fetch the CA saw is: upstream_fetches_total.
    const { counters } = await ledger.snapshot();
    expect(counters[`upstream_fetches_total{issuer="${ISSUER}",result="error"}`]).toBe(5);
  });

  it("a certificate the CA vouched for judges it, pinned or not", async () => {
    const { ledger, sent } = setup({ alerts: { responderFailures: 2 } });
    await ledger.reportFetch(failure(1, t0 + 1000, 1, { pinned: false, vouched: true }));
    await ledger.reportFetch(failure(2, t0 + 2000, 1, { pinned: false, vouched: true }));
    expect(kinds(sent)).toEqual(["responder.failing"]);
  });

  it("counts per issuer: another issuer's failures do not add up", async () => {
    const { ledger, sent } = setup({ alerts: { responderFailures: 2 } });
    await ledger.reportFetch(failure(1, t0, 1));
    await ledger.reportFetch(failure(2, t0, 1, { issuerId: "fedcba9876543210" }));
    expect(sent).toEqual([]);
  });
});

describe("delivery", () => {
  it("no webhook configured: nothing is sent and nothing is counted", async () => {
    const { ledger } = setup({ webhook: false, alerts: { responderFailures: 1 } });
    await ledger.reportFetch(success(1, t0, "revoked", { revokedFirstSeen: true }));
    await ledger.reportFetch(failure(2, t0, 1, { mustStaple: true }));
    const { counters } = await ledger.snapshot();
    expect(Object.keys(counters).filter((k) => k.startsWith("alerts_sent_total"))).toEqual([]);
  });

  it("a failing webhook does not make reportFetch throw, and the report is kept", async () => {
    const { ledger, sent } = setup({
      sendAlert: async () => {
        throw new Error("webhook answered HTTP 500");
      },
    });
    await expect(
      ledger.reportFetch(success(1, t0, "revoked", { revokedFirstSeen: true })),
    ).resolves.toBeUndefined();
    expect(kinds(sent)).toEqual(["certificate.revoked"]);
    expect((await ledger.snapshot()).certs).toMatchObject([{ status: "revoked" }]);
  });

  it("a webhook that never answers does not hold up the report (owners, and so clients, wait for it)", async () => {
    const { ledger, sent } = setup({ sendAlert: () => new Promise<void>(() => {}) });
    const outcome = await Promise.race([
      ledger
        .reportFetch(success(1, t0, "revoked", { revokedFirstSeen: true }))
        .then(() => "reported"),
      new Promise((done) => setTimeout(() => done("still waiting for the webhook"), 250)),
    ]);
    expect(outcome).toBe("reported");
    expect(kinds(sent)).toEqual(["certificate.revoked"]);
  });

  it("a delivery the webhook refused is not counted in alerts_sent_total", async () => {
    const { ledger, sent } = setup({
      sendAlert: async () => {
        throw new Error("webhook answered HTTP 500");
      },
    });
    await ledger.reportFetch(success(1, t0, "revoked", { revokedFirstSeen: true }));
    expect(kinds(sent)).toEqual(["certificate.revoked"]);
    await settle();
    const { counters } = await ledger.snapshot();
    expect(counters['alerts_sent_total{kind="certificate.revoked"}'] ?? 0).toBe(0);
  });

  it("a certificate.revoked alert the webhook refused is sent again with the certificate's next report", async () => {
    let refuse = true;
    const { ledger, sent } = setup({
      sendAlert: async () => {
        if (refuse) throw new Error("webhook answered HTTP 503");
      },
    });
    await ledger.reportFetch(success(9, t0, "revoked", { revokedFirstSeen: true }));
    await settle();
    refuse = false;
    // The owner's next refresh: still revoked (revokedFirstSeen is only set the first time).
    await ledger.reportFetch(success(9, t0 + HOUR, "revoked"));
    await settle();
    expect(kinds(sent)).toEqual(["certificate.revoked", "certificate.revoked"]);
    await ledger.reportFetch(success(9, t0 + 2 * HOUR, "revoked"));
    await settle();
    expect(kinds(sent)).toHaveLength(2); // delivered once: not again
    expect((await ledger.snapshot()).counters).toMatchObject({
      'alerts_sent_total{kind="certificate.revoked"}': 1,
    });
  });

  it("a responder.failing alert the webhook refused is sent again on the next failure of the outage", async () => {
    let refuse = true;
    const { ledger, sent } = setup({
      alerts: { responderFailures: 2 },
      sendAlert: async () => {
        if (refuse) throw new Error("webhook answered HTTP 503");
      },
    });
    await ledger.reportFetch(failure(1, t0, 1));
    await ledger.reportFetch(failure(2, t0 + 1000, 1));
    await settle();
    refuse = false;
    await ledger.reportFetch(failure(3, t0 + 2000, 1));
    await settle();
    expect(kinds(sent)).toEqual(["responder.failing", "responder.failing"]);
    expect((await ledger.snapshot()).counters).toMatchObject({
      'alerts_sent_total{kind="responder.failing"}': 1,
    });
  });

  it("a mustStaple.atRisk alert the webhook refused is sent again on the next failed refresh", async () => {
    let refuse = true;
    const { ledger, sent } = setup({
      alerts: { responderFailures: 1000 },
      sendAlert: async () => {
        if (refuse) throw new Error("webhook answered HTTP 503");
      },
    });
    await ledger.reportFetch(failure(1, t0, 1, { mustStaple: true }));
    await settle();
    refuse = false;
    await ledger.reportFetch(failure(1, t0 + MIN, 2));
    await settle();
    expect(kinds(sent)).toEqual(["mustStaple.atRisk", "mustStaple.atRisk"]);
  });

  it("alerts_sent_total counts alerts by kind", async () => {
    const { ledger } = setup({ alerts: { responderFailures: 2 } });
    await ledger.reportFetch(success(1, t0, "revoked", { revokedFirstSeen: true }));
    await ledger.reportFetch(success(2, t0, "revoked", { revokedFirstSeen: true }));
    await ledger.reportFetch(failure(3, t0, 1, { mustStaple: true }));
    await ledger.reportFetch(failure(3, t0 + 1000, 2, { mustStaple: true }));
    await settle();
    const { counters } = await ledger.snapshot();
    expect(counters).toMatchObject({
      'alerts_sent_total{kind="certificate.revoked"}': 2,
      'alerts_sent_total{kind="mustStaple.atRisk"}': 1,
      'alerts_sent_total{kind="responder.failing"}': 1,
    });
  });

  it("each alert is a JSON-serialisable object with kind, ISO time and message", async () => {
    const { ledger, sent } = setup({ alerts: { responderFailures: 1 } });
    await ledger.reportFetch(success(1, t0, "revoked", { revokedFirstSeen: true }));
    await ledger.reportFetch(failure(2, t0 + 1000, 1, { mustStaple: true }));
    expect(kinds(sent).sort()).toEqual([
      "certificate.revoked",
      "mustStaple.atRisk",
      "responder.failing",
    ]);
    for (const alert of sent) {
      expect(JSON.parse(JSON.stringify(alert))).toEqual(alert);
      expect(alert.at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      expect(alert.message.length).toBeGreaterThan(10);
    }
  });
});

describe("prune", () => {
  it("drops certificates whose answer expired long ago, keeps the rest", async () => {
    const { ledger, clock } = setup({ alerts: { responderFailures: 1000 } });
    await ledger.reportFetch(success(1, t0, "good", {}, HOUR)); // expired at t0 + 1 h
    await ledger.reportFetch(success(2, t0, "good", {}, 10 * DAY)); // valid until t0 + 10 d
    await ledger.reportFetch(failure(3, t0, 1)); // never answered, last fetch at t0
    await ledger.reportFetch(failure(4, t0 + 7 * DAY, 1)); // never answered, tried recently
    clock.now = t0 + 8 * DAY;
    await ledger.prune(7 * DAY);
    const serials = (await ledger.snapshot()).certs.map((c) => c.serial).sort();
    expect(serials).toEqual(["0002", "0004"]);
  });

  it("keeps everything younger than the limit", async () => {
    const { ledger, clock } = setup();
    await ledger.reportFetch(success(1, t0, "good", {}, HOUR));
    clock.now = t0 + HOUR + 6 * DAY;
    await ledger.prune(7 * DAY);
    expect((await ledger.snapshot()).certs).toHaveLength(1);
  });
});

describe("an owner lets a certificate go", () => {
  const mustStaple = { mustStaple: true, subject: "CN=staple.example" };
  /** What /metrics counts and /status lists as at risk now (margin: a day). */
  async function atRiskNow(ledger: LedgerLogic, now: number) {
    const { certificates } = await ledger.view(new StatusDigest({ now, mustStapleMarginMs: DAY }));
    return { count: certificates.all.atRisk, listed: certificates.atRisk.map((c) => c.serial) };
  }

  it("ended or idle: its row goes at once, not 7 days after its answer expired", async () => {
    const { ledger, storage } = setup({ alerts: { responderFailures: 1000 } });
    await ledger.report(success(1, t0, "good", mustStaple, HOUR));
    await ledger.report(failure(1, t0 + 50 * MIN, 1, { heldNextUpdate: t0 + HOUR }));
    await ledger.report(success(2, t0, "good", { pinned: false, vouched: true }));
    await ledger.report(success(3, t0));
    expect(await atRiskNow(ledger, t0 + 2 * HOUR)).toEqual({ count: 1, listed: ["0001"] });

    await ledger.report(retired(1, "ended", t0 + 2 * HOUR));
    await ledger.report(retired(2, "idle", t0 + 2 * HOUR));
    expect(await atRiskNow(ledger, t0 + 2 * HOUR)).toEqual({ count: 0, listed: [] });
    expect([...storage.data.keys()].filter((k) => k.startsWith("cert:"))).toEqual([
      `cert:${cert(3).certIdKey}`,
    ]);
  });

  it("unpinned: its row stays, says so, and is never at risk; failing still counts", async () => {
    const { ledger } = setup({ alerts: { responderFailures: 1000 } });
    await ledger.report(success(1, t0, "good", mustStaple, HOUR));
    await ledger.report(failure(1, t0 + 50 * MIN, 1, { heldNextUpdate: t0 + HOUR }));
    await ledger.report(retired(1, "unpinned", t0 + 55 * MIN));
    const [row] = (await ledger.snapshot()).certs;
    expect(row).toMatchObject({ pinned: false, unpinnedAt: t0 + 55 * MIN, failures: 1 });
    expect(row!.forgetAt).toBeUndefined();
    expect(await atRiskNow(ledger, t0 + 2 * HOUR)).toEqual({ count: 0, listed: [] });
    const { certificates } = await ledger.view(
      new StatusDigest({ now: t0 + 2 * HOUR, mustStapleMarginMs: DAY }),
    );
    expect(certificates.all.failing).toBe(1);

    // Clients still ask: its refresh reports keep it unpinned, and alert no more.
    await ledger.report(failure(1, t0 + 3 * HOUR, 2, { ...mustStaple, pinned: false }));
    expect((await ledger.snapshot()).certs[0]).toMatchObject({ unpinnedAt: t0 + 55 * MIN });
    expect(await atRiskNow(ledger, t0 + 3 * HOUR)).toEqual({ count: 0, listed: [] });
  });

  it("registered again (pinned, or checked with a fleet key): at risk again", async () => {
    for (const again of [{ pinned: true }, { pinned: false, watched: true }]) {
      const { ledger } = setup({ alerts: { responderFailures: 1000 } });
      await ledger.report(success(1, t0, "good", mustStaple, HOUR));
      await ledger.report(retired(1, "unpinned", t0 + MIN));
      await ledger.report(failure(1, t0 + 50 * MIN, 1, { heldNextUpdate: t0 + HOUR, ...again }));
      expect((await ledger.snapshot()).certs[0]!.unpinnedAt).toBeUndefined();
      expect(await atRiskNow(ledger, t0 + 55 * MIN)).toEqual({ count: 1, listed: ["0001"] });
    }
  });

  it("unpinned and never vouched for: the row goes when its owner forgets it", async () => {
    const { ledger, clock } = setup();
    await ledger.report(success(1, t0, "unknown", {}, 5 * MIN));
    await ledger.report(retired(1, "unpinned", t0 + MIN, { forgetAt: t0 + 5 * MIN }));
    expect(await ledger.nextForgetAt()).toBe(t0 + 5 * MIN);
    clock.now = t0 + 5 * MIN;
    await ledger.prune(7 * DAY);
    expect((await ledger.snapshot()).certs).toEqual([]);
  });

  it("a row the ledger never had: one read, nothing written", async () => {
    const { ledger, storage } = setup();
    const writes: string[] = [];
    const put = storage.put.bind(storage);
    storage.put = async (key, value) => {
      writes.push(key);
      await put(key, value);
    };
    for (const reason of ["ended", "idle", "unpinned"] as const)
      await ledger.report(retired(7, reason, t0));
    expect(writes).toEqual([]);
    expect(storage.data.size).toBe(0);
  });
});

describe("listing the certificate rows", () => {
  /** `n` certificate rows written straight into storage, valid for a day from t0. */
  function rows(
    storage: MemoryStorage,
    n: number,
    extra: (i: number) => Partial<CertSummary> = () => ({}),
  ) {
    for (let i = 0; i < n; i++) {
      const row: CertSummary = {
        certIdKey: `SHA-1:aa:bb:${String(i).padStart(6, "0")}`,
        issuerId: ISSUER,
        serial: String(i).padStart(6, "0"),
        mustStaple: false,
        pinned: true,
        status: "good",
        thisUpdate: t0,
        nextUpdate: t0 + DAY,
        lastFetchAt: t0,
        failures: 0,
        ...extra(i),
      };
      storage.data.set(`cert:${row.certIdKey}`, row);
    }
  }

  it(`every row once, in key order, ${LIST_BATCH} per storage call`, async () => {
    const { ledger, storage } = setup();
    const n = 2 * LIST_BATCH + 500;
    rows(storage, n);
    storage.data.set("issuer:x", { issuerId: "x" }); // other prefixes are not listed with them
    storage.lists = 0;
    const seen: string[] = [];
    await ledger.eachCertificate({ add: (c) => seen.push(c.serial) });
    expect(seen).toEqual(Array.from({ length: n }, (_, i) => String(i).padStart(6, "0")));
    expect(storage.lists).toBe(3);
  });

  it("a storage that ignores limit and startAfter still gives each row once", async () => {
    const { ledger, storage } = setup();
    rows(storage, LIST_BATCH + 10);
    const list = storage.list.bind(storage);
    storage.list = <T>({ prefix }: { prefix: string }) => list<T>({ prefix });
    let seen = 0;
    await ledger.eachCertificate({ add: () => void seen++ });
    expect(seen).toBe(LIST_BATCH + 10);
  });

  it("view: the head and what the digest kept, pruning on the way as prune does", async () => {
    const { ledger, storage, clock } = setup();
    await ledger.addCounters({ 'requests_total{outcome="hit",tier="memory"}': 2 });
    await ledger.reportFetch(failure(1, t0, 1)); // an issuer's health, a failure, a row unanswered
    rows(storage, 1500, (i) => (i % 3 === 0 ? { nextUpdate: t0 - 8 * DAY } : {}));
    clock.now = t0 + HOUR;
    const view = await ledger.view(
      new MetricsDigest({ now: clock.now, mustStapleMarginMs: DAY, certificates: "troubled" }),
      7 * DAY,
    );
    expect(view.counters).toMatchObject({ 'requests_total{outcome="hit",tier="memory"}': 2 });
    expect(view.issuers.map((i) => i.issuerId)).toEqual([ISSUER]);
    expect(view.failures).toHaveLength(1);
    // 500 rows expired more than 7 days ago are gone; the failing certificate 0001 has no answer.
    expect(view.certificates.valid).toBe(1000);
    expect(view.certificates.issuers[0]!.byStatus).toEqual({
      good: 1000,
      revoked: 0,
      unknown: 0,
      none: 1,
    });
    expect([...storage.data.keys()].filter((k) => k.startsWith("cert:"))).toHaveLength(1001);
    expect((await ledger.snapshot()).certs).toHaveLength(1001);
  });

  it("view: a digest that asks for another pass gets one, over the same rows (a deep /status page)", async () => {
    const { ledger, storage } = setup();
    rows(storage, 10_500);
    storage.lists = 0;
    const status = { now: t0, mustStapleMarginMs: DAY, page: 105 };
    const view = await ledger.view(new StatusDigest(status), 7 * DAY);
    // All answers expire together: key order decides, so page 105 is rows 10 400 to 10 499.
    expect(view.certificates.rows.map((c) => c.serial)).toEqual(
      Array.from({ length: 100 }, (_, i) => String(10_400 + i).padStart(6, "0")),
    );
    expect(storage.lists).toBe(1 + 2 * 11); // the issuers, then twice 11 batches of rows
  });

  it("nextForgetAt: the soonest forget time across every batch", async () => {
    const { ledger, storage } = setup();
    rows(storage, 2 * LIST_BATCH, (i) =>
      i === 1500 ? { forgetAt: t0 + MIN } : i % 7 === 0 ? { forgetAt: t0 + HOUR + i } : {},
    );
    expect(await ledger.nextForgetAt()).toBe(t0 + MIN);
  });
});
