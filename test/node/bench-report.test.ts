// The benchmark's report (scripts/bench/report.ts, markdown.ts, profile.ts): medians and ratios
// from the runs, the targets, the Markdown tables and the one-line JSON summary printed last.

import { describe, expect, it } from "vitest";
import { bundleModuleAt, topSelfTime, type CpuProfile } from "../../scripts/bench/profile.ts";
import { fmtInt, fmtMs, renderMarkdown, table } from "../../scripts/bench/markdown.ts";
import {
  diffOps,
  parseCallgrindTotal,
  parseOps,
  seriesStats,
  summaryLine,
  targets,
  ZERO_OPS,
  type BenchResults,
  type Ops,
  type Series,
} from "../../scripts/bench/report.ts";
import type { WrkResult } from "../../scripts/bench/wrk.ts";

function run(rps: number, p50: number, p99: number, extra: Partial<WrkResult> = {}): WrkResult {
  return {
    requests: rps * 10,
    durationS: 10,
    rps,
    transferPerSec: rps * 1000,
    latencyMs: { avg: p50, stdev: 1, max: p99 * 2, p50, p75: p50, p90: p99, p99 },
    errors: { connect: 0, read: 0, write: 0, timeout: 0 },
    non2xx: 0,
    ...extra,
  };
}

const series = (label: string, runs: WrkResult[]): Series => ({ label, runs });
const ops = (o: Partial<Ops>): Ops => ({ ...ZERO_OPS, ...o });

function results(over: Partial<BenchResults> = {}): BenchResults {
  return {
    startedAt: "2026-11-28T16:00:00.000Z",
    command: "npm run bench -- --quick",
    quick: true,
    elapsedS: 95.4,
    machine: { nproc: "2", cpu: "AMD EPYC", kernel: "Linux 6.18", node: "v22.23.3" },
    settings: {
      threads: 2,
      connections: 32,
      durationS: 3,
      reps: 3,
      scalingReps: 1,
      scalingDurationS: 3,
      certs: 2000,
      scalingSets: [10, 1000, 2000],
      faninClients: 1000,
      faninCerts: 50,
      network: "loopback",
      storage: "in memory",
      kv: "in-memory KV worker",
    },
    hit: {
      answerBytes: 674,
      nginxBytes: 672,
      relay: series("relay", [run(18_000, 1.5, 3.0), run(19_000, 1.4, 2.8), run(17_000, 1.6, 3.3)]),
      floor: series("floor", [run(20_000, 1.3, 2.5), run(20_500, 1.3, 2.6), run(19_500, 1.2, 2.4)]),
      floorHeaders: series("floor + headers", [run(19_000, 1.4, 2.7)]),
      nginx: series("nginx", [run(90_000, 0.3, 1.0), run(95_000, 0.3, 1.1), run(96_000, 0.3, 0.9)]),
    },
    fanin: {
      clients: 1000,
      certs: 50,
      gets: 500,
      posts: 500,
      answered200: 1000,
      upstreamFetches: 50,
      distinctCertsFetched: 50,
      maxFetchesPerCert: 1,
      secondWaveFetches: 0,
      relayOps: null,
      ms: 2500,
    },
    cost: {
      sharedIsolate: true,
      rows: [
        { path: "hit", requests: 540_000, ops: ops({ requests: 540_000 }) },
        {
          path: "miss",
          requests: 1999,
          ops: ops({
            requests: 1999,
            kvReads: 1999,
            kvWrites: 1999,
            cacheReads: 1999,
            cacheWrites: 1999,
            ownerCalls: 1999,
            upstreamFetches: 1999,
            verifications: 1999,
          }),
        },
      ],
    },
    memory: {
      certsCached: 2000,
      answerBytes: 674,
      tierCap: { entries: 10_000, bytes: 32 * 1024 * 1024 },
      rssIdleKiB: 75_000,
      rssAfterHitsKiB: 80_000,
      rssAfterWarmKiB: 300_000,
      rssEndKiB: 320_000,
      hwmKiB: 350_000,
      heapUsedIdle: 2_500_000,
      heapUsedEnd: 7_500_000,
    },
    warm: { certs: 1999, ms: 14_000, touchMs: 2000 },
    scaling: {
      floorLua: series("floor (Lua)", [run(15_000, 2, 4)]),
      points: [10, 1000, 2000].map((certs) => ({
        certs,
        relay: series(`relay ${certs}`, [run(14_000 - certs, 2, 4)]),
        memoryHits: 1,
        ops: ops({ requests: 140_000 }),
      })),
    },
    profile: null,
    contention: { median: 0.012, max: 0.05, runs: 13 },
    notes: ["a note"],
    ...over,
  };
}

describe("seriesStats", () => {
  it("takes medians of requests/s and of each run's p50 and p99", () => {
    const s = seriesStats(results().hit.relay);
    expect(s.rps).toBe(18_000);
    expect(s.p50).toBe(1.5);
    expect(s.p99).toBe(3.0);
    expect(s.spread).toBeCloseTo(2000 / 18_000);
    expect(s.clean).toBe(true);
  });

  it("is not clean when a run had errors or non-2xx answers", () => {
    const s = seriesStats(series("x", [run(1, 1, 1), run(1, 1, 1, { non2xx: 3 })]));
    expect(s.clean).toBe(false);
  });
});

describe("summaryLine", () => {
  const line = summaryLine(results(), "bench-results/latest.json");

  it("has every field the issue asks for", () => {
    for (const key of [
      "hit_rps",
      "floor_rps",
      "nginx_rps",
      "hit_vs_floor",
      "hit_vs_nginx",
      "p99_ms",
      "floor_p99_ms",
      "fanin_clients",
      "fanin_certs",
      "fanin_upstream_fetches",
      "kv_reads_per_hit",
      "verifications_per_hit",
    ]) {
      expect(line, key).toHaveProperty(key);
    }
  });

  it("reports medians, ratios of runs side by side, and per-request costs", () => {
    expect(line).toMatchObject({
      hit_rps: 18_000,
      floor_rps: 20_000,
      nginx_rps: 95_000,
      // Median of 18/20, 19/20.5, 17/19.5 (0.9, 0.927, 0.872).
      hit_vs_floor: 0.9,
      // Median of 18/90, 19/95, 17/96 (0.2, 0.2, 0.177); the ratio of the medians would be 0.189.
      hit_vs_nginx: 0.2,
      p99_ms: 3,
      floor_p99_ms: 2.5,
      p99_vs_floor: 1.2,
      floor_headers_rps: 19_000,
      hit_vs_floor_headers: 0.947,
      floor_headers_p99_ms: 2.7,
      fanin_clients: 1000,
      fanin_certs: 50,
      fanin_upstream_fetches: 50,
      kv_reads_per_hit: 0,
      verifications_per_hit: 0,
      verifications_per_miss: 1,
      scaling_rps: { "10": 13_990, "1000": 13_000, "2000": 12_000 },
      other_cpu_median_pct: 1.2,
      other_cpu_max_pct: 5,
      targets_met: true,
      quick: true,
      results: "bench-results/latest.json",
    });
  });

  it("is one line of JSON with no NaN (nulls instead)", () => {
    const r = results();
    r.hit.floor.runs = [];
    const text = JSON.stringify(summaryLine(r, "x"));
    expect(text).not.toContain("\n");
    const parsed = JSON.parse(text) as Record<string, unknown>;
    expect(parsed["floor_rps"]).toBeNull();
    expect(parsed["hit_vs_floor"]).toBeNull();
    expect(parsed["targets_met"]).toBe(false);
  });

  it("has null costs when the relay gave no counts", () => {
    const parsed = summaryLine(results({ cost: { sharedIsolate: null, rows: [] } }), "x");
    expect(parsed["kv_reads_per_hit"]).toBeNull();
    expect(parsed["targets_met"]).toBe(false);
  });
});

describe("targets", () => {
  it("all met in the example", () => {
    expect(targets(results()).map((t) => t.met)).toEqual([true, true, true, true, true]);
  });

  it("fan-in fails with a second fetch for any certificate, even with the same total", () => {
    const r = results();
    r.fanin = { ...r.fanin, distinctCertsFetched: 49, maxFetchesPerCert: 2 };
    expect(targets(r).find((t) => t.name.startsWith("fan-in"))?.met).toBe(false);
  });

  it("KV reads on hits fail the target, and the value says how many", () => {
    const r = results();
    r.cost.rows[0] = {
      path: "hit",
      requests: 540_000,
      ops: ops({ requests: 540_000, kvReads: 6 }),
    };
    const t = targets(r).find((x) => x.name.startsWith("KV reads"));
    expect(t?.met).toBe(false);
    expect(t?.value).toContain("6 in 540000 hits");
  });
});

describe("renderMarkdown", () => {
  const md = renderMarkdown(results());

  it("has the five sections, the targets and the notes", () => {
    for (const heading of [
      "## 1. Cache hits",
      "## 2. Fan-in",
      "## 3. Cost per request",
      "## 4. Memory",
      "## 5. Scaling",
      "## Targets",
      "## Notes",
    ]) {
      expect(md).toContain(heading);
    }
    expect(md).toContain("- command: `npm run bench -- --quick`");
    expect(md).toContain("- nproc: 2");
    expect(md).toContain("| relay | 18 000 | 1.5 ms | 3 ms | 0.9× |");
    expect(md).toContain("| floor + headers | 19 000 | 1.4 ms | 2.7 ms | 0.95× |");
    expect(md).toContain("relay/that floor 0.95× req/s");
    expect(md).toContain("| 1 000 | 500 / 500 | 50 | 1 000 | 50 | 50 | 1 | 0 | 2 500 ms |");
    expect(md).toContain("| tier cap (MEMORY_LIMITS) | 10 000 entries / 32 MiB |");
  });

  it("shows the CPU profiles when there are some", () => {
    const entry = {
      functionName: "fastAnswer",
      url: "src/relay.ts (bundle line 12)",
      line: 11,
      selfMs: 12.5,
      selfPct: 40,
    };
    const withProfiles = renderMarkdown(results({ profile: [entry], profileScaling: [entry] }));
    expect(withProfiles).toContain("## Where the relay's time goes on hits");
    expect(withProfiles).toContain(
      "## Where the relay's time goes cycling through 2 000 certificates",
    );
    expect(withProfiles).toContain(
      "| fastAnswer | src/relay.ts (bundle line 12) | 12.5 ms | 40 % |",
    );
    expect(md).not.toContain("Where the relay's time goes");
  });

  it("every table row has as many cells as its header", () => {
    const lines = md.split("\n");
    for (let i = 0; i < lines.length; i++) {
      if (!lines[i]!.startsWith("| ---")) continue;
      const cells = (l: string) => l.replace(/\\\|/g, "").split("|").length;
      const n = cells(lines[i - 1]!);
      for (let j = i + 1; j < lines.length && lines[j]!.startsWith("|"); j++) {
        expect(cells(lines[j]!), lines[j]).toBe(n);
      }
    }
  });
});

describe("formatting", () => {
  it("groups thousands with a space, and formats latencies by magnitude", () => {
    expect(fmtInt(1234567.4)).toBe("1 234 567");
    expect(fmtInt(NaN)).toBe("n/a");
    expect(fmtMs(0.76)).toBe("760 µs");
    expect(fmtMs(3.456)).toBe("3.46 ms");
    expect(fmtMs(123.45)).toBe("123.5 ms");
  });

  it("table escapes | inside cells", () => {
    expect(table(["a", "b"], [["x|y", 1]])).toBe("| a | b |\n| --- | --- |\n| x\\|y | 1 |");
  });

  it("parseOps accepts the relay's counts and refuses anything else", () => {
    const counts = { ...ZERO_OPS, requests: 3, kvReads: 1 };
    expect(parseOps(counts)).toEqual(counts);
    expect(parseOps({ requests: 1 })).toBeUndefined();
    expect(parseOps(null)).toBeUndefined();
    expect(diffOps(ops({ requests: 2 }), ops({ requests: 5, kvReads: 1 }))).toEqual(
      ops({ requests: 3, kvReads: 1 }),
    );
  });
});

describe("CPU profile summary", () => {
  const profile: CpuProfile = {
    nodes: [
      { id: 1, callFrame: { functionName: "(root)", url: "", lineNumber: -1 } },
      { id: 2, callFrame: { functionName: "(idle)", url: "", lineNumber: -1 } },
      { id: 3, callFrame: { functionName: "fastAnswer", url: "relay.js", lineNumber: 41 } },
      { id: 4, callFrame: { functionName: "Headers", url: "", lineNumber: -1 } },
      { id: 5, callFrame: { functionName: "fastAnswer", url: "relay.js", lineNumber: 41 } },
    ],
    startTime: 0,
    endTime: 1000,
    samples: [3, 4, 2, 5, 3],
    timeDeltas: [0, 100, 200, 300, 400],
  };

  it("charges each sample the time until the next one, merges frames, skips idle and root", () => {
    const top = topSelfTime(profile);
    expect(top.map((e) => [e.functionName, e.selfMs])).toEqual([
      ["fastAnswer", 0.5], // samples 0 (100 µs) and 3 (400 µs)
      ["Headers", 0.2],
    ]);
    expect(top[0]!.selfPct).toBeCloseTo((0.5 / 0.7) * 100);
  });

  it("falls back to hit counts spread over the profile's duration", () => {
    const top = topSelfTime({
      nodes: [
        { id: 1, callFrame: { functionName: "a", url: "", lineNumber: 0 }, hitCount: 3 },
        { id: 2, callFrame: { functionName: "b", url: "", lineNumber: 0 }, hitCount: 1 },
      ],
      startTime: 0,
      endTime: 4000,
    });
    expect(top.map((e) => [e.functionName, e.selfMs])).toEqual([
      ["a", 3],
      ["b", 1],
    ]);
  });

  it("maps a bundle line to the module esbuild took it from", () => {
    const bundle = [
      "var x = 1;",
      "// ../../../work/main/node_modules/hono/dist/router.js",
      "function route() {}",
      "// src/relay.ts",
      "class Relay {}",
      "",
    ].join("\n");
    const at = bundleModuleAt(bundle);
    expect(at(0)).toBeUndefined();
    expect(at(2)).toBe("node_modules/hono/dist/router.js");
    expect(at(4)).toBe("src/relay.ts");
    expect(at(99)).toBe("src/relay.ts");
  });
});

describe("instruction counts (callgrind)", () => {
  it("reads the total from a callgrind dump", () => {
    const dump =
      "version: 1\ncreator: callgrind-3.19.0\nevents: Ir\nsummary: 265012345\n\nfn=main\n";
    expect(parseCallgrindTotal(dump)).toBe(265_012_345);
    expect(parseCallgrindTotal("events: Ir\ntotals: 42\n")).toBe(42);
    expect(parseCallgrindTotal("events: Ir\n")).toBeNull();
  });

  it("are reported as medians, with the throughput they predict against the floor", () => {
    const r = results({
      instructions: {
        requests: 1000,
        relay: [265_000, 255_000],
        floor: [230_000, 232_000],
        floorHeaders: [250_000, 254_000],
      },
    });
    const line = summaryLine(r, "bench-results/latest.json");
    expect(line).toMatchObject({
      hit_instructions: 260_000,
      floor_instructions: 231_000,
      floor_headers_instructions: 252_000,
      hit_vs_floor_instructions: 0.888,
    });
    const md = renderMarkdown(r);
    expect(md).toContain("## 1b. CPU instructions per request");
    expect(md).toContain("| 260 000 | 0.89× | 265 000, 255 000 |");
    expect(summaryLine(results(), "x")).toMatchObject({ hit_instructions: null });
    expect(renderMarkdown(results())).not.toContain("## 1b.");
  });
});
