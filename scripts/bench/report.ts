// The benchmark's results: their shape, the medians and ratios derived from the runs, the targets
// and the one-line JSON summary (markdown.ts renders the report). Pure (no I/O): unit-tested in
// Node (test/node/bench-report.test.ts).

import { median, pairedRatio, ratio, round, spread } from "./stats.ts";
import type { WrkResult } from "./wrk.ts";

/** The relay's operation counts (GET /__bench/ops with BENCH_MODE="true"). */
export interface Ops {
  requests: number;
  kvReads: number;
  kvWrites: number;
  cacheReads: number;
  cacheWrites: number;
  ownerCalls: number;
  upstreamFetches: number;
  verifications: number;
  touches: number;
  ledgerFlushes: number;
  ownerWrites: number;
}

export const OPS_KEYS: readonly (keyof Ops)[] = [
  "requests",
  "kvReads",
  "kvWrites",
  "cacheReads",
  "cacheWrites",
  "ownerCalls",
  "upstreamFetches",
  "verifications",
  "touches",
  "ledgerFlushes",
  "ownerWrites",
];

export function parseOps(value: unknown): Ops | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const v = value as Record<string, unknown>;
  const out = {} as Ops;
  for (const k of OPS_KEYS) {
    if (typeof v[k] !== "number") return undefined;
    out[k] = v[k] as number;
  }
  return out;
}

export function addOps(a: Ops, b: Ops): Ops {
  const out = {} as Ops;
  for (const k of OPS_KEYS) out[k] = a[k] + b[k];
  return out;
}

export const ZERO_OPS: Ops = Object.freeze(
  Object.fromEntries(OPS_KEYS.map((k) => [k, 0])) as unknown as Ops,
);

/** b - a, key by key (counts over a window). */
export function diffOps(a: Ops, b: Ops): Ops {
  const out = {} as Ops;
  for (const k of OPS_KEYS) out[k] = b[k] - a[k];
  return out;
}

/** One configuration measured several times with the same wrk settings. */
export interface Series {
  label: string;
  runs: WrkResult[];
}

export interface SeriesStats {
  rps: number;
  p50: number;
  p99: number;
  /** (max - min) / median of the runs' requests/s. */
  spread: number | null;
  clean: boolean;
}

/** Medians over the runs: requests/s, and the median of the runs' own p50 and p99. */
export function seriesStats(s: Series): SeriesStats {
  return {
    rps: median(s.runs.map((r) => r.rps)),
    p50: median(s.runs.map((r) => r.latencyMs.p50)),
    p99: median(s.runs.map((r) => r.latencyMs.p99)),
    spread: spread(s.runs.map((r) => r.rps)),
    clean: s.runs.every(
      (r) =>
        r.non2xx === 0 &&
        r.errors.connect + r.errors.read + r.errors.write + r.errors.timeout === 0,
    ),
  };
}

export interface CostRow {
  path: string;
  /** Requests the counts are divided by (the relay's own `requests` count when known). */
  requests: number;
  ops: Ops;
  note?: string;
}

export interface ScalingPoint {
  certs: number;
  relay: Series;
  /** Relay requests answered by the hot path/memory tier (no Cache API read, no owner call). */
  memoryHits: number | null;
  ops: Ops | null;
}

export interface ProfileEntry {
  functionName: string;
  url: string;
  line: number;
  selfMs: number;
  selfPct: number;
}

export interface BenchResults {
  startedAt: string;
  command: string;
  quick: boolean;
  elapsedS: number;
  machine: Record<string, string>;
  settings: {
    threads: number;
    connections: number;
    durationS: number;
    reps: number;
    scalingReps: number;
    scalingDurationS: number;
    certs: number;
    scalingSets: number[];
    faninClients: number;
    faninCerts: number;
    network: string;
    storage: string;
    kv: string;
  };
  hit: {
    answerBytes: number;
    nginxBytes: number;
    relay: Series;
    floor: Series;
    /** The floor answering with the relay's own response headers (optional reference). */
    floorHeaders?: Series;
    nginx: Series;
  };
  fanin: {
    clients: number;
    certs: number;
    gets: number;
    posts: number;
    answered200: number;
    upstreamFetches: number;
    distinctCertsFetched: number;
    maxFetchesPerCert: number;
    secondWaveFetches: number;
    relayOps: Ops | null;
    ms: number;
  };
  cost: {
    /** Whether the counts read from the worker include its Durable Objects' (one isolate). */
    sharedIsolate: boolean | null;
    rows: CostRow[];
  };
  memory: {
    certsCached: number;
    answerBytes: number;
    tierCap: { entries: number; bytes: number };
    rssIdleKiB: number;
    rssAfterHitsKiB: number;
    rssAfterWarmKiB: number;
    rssEndKiB: number;
    hwmKiB: number;
    heapUsedIdle: number | null;
    heapUsedAfterHits?: number | null;
    heapUsedEnd: number | null;
  };
  warm: { certs: number; ms: number; touchMs: number };
  scaling: { floorLua: Series; points: ScalingPoint[] };
  /**
   * CPU instructions per request under callgrind (one count per round, `requests` requests each):
   * null when not counted (--quick, --no-instructions, no valgrind).
   */
  instructions?: {
    requests: number;
    relay: number[];
    floor: number[];
    floorHeaders: number[];
  } | null;
  profile: ProfileEntry[] | null;
  /** The same for a relay run over the largest scaling set. */
  profileScaling?: ProfileEntry[] | null;
  /** Share of the machine's CPU (0..1) other processes took during the wrk runs. */
  contention: { median: number; max: number; runs: number };
  notes: string[];
}

// ---------------------------------------------------------------------------------------------
// Targets and the summary line

export interface Target {
  name: string;
  value: string;
  goal: string;
  met: boolean | null;
}

const perRequest = (rows: CostRow[], path: string, key: keyof Ops): number | null => {
  const row = rows.find((r) => r.path === path);
  return row && row.requests > 0 ? row.ops[key] / row.requests : null;
};

/**
 * The total instruction count in a callgrind dump (`totals:` or `summary:` line, first event), or
 * null when there is none.
 */
export function parseCallgrindTotal(text: string): number | null {
  const m = /^(?:totals|summary):\s*(\d+)/m.exec(text);
  return m ? Number(m[1]) : null;
}

/** Instructions per request of the relay, the floor and the floor with headers (medians). */
export function instructionStats(r: BenchResults) {
  const i = r.instructions;
  if (!i) return null;
  const relay = median(i.relay);
  const floor = median(i.floor);
  const floorHeaders = median(i.floorHeaders);
  return {
    relay,
    floor,
    floorHeaders,
    /** The throughput the counts predict, relative to the floor: floor / relay. */
    hitVsFloor: ratio(floor, relay),
    hitVsFloorHeaders: ratio(floorHeaders, relay),
  };
}

/** Requests/s of `a` relative to `b`, from their runs paired in order (stats.ts pairedRatio). */
export function rpsVs(a: Series, b: Series): number | null {
  return pairedRatio(
    a.runs.map((x) => x.rps),
    b.runs.map((x) => x.rps),
  );
}

export function targets(r: BenchResults): Target[] {
  const hit = seriesStats(r.hit.relay);
  const floor = seriesStats(r.hit.floor);
  const vsFloor = rpsVs(r.hit.relay, r.hit.floor);
  const p99Ratio = ratio(hit.p99, floor.p99);
  const kv = perRequest(r.cost.rows, "hit", "kvReads");
  const ver = perRequest(r.cost.rows, "hit", "verifications");
  const f = r.fanin;
  const hitRow = r.cost.rows.find((row) => row.path === "hit");
  const fmt = (v: number | null, d = 2) => (v === null ? "n/a" : String(round(v, d)));
  return [
    {
      name: "hit throughput vs floor",
      value: fmt(vsFloor),
      goal: ">= 0.9",
      met: vsFloor === null ? null : vsFloor >= 0.9,
    },
    {
      name: "hit p99 vs floor p99",
      value: fmt(p99Ratio),
      goal: "<= 1.2",
      met: p99Ratio === null ? null : p99Ratio <= 1.2,
    },
    {
      name: "fan-in CA fetches per certificate",
      value: `${f.upstreamFetches} fetches / ${f.certs} certs (max ${f.maxFetchesPerCert} per cert)`,
      goal: "exactly 1 each",
      met:
        f.upstreamFetches === f.certs &&
        f.distinctCertsFetched === f.certs &&
        f.maxFetchesPerCert === 1,
    },
    {
      name: "KV reads per hit (warm isolate)",
      value: `${fmt(kv, 6)} (${hitRow ? `${hitRow.ops.kvReads} in ${hitRow.requests} hits` : "no counts"})`,
      goal: "0",
      met: kv === null ? null : kv === 0,
    },
    {
      name: "verifications per hit (warm isolate)",
      value: fmt(ver, 6),
      goal: "0",
      met: ver === null ? null : ver === 0,
    },
  ];
}

/** The last line the benchmark prints: one JSON object. */
export function summaryLine(r: BenchResults, resultsFile: string): Record<string, unknown> {
  const hit = seriesStats(r.hit.relay);
  const floor = seriesStats(r.hit.floor);
  const nginx = seriesStats(r.hit.nginx);
  const fh = r.hit.floorHeaders ? seriesStats(r.hit.floorHeaders) : undefined;
  const rows = r.cost.rows;
  const per = (path: string, key: keyof Ops, d = 6) => round(perRequest(rows, path, key), d);
  const t = targets(r);
  const ins = instructionStats(r);
  return {
    hit_rps: round(hit.rps, 0),
    floor_rps: round(floor.rps, 0),
    nginx_rps: round(nginx.rps, 0),
    hit_vs_floor: round(rpsVs(r.hit.relay, r.hit.floor), 3),
    hit_vs_nginx: round(rpsVs(r.hit.relay, r.hit.nginx), 3),
    p50_ms: round(hit.p50, 3),
    floor_p50_ms: round(floor.p50, 3),
    nginx_p50_ms: round(nginx.p50, 3),
    p99_ms: round(hit.p99, 3),
    floor_p99_ms: round(floor.p99, 3),
    nginx_p99_ms: round(nginx.p99, 3),
    p99_vs_floor: round(ratio(hit.p99, floor.p99), 3),
    floor_headers_rps: fh ? round(fh.rps, 0) : null,
    hit_vs_floor_headers: r.hit.floorHeaders
      ? round(rpsVs(r.hit.relay, r.hit.floorHeaders), 3)
      : null,
    floor_headers_p99_ms: fh ? round(fh.p99, 3) : null,
    hit_instructions: ins ? round(ins.relay, 0) : null,
    floor_instructions: ins ? round(ins.floor, 0) : null,
    floor_headers_instructions: ins ? round(ins.floorHeaders, 0) : null,
    hit_vs_floor_instructions: ins ? round(ins.hitVsFloor, 3) : null,
    answer_bytes: r.hit.answerBytes,
    fanin_clients: r.fanin.clients,
    fanin_certs: r.fanin.certs,
    fanin_upstream_fetches: r.fanin.upstreamFetches,
    fanin_max_per_cert: r.fanin.maxFetchesPerCert,
    fanin_second_wave_fetches: r.fanin.secondWaveFetches,
    kv_reads_per_hit: per("hit", "kvReads"),
    kv_writes_per_hit: per("hit", "kvWrites"),
    cache_reads_per_hit: per("hit", "cacheReads"),
    cache_writes_per_hit: per("hit", "cacheWrites"),
    owner_calls_per_hit: per("hit", "ownerCalls"),
    touches_per_hit: per("hit", "touches"),
    ledger_flushes_per_hit: per("hit", "ledgerFlushes"),
    owner_writes_per_hit: per("hit", "ownerWrites"),
    verifications_per_hit: per("hit", "verifications"),
    kv_reads_per_miss: per("miss", "kvReads", 3),
    kv_writes_per_miss: per("miss", "kvWrites", 3),
    cache_reads_per_miss: per("miss", "cacheReads", 3),
    cache_writes_per_miss: per("miss", "cacheWrites", 3),
    owner_calls_per_miss: per("miss", "ownerCalls", 3),
    upstream_fetches_per_miss: per("miss", "upstreamFetches", 3),
    verifications_per_miss: per("miss", "verifications", 3),
    shared_isolate: r.cost.sharedIsolate,
    memory_certs: r.memory.certsCached,
    rss_mib: round(r.memory.rssEndKiB / 1024, 1),
    rss_idle_mib: round(r.memory.rssIdleKiB / 1024, 1),
    heap_mib: r.memory.heapUsedEnd === null ? null : round(r.memory.heapUsedEnd / 1048576, 1),
    scaling_rps: Object.fromEntries(
      r.scaling.points.map((p) => [String(p.certs), round(seriesStats(p.relay).rps, 0)]),
    ),
    scaling_floor_lua_rps: round(seriesStats(r.scaling.floorLua).rps, 0),
    other_cpu_median_pct: round(r.contention.median * 100, 1),
    other_cpu_max_pct: round(r.contention.max * 100, 1),
    targets_met: t.every((x) => x.met === true),
    quick: r.quick,
    reps: r.settings.reps,
    duration_s: r.settings.durationS,
    elapsed_s: round(r.elapsedS, 1),
    results: resultsFile,
  };
}
