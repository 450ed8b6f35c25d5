// The rules of `ocsp-relay staple` over many certificates (src/cli/staple-plan.ts and the crt-list
// reader of staple-targets.ts), as tables: which answer a file keeps, the exit code a monitor
// reads, the summary line, when --watch wakes.

import { describe, expect, it } from "vitest";
import {
  EXIT,
  exitCode,
  MAX_SLEEP_MS,
  MIN_SLEEP_MS,
  nextAttempt,
  refreshPoint,
  replaces,
  sleepUntil,
  summaryLine,
  type FileState,
  type Outcome,
  type RunReport,
} from "../../src/cli/staple-plan.ts";
import { parseCrtList } from "../../src/cli/staple-targets.ts";

const MIN = 60_000;
const HOUR = 60 * MIN;
const T0 = Date.UTC(2026, 11, 4, 12, 0, 0);
/** An answer like a CA's: thisUpdate T0, valid a week. */
const WEEK = { thisUpdate: T0, nextUpdate: T0 + 7 * 24 * HOUR };

const valid = (status: "good" | "revoked" = "good"): FileState & { kind: "valid" } => ({
  kind: "valid",
  status,
  times: WEEK,
});
const fresh: Outcome = { kind: "fresh", file: valid() };
const updated: Outcome = { kind: "updated", file: valid() };
const failedKept: Outcome = { kind: "failed", why: "relay down", file: valid() };
const failedMissing: Outcome = { kind: "failed", why: "relay down", file: { kind: "missing" } };
const failedUnusable: Outcome = {
  kind: "failed",
  why: "relay down",
  file: { kind: "unusable", why: "expired" },
};
const report = (outcomes: Outcome[], extra: Partial<RunReport> = {}): RunReport => ({
  outcomes,
  pushed: 0,
  pushFailed: 0,
  reload: "none",
  ...extra,
});

describe("crt-list (HAProxy's format)", () => {
  it("takes the first field of each line, skips comments and blank lines, resolves against crt-base", () => {
    const text = [
      "# certificates of the https frontend",
      "/etc/haproxy/certs/a.pem",
      "b.pem [alpn h2,http/1.1 ocsp-update off] www.example.com !*.example.org",
      "  c.pem\t*.example.net",
      "d.pem[ssl-min-ver TLSv1.2]",
      "",
      "\r",
      "@store/site",
      "/abs/e.pem\r",
    ].join("\n");
    expect(parseCrtList(text, "/etc/haproxy/certs")).toEqual({
      entries: [
        { path: "/etc/haproxy/certs/a.pem", line: 2 },
        { path: "/etc/haproxy/certs/b.pem", line: 3 },
        { path: "/etc/haproxy/certs/c.pem", line: 4 },
        { path: "/etc/haproxy/certs/d.pem", line: 5 },
        { path: "/abs/e.pem", line: 9 },
      ],
      skipped: [{ line: 8, path: "@store/site" }],
    });
  });

  it("an empty list has no entries", () => {
    expect(parseCrtList("# nothing\n\n", "/x").entries).toEqual([]);
  });
});

describe("which answer the file keeps", () => {
  const bytes = (n: number) => new Uint8Array([n, n, n]);
  const later = { thisUpdate: T0 + HOUR, nextUpdate: WEEK.nextUpdate + HOUR };
  const earlier = { thisUpdate: T0 - HOUR, nextUpdate: WEEK.nextUpdate - HOUR };
  const cases: [string, Parameters<typeof replaces>[1], Parameters<typeof replaces>[0], boolean][] =
    [
      ["no file: written", undefined, { bytes: bytes(1), times: WEEK }, true],
      ["the same bytes: untouched", { bytes: bytes(1), state: valid() }, { bytes: bytes(1), times: WEEK }, false],
      ["a newer answer: written", { bytes: bytes(1), state: valid() }, { bytes: bytes(2), times: later }, true],
      ["an older answer (another edge): the file stays", { bytes: bytes(1), state: valid() }, { bytes: bytes(2), times: earlier }, false],
      ["an unusable file: replaced even by an older answer", { bytes: bytes(1), state: { kind: "unusable", why: "expired" } }, { bytes: bytes(2), times: earlier }, true],
    ]; // prettier-ignore
  it.each(cases)("%s", (_, file, fetched, expected) => {
    expect(replaces(fetched, file)).toBe(expected);
  });
});

describe("exit code: 0 all fresh, 1 failed but every file valid, 3 a certificate without a valid staple", () => {
  const cases: [string, RunReport, number][] = [
    ["all fresh or updated", report([fresh, updated, fresh]), EXIT.ok],
    ["a failure, its file still valid", report([fresh, failedKept]), EXIT.degraded],
    ["a revoked certificate (its answer written)", report([fresh, { kind: "updated", file: valid("revoked") }]), EXIT.degraded],
    ["HAProxy refused a push", report([updated], { pushed: 1, pushFailed: 1 }), EXIT.degraded],
    ["the reload command failed", report([updated], { reload: { code: 1 } }), EXIT.degraded],
    ["the reload command ran", report([updated], { reload: { code: 0 } }), EXIT.ok],
    ["a failure and its file missing", report([fresh, failedKept, failedMissing]), EXIT.noStaple],
    ["a failure and its file expired", report([failedUnusable]), EXIT.noStaple],
    ["a failure and its file expiring within --min-validity", report([{ kind: "failed", why: "x", file: { kind: "expiring", times: WEEK } }]), EXIT.noStaple],
  ]; // prettier-ignore
  it.each(cases)("%s", (_, r, code) => {
    expect(exitCode(r)).toBe(code);
  });
  it("3 is not the usage error's 2", () => {
    expect(new Set(Object.values(EXIT)).size).toBe(4);
  });
});

describe("summary line", () => {
  it("counts each kind, what HAProxy took, the reload, and when the next refresh is due", () => {
    const outcomes = [...Array<Outcome>(48).fill(fresh), updated, updated];
    expect(
      summaryLine(
        report(outcomes, { pushed: 2, reload: { code: 0 } }),
        "next refresh due in 3h 12m",
      ),
    ).toBe(
      "staple: 50 certificates, 48 fresh, 2 updated, 0 failed; pushed 2 to HAProxy; reloaded; next refresh due in 3h 12m",
    );
  });
  it("says loudly what is revoked, missing, refused or failed", () => {
    const outcomes = [fresh, { kind: "updated", file: valid("revoked") } as Outcome, failedMissing];
    expect(summaryLine(report(outcomes, { pushed: 1, pushFailed: 1, reload: { code: 2 } }), undefined)).toBe(
      "staple: 3 certificates, 1 fresh, 1 updated, 1 failed, 1 REVOKED, 1 without a usable staple; pushed 0 to HAProxy (1 refused); reload FAILED (exit 2)",
    ); // prettier-ignore
    expect(summaryLine(report([fresh]), undefined)).toBe(
      "staple: 1 certificate, 1 fresh, 0 updated, 0 failed",
    );
  });
});

describe("watch schedule", () => {
  it("the refresh point is halfway, or earlier when --min-validity asks for it", () => {
    expect(refreshPoint(WEEK, 0)).toBe(T0 + 84 * HOUR);
    expect(refreshPoint({ thisUpdate: T0, nextUpdate: T0 + 10 * MIN }, 0)).toBe(T0 + 5 * MIN);
    expect(refreshPoint({ thisUpdate: T0, nextUpdate: T0 + 2 * HOUR }, 90 * MIN)).toBe(
      T0 + 30 * MIN,
    );
  });

  const base = { minValidityMs: 0, random: 0 };
  const cases: [string, Parameters<typeof nextAttempt>[0], number][] = [
    ["a fresh week-long answer: at its midpoint", { ...base, now: T0, times: WEEK, failures: 0 }, T0 + 84 * HOUR],
    ["with jitter: up to an hour earlier", { ...base, now: T0, times: WEEK, failures: 0, random: 0.999_999 }, T0 + 84 * HOUR - 0.999_999 * HOUR],
    ["a 10-minute answer: jitter at most a tenth of its span", { ...base, now: T0, times: { thisUpdate: T0, nextUpdate: T0 + 10 * MIN }, failures: 0, random: 0.5 }, T0 + 5 * MIN - 30_000],
    ["past the midpoint, the relay had the same answer: an hour later", { ...base, now: T0 + 100 * HOUR, times: WEEK, failures: 0 }, T0 + 101 * HOUR],
    ["first failure, no file: a minute", { ...base, now: T0, times: undefined, failures: 1 }, T0 + MIN],
    ["third failure: four minutes", { ...base, now: T0, times: undefined, failures: 3 }, T0 + 4 * MIN],
    ["tenth failure: at most an hour", { ...base, now: T0, times: undefined, failures: 10 }, T0 + HOUR],
    ["failing with 20 minutes left: within a quarter of it", { ...base, now: WEEK.nextUpdate - 20 * MIN, times: WEEK, failures: 9 }, WEEK.nextUpdate - 15 * MIN],
    ["failing with a minute left: still a minute apart", { ...base, now: WEEK.nextUpdate - MIN, times: WEEK, failures: 9 }, WEEK.nextUpdate],
    ["backoff jitter: up to a fifth earlier", { ...base, now: T0, times: undefined, failures: 1, random: 0.5 }, T0 + 0.9 * MIN],
  ]; // prettier-ignore
  it.each(cases)("%s", (_, input, expected) => {
    expect(nextAttempt(input)).toBeCloseTo(expected, -1);
  });

  it("never asks before now", () => {
    for (let r = 0; r < 1; r += 0.1) {
      const times = { thisUpdate: T0, nextUpdate: T0 + 2 * MIN };
      expect(nextAttempt({ ...base, now: T0 + 59_000, times, failures: 0, random: r })).toBeGreaterThanOrEqual(T0 + 59_000);
    } // prettier-ignore
  });

  it("the watch sleeps until the earliest due, at least 30 s, at most an hour", () => {
    expect(sleepUntil([T0 + 10 * MIN, T0 + 5 * MIN], T0)).toBe(5 * MIN);
    expect(sleepUntil([T0 - HOUR], T0)).toBe(MIN_SLEEP_MS);
    expect(sleepUntil([T0 + 3 * 24 * HOUR], T0)).toBe(MAX_SLEEP_MS);
    expect(sleepUntil([], T0)).toBe(MAX_SLEEP_MS);
  });
});
