// What an operator sees: the status page (status/page.ts) and the Prometheus scrape
// (metrics/prometheus.ts), rendered from ledger snapshots with a fixed `now` through the digests the
// ledger runs over its rows (statusOf, metricsOf). The HTML is read back with workerd's
// HTMLRewriter (a real HTML parser), not by string matching alone.

import { describe, expect, it } from "vitest";
import {
  atRisk,
  type CertSummary,
  type FailureEntry,
  type IssuerHealth,
  type LedgerSnapshot,
  type MetricsQuery,
  type StatusQuery,
} from "../../src/fleet/ledger.ts";
import type { IssuerRecord } from "../../src/issuers/issuer.ts";
import { MAX_CERTIFICATE_SERIES, metricsOf, renderMetrics } from "../../src/metrics/prometheus.ts";
import {
  AT_RISK_LISTED,
  duration,
  MAX_QUERY_CHARS,
  PAGE_SIZE,
  renderStatusPage,
  ROWS_HELD,
  statusOf,
  windowLeft,
} from "../../src/status/page.ts";
import { MAX_PAGE, statusQuery } from "../../src/routes/observe.ts";

const S = 1000;
const MIN = 60 * S;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const now = Date.UTC(2026, 10, 28, 12, 0, 0);
const MARGIN = DAY;

const HOSTILE = `<script>alert("owned")</script><img src=x onerror=alert(1)>"'&`;

function issuerRecord(id: string, subject = `CN=CA ${id}`): IssuerRecord {
  return {
    id,
    subject,
    responderUrl: `http://ocsp.${id}.example/`,
    certificate: "",
    hashes: {} as IssuerRecord["hashes"],
    notAfter: "2036-01-01T00:00:00Z",
    createdAt: "2026-11-01T00:00:00Z",
  };
}

function health(issuerId: string, extra: Partial<IssuerHealth> = {}): IssuerHealth {
  return {
    issuerId,
    subject: `CN=CA ${issuerId}`,
    responderUrl: `http://ocsp.${issuerId}.example/`,
    fetches: 4,
    errors: 0,
    rejections: 0,
    latencyMsSum: 400,
    consecutiveFailures: 0,
    lastSuccessAt: now - HOUR,
    ...extra,
  };
}

function summary(serial: string, extra: Partial<CertSummary> = {}): CertSummary {
  return {
    certIdKey: `SHA-1:aa:bb:${serial}`,
    issuerId: "ca1",
    serial,
    subject: `CN=${serial}.example`,
    mustStaple: false,
    pinned: false,
    status: "good",
    thisUpdate: now - DAY,
    nextUpdate: now + 3 * DAY,
    lastFetchAt: now - DAY,
    lastSuccessAt: now - DAY,
    failures: 0,
    ...extra,
  };
}

function snapshot(parts: Partial<LedgerSnapshot> = {}): LedgerSnapshot {
  return { counters: {}, issuers: [], certs: [], failures: [], ...parts };
}

const page = (
  snap: LedgerSnapshot,
  issuers: IssuerRecord[] = [],
  query: Partial<StatusQuery> = {},
) =>
  renderStatusPage({
    ledger: statusOf(snap, { now, mustStapleMarginMs: MARGIN, ...query }),
    issuers,
    now,
  });

/** The scrape of a snapshot: by default as GET /metrics, `all` as GET /metrics?certificates=all. */
const scrape = (
  snap: LedgerSnapshot,
  certificates: MetricsQuery["certificates"] = "troubled",
  memoryEntries = 0,
) =>
  renderMetrics(metricsOf(snap, { now, mustStapleMarginMs: MARGIN, certificates }), now, {
    memoryEntries,
  });

/** A sample's value in a scrape, undefined when the series is absent. */
function sample(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`ocsp_relay_${series} `));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(" ") + 1));
}

interface Element {
  tag: string;
  attrs: Record<string, string>;
  text: string;
}

/** Every element matching `selector`, with its attributes and its text (descendants included). */
async function select(html: string, selector: string): Promise<Element[]> {
  const found: Element[] = [];
  const open: Element[] = [];
  await new HTMLRewriter()
    .on(selector, {
      element(e) {
        const el: Element = { tag: e.tagName, attrs: Object.fromEntries(e.attributes), text: "" };
        found.push(el);
        open.push(el);
        e.onEndTag(() => void open.pop());
      },
    })
    .on("*", {
      text(t) {
        for (const el of open) el.text += t.text;
      },
    })
    .transform(new Response(html))
    .text();
  return found.map((el) => ({
    tag: el.tag,
    attrs: Object.fromEntries(Object.entries(el.attrs).map(([k, v]) => [k, decodeEntities(v)])),
    text: decodeEntities(el.text).replace(/\s+/g, " ").trim(),
  }));
}

/** Text as a browser shows it (numeric and the five named entities). */
function decodeEntities(s: string): string {
  const named: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };
  return s
    .replace(/&#(\d+);/g, (_, n: string) => String.fromCharCode(Number(n)))
    .replace(/&([a-z]+);/g, (m, n: string) => named[n] ?? m);
}

describe("duration", () => {
  it.each([
    [0, "0s"],
    [59 * S, "59s"],
    [61 * S, "1m 1s"],
    [HOUR, "1h 0m"],
    [2 * HOUR + 5 * MIN + 30 * S, "2h 5m"],
    [DAY + HOUR + MIN, "1d 1h"],
    [9 * DAY, "9d 0h"],
    [-90 * S, "-1m 30s"],
  ])("%i ms reads %s", (ms, text) => {
    expect(duration(ms)).toBe(text);
  });
});

describe("windowLeft", () => {
  const w = { thisUpdate: now - DAY, nextUpdate: now + 3 * DAY };
  it.each([
    ["at the start of the window", now - DAY, 1],
    ["a quarter in", now, 0.75],
    ["half-way", now + DAY, 0.5],
    ["at nextUpdate", now + 3 * DAY, 0],
    ["after nextUpdate", now + 4 * DAY, 0],
    ["before thisUpdate (clock behind the CA)", now - 2 * DAY, 1],
  ])("%s", (_, at, share) => {
    expect(windowLeft(w, at)).toBeCloseTo(share, 9);
  });

  it("0 without an answer or with an empty window", () => {
    expect(windowLeft({}, now)).toBe(0);
    expect(windowLeft({ thisUpdate: now }, now)).toBe(0);
    expect(windowLeft({ thisUpdate: now, nextUpdate: now }, now - HOUR)).toBe(0);
    expect(windowLeft({ thisUpdate: now, nextUpdate: now - HOUR }, now - 2 * HOUR)).toBe(0);
  });
});

describe("atRisk", () => {
  it.each<[string, Partial<CertSummary>, boolean]>([
    ["Must-Staple, plenty left", { mustStaple: true }, false],
    ["Must-Staple, plenty left, refresh failing", { mustStaple: true, failures: 3 }, false],
    [
      "Must-Staple, under the margin, refresh fine so far",
      { mustStaple: true, nextUpdate: now + HOUR },
      false,
    ],
    [
      "Must-Staple, under the margin, refresh failing",
      { mustStaple: true, nextUpdate: now + HOUR, failures: 1 },
      true,
    ],
    ["Must-Staple, expired", { mustStaple: true, nextUpdate: now - HOUR }, true],
    ["Must-Staple, never answered", { mustStaple: true, nextUpdate: undefined }, true],
    ["no Must-Staple, expired and failing", { nextUpdate: now - HOUR, failures: 5 }, false],
    ["no Must-Staple, never answered", { nextUpdate: undefined, failures: 5 }, false],
  ])("%s → %s", (_, extra, risky) => {
    const c = summary("01", extra);
    if (extra.nextUpdate === undefined && "nextUpdate" in extra) delete c.nextUpdate;
    expect(atRisk(c, now, MARGIN)).toBe(risky);
  });
});

describe("the status page", () => {
  it("is one self-contained HTML document: no script, no external asset, no link out", async () => {
    const html = page(
      snapshot({
        issuers: [health("ca1", { consecutiveFailures: 2, lastError: "HTTP 503" })],
        certs: [summary("01"), summary("02", { mustStaple: true, nextUpdate: undefined })],
        failures: [{ at: now, certIdKey: "k", issuerId: "ca1", serial: "02", error: "HTTP 503" }],
      }),
      [issuerRecord("ca1")],
    );
    expect(html.startsWith("<!doctype html>")).toBe(true);
    expect(await select(html, "script")).toEqual([]);
    expect(await select(html, "link")).toEqual([]);
    expect(await select(html, "[src]")).toEqual([]);
    expect(await select(html, "[href]")).toEqual([]);
    expect(html).not.toMatch(/(src|href)\s*=\s*["']?\s*(https?:)?\/\//i);
    expect(html).not.toMatch(/url\(/i); // no CSS-loaded asset either
  });

  it("hostile subjects, serials, errors and URLs are shown as text, never as markup", async () => {
    const html = page(
      snapshot({
        issuers: [health("ca1", { consecutiveFailures: 1, lastError: HOSTILE })],
        certs: [
          summary("01", {
            subject: HOSTILE,
            serial: HOSTILE,
            issuerId: HOSTILE,
            certIdKey: HOSTILE,
            lastError: HOSTILE,
            failures: 1,
            mustStaple: true,
            status: "revoked",
            revocationReason: HOSTILE,
            nextUpdate: now + HOUR,
          }),
        ],
        failures: [
          { at: now, certIdKey: HOSTILE, issuerId: HOSTILE, serial: HOSTILE, error: HOSTILE },
        ],
      }),
      [{ ...issuerRecord("ca1", HOSTILE), responderUrl: `http://x/${HOSTILE}` }],
    );
    expect(await select(html, "script")).toEqual([]);
    expect(await select(html, "img")).toEqual([]);
    expect(await select(html, "[onerror]")).toEqual([]);
    expect(html).not.toContain("<script");
    expect(html).not.toContain("<img");
    // The hostile text is still there for the operator to read, in every place it was given.
    const [row] = await select(html, "tr[data-cert]");
    expect(row!.attrs["data-cert"]).toBe(HOSTILE);
    expect(row!.text).toContain(HOSTILE);
    const [issuer] = await select(html, "tr[data-issuer]");
    expect(issuer!.text).toContain(`${HOSTILE}`);
    const [failure] = await select(html, "tr[data-failure]");
    expect(failure!.text).toContain(HOSTILE);
    const [risk] = await select(html, "li[data-risk]");
    expect(risk!.text).toContain(HOSTILE);
  });

  it("lists each registered issuer with its health: ok, failing (n in a row), idle", async () => {
    const html = page(
      snapshot({
        issuers: [
          health("ca1", { fetches: 10, errors: 1, rejections: 2, latencyMsSum: 1500 }),
          health("ca2", { consecutiveFailures: 3, lastError: "HTTP 503", errors: 3 }),
        ],
      }),
      [issuerRecord("ca1"), issuerRecord("ca2"), issuerRecord("ca3")],
    );
    const rows = await select(html, "tr[data-issuer]");
    expect(rows.map((r) => [r.attrs["data-issuer"], r.attrs["data-health"]])).toEqual([
      ["ca1", "ok"],
      ["ca2", "failing"],
      ["ca3", "idle"],
    ]);
    expect(rows[0]!.text).toContain("CN=CA ca1");
    expect(rows[0]!.text).toContain("http://ocsp.ca1.example/");
    expect(rows[0]!.text).toContain("10 / 1 / 2");
    expect(rows[0]!.text).toContain("150 ms");
    expect(rows[1]!.text).toContain("failing (3 in a row)");
    expect(rows[1]!.text).toContain("HTTP 503");
    expect(rows[2]!.text).toContain("0 / 0 / 0");
    expect(html).toContain("3 issuers");
  });

  it("one row per certificate, soonest expiry first, with its status and the share of its window left", async () => {
    const html = page(
      snapshot({
        certs: [
          summary("0a", { thisUpdate: now - DAY, nextUpdate: now + 3 * DAY }), // 75 %
          summary("0b", { thisUpdate: now - 3 * DAY, nextUpdate: now + DAY }), // 25 %
          summary("0c", { status: "unknown", thisUpdate: now - HOUR, nextUpdate: now + 9 * HOUR }),
        ],
      }),
    );
    const rows = await select(html, "tr[data-cert]");
    expect(rows.map((r) => [r.attrs["data-status"], r.attrs["data-left"]])).toEqual([
      ["unknown", "90"],
      ["good", "25"],
      ["good", "75"],
    ]);
    const fills = await select(html, "tr[data-cert] .fill");
    expect(fills.map((f) => f.attrs.style)).toEqual(["width:90%", "width:25%", "width:75%"]);
    expect(fills.map((f) => f.attrs.class)).toEqual(["fill ok", "fill ok", "fill ok"]);
    expect(rows[2]!.text).toContain("75% · 3d 0h");
    expect(rows[1]!.text).toContain("25% · 1d 0h");
    expect(rows[0]!.text).toContain("CN=0c.example");
    expect(rows[0]!.text).toContain("0c");
  });

  it("a window nearly spent is drawn as low", async () => {
    const html = page(snapshot({ certs: [summary("01", { nextUpdate: now + 4 * HOUR })] }));
    const [fill] = await select(html, ".fill");
    expect(fill!.attrs.class).toBe("fill low");
    expect(fill!.attrs.style).toBe("width:14%"); // 4 h left of a 28 h window
  });

  it("an expired answer shows 'expired' and an empty bar; one never answered shows 'no answer'", async () => {
    const expired = summary("01", { thisUpdate: now - 8 * DAY, nextUpdate: now - DAY });
    const never = summary("02");
    delete never.status;
    delete never.thisUpdate;
    delete never.nextUpdate;
    const html = page(snapshot({ certs: [expired, never] }));
    const rows = await select(html, "tr[data-cert]");
    const bySerial = new Map(rows.map((r) => [r.attrs["data-cert"], r]));
    const e = bySerial.get(expired.certIdKey)!;
    expect(e.attrs["data-left"]).toBe("0");
    expect(e.text).toContain("0% · expired");
    const n = bySerial.get(never.certIdKey)!;
    expect(n.attrs["data-status"]).toBe("none");
    expect(n.attrs["data-left"]).toBe("0");
    expect(n.text).toContain("no answer");
    const fills = await select(html, ".fill");
    expect(
      fills.every((f) => f.attrs.style === "width:0%" && f.attrs.class === "fill expired"),
    ).toBe(true);
    expect(html).toContain("0 valid answer(s) of 2 certificate(s)");
  });

  it("a revoked certificate shows its reason", async () => {
    const html = page(
      snapshot({
        certs: [
          summary("01", { status: "revoked", revocationReason: "keyCompromise" }),
          summary("02", { status: "revoked" }),
        ],
      }),
    );
    const rows = await select(html, "tr[data-cert]");
    const status = await select(html, "tr[data-cert] td.st-revoked");
    expect(rows.map((r) => r.attrs["data-status"])).toEqual(["revoked", "revoked"]);
    expect(status.map((s) => s.text).sort()).toEqual(["revoked", "revoked (keyCompromise)"]);
  });

  it("the at-risk list names Must-Staple certificates failing near expiry or without an answer", async () => {
    const failing = summary("01", {
      subject: "CN=staple.example",
      mustStaple: true,
      nextUpdate: now + 2 * HOUR,
      failures: 2,
      lastError: "HTTP 503",
    });
    const noAnswer = summary("02", { subject: "CN=never.example", mustStaple: true });
    delete noAnswer.nextUpdate;
    const fine = summary("03", { mustStaple: true, failures: 1 });
    const plain = summary("04", { nextUpdate: now - HOUR, failures: 3 });
    const html = page(snapshot({ certs: [failing, noAnswer, fine, plain] }));
    const items = await select(html, "#at-risk li");
    expect(items.map((i) => i.attrs["data-risk"]).sort()).toEqual(
      [failing.certIdKey, noAnswer.certIdKey].sort(),
    );
    const text = items.map((i) => i.text).join("\n");
    expect(text).toContain("CN=staple.example: 2h 0m left — HTTP 503");
    expect(text).toContain("CN=never.example: no valid answer");
    const [row] = (await select(html, "tr[data-cert]")).filter(
      (r) => r.attrs["data-cert"] === failing.certIdKey,
    );
    expect(row!.text).toContain("Must-Staple");
  });

  it("recent failures: newest first as given, at most 20 rows", async () => {
    const failures: FailureEntry[] = Array.from({ length: 30 }, (_, i) => ({
      at: now - i * MIN,
      certIdKey: `k${i}`,
      issuerId: "ca1",
      serial: `s${i}`,
      error: `error ${i}`,
    }));
    const rows = await select(page(snapshot({ failures })), "tr[data-failure]");
    expect(rows).toHaveLength(20);
    expect(rows[0]!.text).toContain("error 0");
    expect(rows[0]!.text).toContain(new Date(now).toISOString().replace(".000", ""));
    expect(rows[19]!.text).toContain("error 19");
  });

  it("empty states say so", async () => {
    const html = page(snapshot());
    const empty = await select(html, "p.empty");
    expect(empty.map((p) => [p.attrs.id, p.text])).toEqual([
      ["at-risk", "None."],
      ["issuers", "No issuer registered yet."],
      ["certificates", "No answer fetched yet."],
      ["failures", "No failures."],
    ]);
    expect(await select(html, "table")).toEqual([]);
    expect(html).toContain("0 issuers");
  });
});

describe("/metrics exposition", () => {
  const SAMPLE = /^ocsp_relay_[a-z_]+(\{[^}]*\})? -?[0-9.]+$/;
  const busy = snapshot({
    counters: {
      'requests_total{outcome="hit",tier="memory"}': 7,
      'requests_total{outcome="miss",tier="upstream"}': 2,
      'requests_total{outcome="malformed",tier="none"}': 1,
      'upstream_fetches_total{issuer="ca1",result="ok"}': 2,
      'upstream_fetches_total{issuer="ca1",result="error"}': 1,
      'upstream_latency_seconds_sum{issuer="ca1"}': 0.3456,
      'upstream_latency_seconds_count{issuer="ca1"}': 3,
      'verification_rejections_total{reason="badSignature"}': 1,
      'alerts_sent_total{kind="certificate.revoked"}': 1,
    },
    issuers: [health("ca1", { consecutiveFailures: 1 }), health("ca2")],
    certs: [
      summary("01", { nextUpdate: now + 2 * HOUR }),
      summary("02", { nextUpdate: now + 90 * MIN + 500 }),
      summary("03", { nextUpdate: now - MIN }), // expired
      summary("04", { nextUpdate: now }), // expires right now: not valid
      (() => {
        const s = summary("05");
        delete s.nextUpdate;
        return s;
      })(),
    ],
  });
  // Every certificate's series, as /metrics?certificates=all gives them (the default is below).
  const text = scrape(busy, "all", 4);
  const lines = text.trimEnd().split("\n");
  const samples = lines.filter((l) => !l.startsWith("#"));
  const value = (series: string) => sample(text, series);
  /** The metric a sample belongs to: a histogram's _bucket, _sum and _count are its own. */
  const family = (line: string) =>
    line
      .match(/^([a-z_]+)/)![1]!
      .replace(/^(ocsp_relay_answer_time_left_seconds)_(bucket|sum|count)$/, "$1");

  it("every sample line is `name{labels} value`, ending with a newline", () => {
    expect(text.endsWith("\n")).toBe(true);
    for (const line of samples) expect(line).toMatch(SAMPLE);
    expect(lines.every((l) => l.length > 0)).toBe(true);
  });

  it("HELP and TYPE come once per metric, before its samples", () => {
    const seen = new Map<string, { help: number; type: number; first: number }>();
    lines.forEach((line, i) => {
      const m = line.match(/^# (HELP|TYPE) (\S+) (.+)$/);
      if (m) {
        const entry = seen.get(m[2]!) ?? { help: -1, type: -1, first: -1 };
        expect(entry[m[1] === "HELP" ? "help" : "type"], `duplicate ${line}`).toBe(-1);
        entry[m[1] === "HELP" ? "help" : "type"] = i;
        seen.set(m[2]!, entry);
        if (m[1] === "TYPE") expect(m[3]).toMatch(/^(counter|gauge|histogram)$/);
        return;
      }
      const name = family(line);
      const entry = seen.get(name);
      expect(entry, `no HELP/TYPE before ${line}`).toBeDefined();
      expect(entry!.help).toBeLessThan(i);
      expect(entry!.type).toBeLessThan(i);
      if (entry!.first === -1) entry!.first = i;
    });
    // A metric's samples are contiguous: nothing of another metric in between.
    const names = samples.map(family);
    const runs = names.filter((n, i) => i === 0 || names[i - 1] !== n);
    expect(new Set(runs).size).toBe(runs.length);
  });

  it("counters are carried over from the ledger as they are", () => {
    expect(value('requests_total{outcome="hit",tier="memory"}')).toBe(7);
    expect(value('requests_total{outcome="malformed",tier="none"}')).toBe(1);
    expect(value('upstream_fetches_total{issuer="ca1",result="error"}')).toBe(1);
    expect(value('upstream_latency_seconds_sum{issuer="ca1"}')).toBeCloseTo(0.346, 3);
    expect(value('verification_rejections_total{reason="badSignature"}')).toBe(1);
    expect(value('alerts_sent_total{kind="certificate.revoked"}')).toBe(1);
    expect(lines).toContain("# TYPE ocsp_relay_requests_total counter");
  });

  it("cached_entries counts only answers valid now; soonest_next_update_seconds is the nearest nextUpdate", () => {
    expect(value("cached_entries")).toBe(2);
    expect(value("soonest_next_update_seconds")).toBe(90 * 60 + 0.5);
    expect(lines).toContain("# TYPE ocsp_relay_cached_entries gauge");
    expect(value('certificate_next_update_seconds{issuer="ca1",serial="01"}')).toBe(7200);
    expect(samples.filter((l) => l.startsWith("ocsp_relay_certificate_next_update"))).toHaveLength(
      2,
    );
  });

  it("per-issuer consecutive failures and this isolate's memory entries", () => {
    expect(value('issuer_consecutive_failures{issuer="ca1"}')).toBe(1);
    expect(value('issuer_consecutive_failures{issuer="ca2"}')).toBe(0);
    expect(value("isolate_memory_entries")).toBe(4);
  });

  it("an empty ledger: cached_entries 0 and no soonest_next_update_seconds (never NaN or Infinity)", () => {
    const empty = scrape(snapshot());
    expect(empty).toContain("ocsp_relay_cached_entries 0\n");
    expect(empty).not.toContain("soonest_next_update_seconds ");
    expect(empty).not.toMatch(/NaN|Infinity/);
    for (const line of empty
      .trimEnd()
      .split("\n")
      .filter((l) => !l.startsWith("#")))
      expect(line).toMatch(SAMPLE);
  });
});

describe("/metrics by default: bounded cardinality", () => {
  const failing = (serial: string, extra: Partial<CertSummary> = {}) =>
    summary(serial, { failures: 2, lastError: "HTTP 503", ...extra });

  it("per-certificate series only for certificates at risk or failing; the others are counted", () => {
    const snap = snapshot({
      certs: [
        summary("01", { nextUpdate: now + 2 * HOUR }),
        failing("02", { nextUpdate: now + 3 * HOUR }),
        failing("03", { mustStaple: true, nextUpdate: now + HOUR }), // at risk
        summary("04", { issuerId: "ca2", nextUpdate: now + DAY }),
      ],
    });
    const text = scrape(snap);
    const perCertificate = text
      .split("\n")
      .filter((l) => l.startsWith("ocsp_relay_certificate_next_update_seconds{"));
    expect(perCertificate).toEqual([
      'ocsp_relay_certificate_next_update_seconds{issuer="ca1",serial="03"} 3600',
      'ocsp_relay_certificate_next_update_seconds{issuer="ca1",serial="02"} 10800',
    ]);
    expect(sample(text, "certificate_series_omitted")).toBe(0);
    expect(sample(text, "cached_entries")).toBe(4);
    expect(sample(text, "soonest_next_update_seconds")).toBe(3600);
    // ?certificates=all: every valid answer, in the ledger's order, as /metrics always gave them.
    expect(
      scrape(snap, "all")
        .split("\n")
        .filter((l) => l.startsWith("ocsp_relay_certificate_next_update_seconds{"))
        .map((l) => l.match(/serial="(\w+)"/)![1]),
    ).toEqual(["01", "02", "03", "04"]);
  });

  it(`at most ${MAX_CERTIFICATE_SERIES} of them: at risk first, then the soonest; the rest counted as omitted`, () => {
    const certs = Array.from({ length: 300 }, (_, i) =>
      failing(`f${i}`, { nextUpdate: now + (i + 1) * MIN }),
    );
    const risky = Array.from({ length: 5 }, (_, i) =>
      failing(`r${i}`, { mustStaple: true, nextUpdate: now + 10 * HOUR + i * MIN }),
    );
    const text = scrape(snapshot({ certs: [...certs, ...risky] }));
    const serials = [
      ...text.matchAll(/^ocsp_relay_certificate_next_update_seconds\{.*serial="(\w+)"\}/gm),
    ].map((m) => m[1]);
    expect(serials).toHaveLength(MAX_CERTIFICATE_SERIES);
    expect(serials.slice(0, 5)).toEqual(["r0", "r1", "r2", "r3", "r4"]);
    expect(serials.slice(5)).toEqual(Array.from({ length: 95 }, (_, i) => `f${i}`));
    expect(sample(text, "certificate_series_omitted")).toBe(205);
    expect(sample(text, 'certificates_failing{issuer="ca1"}')).toBe(305);
    expect(sample(text, 'certificates_at_risk{issuer="ca1"}')).toBe(5);
    expect(
      scrape(snapshot({ certs }), "all").match(/^ocsp_relay_certificate_next_update/gm),
    ).toHaveLength(300);
  });

  it("certificates by issuer and status (none: never answered), at risk, failing; every status listed", () => {
    const never = summary("05", { issuerId: "ca2", mustStaple: true, failures: 1 });
    delete never.status;
    delete never.nextUpdate;
    const text = scrape(
      snapshot({
        certs: [
          summary("01"),
          summary("02", { status: "revoked" }),
          summary("03", { status: "revoked", nextUpdate: now - DAY }),
          summary("04", { issuerId: "ca2", status: "unknown", failures: 1 }),
          never,
        ],
      }),
    );
    const expected: [string, number][] = [
      ['certificates{issuer="ca1",status="good"}', 1],
      ['certificates{issuer="ca1",status="revoked"}', 2],
      ['certificates{issuer="ca1",status="unknown"}', 0],
      ['certificates{issuer="ca1",status="none"}', 0],
      ['certificates{issuer="ca2",status="good"}', 0],
      ['certificates{issuer="ca2",status="unknown"}', 1],
      ['certificates{issuer="ca2",status="none"}', 1],
      ['certificates_at_risk{issuer="ca1"}', 0],
      ['certificates_at_risk{issuer="ca2"}', 1],
      ['certificates_failing{issuer="ca1"}', 0],
      ['certificates_failing{issuer="ca2"}', 2],
    ];
    for (const [series, n] of expected) expect(sample(text, series), series).toBe(n);
    expect(text).toContain("# TYPE ocsp_relay_certificates gauge\n");
  });

  it("a histogram per issuer of the time valid answers have left: cumulative buckets, sum, count", () => {
    const lefts = [MIN, 10 * MIN, 2 * HOUR, 2 * DAY, 10 * DAY];
    const expired = summary("ex", { nextUpdate: now - MIN });
    const text = scrape(
      snapshot({
        certs: [...lefts.map((left, i) => summary(`0${i}`, { nextUpdate: now + left })), expired],
      }),
    );
    const buckets: [string, number][] = [
      ["300", 1],
      ["900", 2],
      ["3600", 2],
      ["21600", 3],
      ["86400", 3],
      ["259200", 4],
      ["604800", 4],
      ["+Inf", 5],
    ];
    for (const [le, n] of buckets)
      expect(sample(text, `answer_time_left_seconds_bucket{issuer="ca1",le="${le}"}`), le).toBe(n);
    expect(sample(text, 'answer_time_left_seconds_count{issuer="ca1"}')).toBe(5);
    expect(sample(text, 'answer_time_left_seconds_sum{issuer="ca1"}')).toBe(
      lefts.reduce((a, b) => a + b, 0) / 1000,
    );
    expect(text).toContain("# TYPE ocsp_relay_answer_time_left_seconds histogram\n");
  });

  it("the series that are not per certificate keep their names, labels, HELP and TYPE", () => {
    const text = scrape(
      snapshot({
        counters: { 'requests_total{outcome="hit",tier="memory"}': 1 },
        issuers: [health("ca1")],
        certs: [summary("01")],
      }),
    );
    for (const line of [
      "# HELP ocsp_relay_requests_total OCSP requests answered, by outcome and by the tier that answered.",
      "# TYPE ocsp_relay_requests_total counter",
      "# HELP ocsp_relay_cached_entries Certificates with an answer that is valid now.",
      "# TYPE ocsp_relay_cached_entries gauge",
      "# HELP ocsp_relay_soonest_next_update_seconds Seconds until the soonest nextUpdate among valid answers (unknown answers: their shorter serving time).",
      "# TYPE ocsp_relay_soonest_next_update_seconds gauge",
      "# HELP ocsp_relay_issuer_consecutive_failures Consecutive failed fetches from the issuer's responder.",
      "# TYPE ocsp_relay_issuer_consecutive_failures gauge",
      "# HELP ocsp_relay_isolate_memory_entries Answers held in the memory of the isolate that served this scrape.",
      "# TYPE ocsp_relay_isolate_memory_entries gauge",
      'ocsp_relay_requests_total{outcome="hit",tier="memory"} 1',
      'ocsp_relay_issuer_consecutive_failures{issuer="ca1"} 0',
    ])
      expect(text.split("\n")).toContain(line);
  });
});

describe("the status page at scale: summary, search, pages", () => {
  /** `n` certificates of ca1 whose nextUpdate grows with their number (c0000 expires first). */
  const many = (n: number, extra: (i: number) => Partial<CertSummary> = () => ({})) =>
    Array.from({ length: n }, (_, i) => {
      const serial = `c${String(i).padStart(4, "0")}`;
      return summary(serial, { nextUpdate: now + HOUR + i * MIN, ...extra(i) });
    });
  const serialsOf = async (html: string) =>
    (await select(html, "tr[data-cert] code")).filter((_, i) => i % 2 === 0).map((c) => c.text);

  it("a summary: certificates by issuer and status, valid now, at risk, failing, and all issuers", async () => {
    const never = summary("09", { issuerId: "ca2", mustStaple: true });
    delete never.status;
    delete never.nextUpdate;
    const html = page(
      snapshot({
        certs: [
          summary("01"),
          summary("02", { status: "revoked", nextUpdate: now - HOUR }),
          summary("03", { failures: 1, lastError: "HTTP 503" }),
          never,
        ],
      }),
      [issuerRecord("ca1"), issuerRecord("ca2")],
    );
    const rows = await select(html, "#summary tr[data-summary]");
    expect(rows.map((r) => [r.attrs["data-summary"], r.attrs["data-total"]])).toEqual([
      ["ca1", "3"],
      ["ca2", "1"],
      ["all", "4"],
    ]);
    const cells = (await select(html, "#summary tr[data-summary] td")).map((td) => td.text);
    // issuer, certificates, good, revoked, unknown, no answer, valid now, at risk, failing
    expect(cells.slice(1, 9)).toEqual(["3", "2", "1", "0", "0", "2", "0", "1"]);
    expect(cells.slice(10, 18)).toEqual(["1", "0", "0", "0", "1", "0", "1", "0"]);
    expect(cells.slice(18)).toEqual(["all issuers", "4", "2", "1", "0", "1", "2", "1", "1"]);
    expect(cells[0]).toContain("CN=CA ca1");
    // The issuers' own table still has one row per registered issuer, the summary none of them.
    expect(await select(html, "tr[data-issuer]")).toHaveLength(2);
  });

  it(`${PAGE_SIZE} rows a page, links to the others (this page's own query only), past the end the last page`, async () => {
    const snap = snapshot({ certs: many(250) });
    const first = page(snap);
    expect(await serialsOf(first)).toEqual(many(100).map((c) => c.serial));
    const [shown] = await select(first, "#shown");
    expect(shown!.attrs).toMatchObject({
      "data-matched": "250",
      "data-page": "1",
      "data-pages": "3",
    });
    expect(shown!.text).toContain("1–100 of 250 certificate(s)");
    const links = await select(first, "nav.pages a");
    expect(new Set(links.map((a) => a.attrs.href))).toEqual(new Set(["?page=2", "?page=3"]));
    for (const a of await select(first, "[href]")) expect(a.attrs.href).toMatch(/^\?/);

    const third = page(snap, [], { page: 3 });
    expect(await serialsOf(third)).toEqual(
      many(250)
        .slice(200)
        .map((c) => c.serial),
    );
    expect(await serialsOf(page(snap, [], { page: 9 }))).toEqual(await serialsOf(third));
    const back = await select(third, 'nav.pages a[rel="prev"]');
    expect(back[0]!.attrs.href).toBe("?page=2");
  });

  it("at risk first, then failing, then soonest nextUpdate, across pages", async () => {
    const certs = many(150, (i) =>
      i === 149
        ? { mustStaple: true, failures: 1, nextUpdate: now + 2 * HOUR + 149 * MIN } // at risk
        : i === 120
          ? { failures: 3, lastError: "HTTP 503" } // failing, not at risk
          : {},
    );
    const serials = await serialsOf(page(snapshot({ certs })));
    expect(serials.slice(0, 3)).toEqual(["c0149", "c0120", "c0000"]);
    expect(await serialsOf(page(snapshot({ certs }), [], { page: 2 }))).toEqual(
      many(150)
        .filter((_, i) => i !== 149 && i !== 120)
        .slice(98)
        .map((c) => c.serial),
    );
  });

  it("?q= finds certificates by serial (any case, colons ignored) or subject; the links keep it", async () => {
    const certs = [
      ...many(300),
      summary("0A1B2C", { subject: "CN=shop.example.net" }),
      summary("ff00", { subject: "CN=Shop.Example.org" }),
    ];
    const bySerial = page(snapshot({ certs }), [], { q: "0a:1b" });
    expect(await serialsOf(bySerial)).toEqual(["0A1B2C"]);
    expect(bySerial).toMatch(/<input type="search" name="q" value="0a:1b"/); // a void element
    expect(await serialsOf(page(snapshot({ certs }), [], { q: "shop.EXAMPLE" }))).toEqual([
      "0A1B2C",
      "ff00",
    ]);
    const none = page(snapshot({ certs }), [], { q: "<nothing>" });
    expect((await select(none, "#certificates"))[0]!.text).toBe(
      "No certificate matching “<nothing>”.",
    );
    // 300 matches of "c0": three pages, whose links carry the search.
    const paged = page(snapshot({ certs }), [], { q: "c0 &x" });
    expect(await select(paged, "tr[data-cert]")).toHaveLength(0);
    const c0 = page(snapshot({ certs }), [], { q: "C0" });
    expect(await select(c0, "tr[data-cert]")).toHaveLength(PAGE_SIZE);
    const hrefs = (await select(c0, "nav.pages a")).map((a) => a.attrs.href);
    expect(hrefs).toContain("?q=C0&page=2");
    expect(hrefs).toContain("?q=C0&page=3");
  });

  it(`the at-risk list names at most ${AT_RISK_LISTED}, soonest first, and counts the rest`, async () => {
    const certs = many(80, (i) => ({
      mustStaple: true,
      failures: 1,
      nextUpdate: now + (80 - i) * MIN,
    }));
    const html = page(snapshot({ certs }));
    const items = await select(html, "#at-risk li");
    expect(items).toHaveLength(AT_RISK_LISTED);
    expect(items[0]!.attrs["data-risk"]).toBe(certs[79]!.certIdKey);
    expect((await select(html, "#at-risk-more"))[0]!.text).toBe(
      "30 more not listed here: they lead the certificate table.",
    );
  });

  it(`a page beyond the first ${ROWS_HELD} rows takes a second pass: the rows a full sort gives`, () => {
    const n = ROWS_HELD + 2345;
    const certs = Array.from({ length: n }, (_, i) =>
      summary(`s${i}`, {
        certIdKey: `k${i}`,
        nextUpdate: now + HOUR + (i % 37) * MIN, // many ties: key order decides between them
        failures: i % 11 === 0 ? 1 : 0,
        mustStaple: i % 13 === 0,
      }),
    );
    const rank = (c: CertSummary) => (atRisk(c, now, MARGIN) ? 0 : c.failures > 0 ? 1 : 2);
    const sorted = certs
      .map((c, i) => ({ c, i }))
      .sort((a, b) => rank(a.c) - rank(b.c) || a.c.nextUpdate! - b.c.nextUpdate! || a.i - b.i)
      .map(({ c }) => c.serial);
    const last = Math.ceil(n / PAGE_SIZE);
    for (const p of [
      1,
      ROWS_HELD / PAGE_SIZE,
      ROWS_HELD / PAGE_SIZE + 1,
      last - 1,
      last,
      last + 5,
    ]) {
      const status = statusOf(snapshot({ certs }), { now, mustStapleMarginMs: MARGIN, page: p });
      const shown = Math.min(p, last);
      expect(status.certificates.page).toBe(shown);
      expect(
        status.certificates.rows.map((c) => c.serial),
        `page ${p}`,
      ).toEqual(sorted.slice((shown - 1) * PAGE_SIZE, shown * PAGE_SIZE));
    }
  });

  it.each<[string, { q?: string; page?: string }, ReturnType<typeof statusQuery>]>([
    ["nothing", {}, { ok: true, q: "", page: 1 }],
    [
      "a search, trimmed, and a page",
      { q: "  shop ", page: "3" },
      { ok: true, q: "shop", page: 3 },
    ],
    ["an empty page", { page: "" }, { ok: true, q: "", page: 1 }],
    ["the last page accepted", { page: String(MAX_PAGE) }, { ok: true, q: "", page: MAX_PAGE }],
  ])("statusQuery: %s", (_, params, expected) => {
    expect(statusQuery(params)).toEqual(expected);
  });

  it.each<[string, { q?: string; page?: string }]>([
    ["page 0", { page: "0" }],
    ["a negative page", { page: "-1" }],
    ["a fraction", { page: "1.5" }],
    ["words", { page: "two" }],
    ["a page too far", { page: String(MAX_PAGE + 1) }],
    ["a search too long", { q: "x".repeat(MAX_QUERY_CHARS + 1) }],
  ])("statusQuery refuses %s", (_, params) => {
    expect(statusQuery(params).ok).toBe(false);
  });
});
