// wrk's command line and report as the benchmark uses them (scripts/bench/wrk.ts), on real wrk
// 4.1.0 output.

import { describe, expect, it } from "vitest";
import {
  cleanRun,
  cycleScript,
  parseDurationMs,
  parseSizeBytes,
  parseWrk,
  wrkArgs,
} from "../../scripts/bench/wrk.ts";

const CLEAN = `Running 2s test @ http://127.0.0.1:18788/
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     4.32ms    3.29ms  35.52ms   93.28%
    Req/Sec     4.06k     0.88k    5.63k    67.50%
  Latency Distribution
     50%    3.55ms
     75%    4.68ms
     90%    6.46ms
     99%   22.02ms
  16172 requests in 2.00s, 8.96MB read
Requests/sec:   8071.99
Transfer/sec:      4.47MB
`;

const ERRORS = `Running 1s test @ http://127.0.0.1:18787/nonexistent
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   760.00us  120.50us   1.02s    90.00%
    Req/Sec     1.85k   200.00     2.10k    70.00%
  Latency Distribution
     50%  740.00us
     75%  800.00us
     90%    1.10ms
     99%    1.50s
  3704 requests in 1.01s, 614.92KB read
  Socket errors: connect 0, read 3, write 1, timeout 7
  Non-2xx or 3xx responses: 3704
Requests/sec:   3675.88
Transfer/sec:    610.25KB
`;

describe("parseWrk", () => {
  it("reads requests/s, totals and the latency distribution", () => {
    const r = parseWrk(CLEAN);
    expect(r.rps).toBe(8071.99);
    expect(r.requests).toBe(16172);
    expect(r.durationS).toBe(2);
    expect(r.transferPerSec).toBeCloseTo(4.47 * 1024 * 1024);
    expect(r.latencyMs).toEqual({
      avg: 4.32,
      stdev: 3.29,
      max: 35.52,
      p50: 3.55,
      p75: 4.68,
      p90: 6.46,
      p99: 22.02,
    });
    expect(r.errors).toEqual({ connect: 0, read: 0, write: 0, timeout: 0 });
    expect(r.non2xx).toBe(0);
    expect(cleanRun(r)).toBe(true);
  });

  it("converts microseconds and seconds, and reads errors and non-2xx answers", () => {
    const r = parseWrk(ERRORS);
    expect(r.latencyMs.p50).toBeCloseTo(0.74);
    expect(r.latencyMs.avg).toBeCloseTo(0.76);
    expect(r.latencyMs.p99).toBe(1500);
    expect(r.latencyMs.max).toBe(1020);
    expect(r.durationS).toBeCloseTo(1.01);
    expect(r.errors).toEqual({ connect: 0, read: 3, write: 1, timeout: 7 });
    expect(r.non2xx).toBe(3704);
    expect(r.transferPerSec).toBeCloseTo(610.25 * 1024);
    expect(cleanRun(r)).toBe(false);
  });

  it("throws on output without a report (wrk failed to connect)", () => {
    expect(() => parseWrk("unable to connect to 127.0.0.1:1 Connection refused\n")).toThrow(
      /Requests\/sec|totals/,
    );
  });

  it("throws when run without --latency", () => {
    const noDistribution = CLEAN.replace(/ {2}Latency Distribution[\s\S]*?99%.*\n/, "");
    expect(() => parseWrk(noDistribution)).toThrow(/50% latency/);
  });
});

describe("wrk units", () => {
  it.each([
    ["760.00us", 0.76],
    ["1.23ms", 1.23],
    ["2.00s", 2000],
    ["1.50m", 90_000],
    ["1h", 3_600_000],
  ])("%s is %f ms", (text, ms) => {
    expect(parseDurationMs(text)).toBeCloseTo(ms);
  });

  it.each([
    ["512.00B", 512],
    ["1.00KB", 1024],
    ["8.96MB", 8.96 * 1024 ** 2],
    ["2.00GB", 2 * 1024 ** 3],
  ])("%s is %f bytes", (text, bytes) => {
    expect(parseSizeBytes(text)).toBeCloseTo(bytes);
  });

  it("refuses what is not a wrk quantity", () => {
    expect(() => parseDurationMs("fast")).toThrow();
    expect(() => parseDurationMs("12")).toThrow();
    expect(() => parseSizeBytes("12 MB")).toThrow();
  });
});

describe("wrkArgs", () => {
  it("always asks for the latency distribution, URL last", () => {
    expect(
      wrkArgs({ url: "http://127.0.0.1:1/x", threads: 2, connections: 32, durationS: 10 }),
    ).toEqual(["-t2", "-c32", "-d10s", "--timeout", "2s", "--latency", "http://127.0.0.1:1/x"]);
  });

  it("passes the Lua script, and its arguments after --", () => {
    const args = wrkArgs({
      url: "http://127.0.0.1:1",
      threads: 2,
      connections: 32,
      durationS: 3,
      script: { path: "/tmp/cycle.lua", args: ["/tmp/paths.txt", "1000"] },
    });
    expect(args.slice(-6)).toEqual([
      "-s",
      "/tmp/cycle.lua",
      "http://127.0.0.1:1",
      "--",
      "/tmp/paths.txt",
      "1000",
    ]);
  });

  it("refuses settings wrk would reject or misread", () => {
    const base = { url: "http://127.0.0.1:1", threads: 2, connections: 32, durationS: 1 };
    expect(() => wrkArgs({ ...base, threads: 0 })).toThrow(RangeError);
    expect(() => wrkArgs({ ...base, connections: 1 })).toThrow(RangeError);
    expect(() => wrkArgs({ ...base, durationS: 0 })).toThrow(RangeError);
  });
});

describe("cycleScript", () => {
  it("defines setup, init and request, reads the paths file and the count from its arguments", () => {
    const lua = cycleScript();
    expect(lua).toMatch(/^function setup\(thread\)$/m);
    expect(lua).toMatch(/^function init\(args\)$/m);
    expect(lua).toMatch(/^function request\(\)$/m);
    expect(lua).toContain("io.lines(file)");
    expect(lua).toContain("tonumber(args[2])");
    expect(lua).toContain('wrk.format("GET", line)');
  });
});
