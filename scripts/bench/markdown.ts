// The benchmark's Markdown report (bench-results/latest.md and stdout), from the results alone.
// Pure (no I/O): unit-tested in Node (test/node/bench-report.test.ts).

import {
  instructionStats,
  OPS_KEYS,
  rpsVs,
  seriesStats,
  targets,
  type BenchResults,
  type ProfileEntry,
  type Series,
  type SeriesStats,
} from "./report.ts";
import { ratio, round } from "./stats.ts";

export function fmtInt(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return "n/a";
  return Math.round(n)
    .toString()
    .replace(/\B(?=(\d{3})+(?!\d))/g, " ");
}

export function fmtMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return "n/a";
  if (ms < 1) return `${round(ms * 1000, 0)} µs`;
  if (ms < 10) return `${round(ms, 2)} ms`;
  return `${round(ms, 1)} ms`;
}

export function fmtRatio(x: number | null | undefined, digits = 2): string {
  return x === null || x === undefined || !Number.isFinite(x) ? "n/a" : `${round(x, digits)}×`;
}

function fmtMiB(kib: number): string {
  return Number.isFinite(kib) && kib > 0 ? `${round(kib / 1024, 1)} MiB` : "n/a";
}

function fmtBytes(b: number | null): string {
  if (b === null || !Number.isFinite(b)) return "n/a";
  return b >= 1048576
    ? `${round(b / 1048576, 1)} MiB`
    : b >= 1024
      ? `${round(b / 1024, 1)} KiB`
      : `${b} B`;
}

/** A Markdown table; cells are escaped for `|`. */
export function table(header: string[], rows: (string | number)[][]): string {
  const esc = (c: string | number) => String(c).replace(/\|/g, "\\|");
  return [
    `| ${header.map(esc).join(" | ")} |`,
    `| ${header.map(() => "---").join(" | ")} |`,
    ...rows.map((r) => `| ${r.map(esc).join(" | ")} |`),
  ].join("\n");
}

const status = (met: boolean | null) => (met === null ? "n/a" : met ? "met" : "NOT met");

export function renderMarkdown(r: BenchResults): string {
  const s = r.settings;
  const hit = seriesStats(r.hit.relay);
  const floor = seriesStats(r.hit.floor);
  const nginx = seriesStats(r.hit.nginx);
  const runsOf = (x: Series) => x.runs.map((run) => fmtInt(run.rps)).join(", ");
  const seriesRow = (x: Series, st: SeriesStats, vsFloor: string) => [
    x.label,
    fmtInt(st.rps),
    fmtMs(st.p50),
    fmtMs(st.p99),
    vsFloor,
    st.spread === null ? "n/a" : `${round(st.spread * 100, 0)} %`,
    runsOf(x),
    st.clean ? "yes" : "NO",
  ];
  const out: string[] = [];
  out.push(`# ocsp-relay benchmark (${r.quick ? "--quick" : "full"})`, "");
  out.push(`- started: ${r.startedAt}; took ${round(r.elapsedS, 0)} s`);
  out.push(`- command: \`${r.command}\``);
  for (const [k, v] of Object.entries(r.machine)) out.push(`- ${k}: ${v}`);
  out.push(
    `- load: wrk -t${s.threads} -c${s.connections} -d${s.durationS}s --latency, ${s.reps} runs per configuration, alternating (each round in the reverse order of the one before, so drift cancels); medians (of requests/s, and of each run's p50/p99); ratios of requests/s are medians of the ratios of the runs made side by side`,
  );
  out.push(`- network: ${s.network}`);
  out.push(`- Durable Objects: ${s.storage}; KV: ${s.kv}`);
  out.push("");

  out.push(`## 1. Cache hits: one cached certificate (${r.hit.answerBytes}-byte answer)`, "");
  out.push(
    table(
      [
        "configuration",
        "req/s",
        "p50",
        "p99",
        "req/s vs floor",
        "spread",
        "runs (req/s)",
        "all 200",
      ],
      [
        seriesRow(r.hit.relay, hit, fmtRatio(rpsVs(r.hit.relay, r.hit.floor))),
        seriesRow(r.hit.floor, floor, "1×"),
        ...(r.hit.floorHeaders
          ? [
              seriesRow(
                r.hit.floorHeaders,
                seriesStats(r.hit.floorHeaders),
                fmtRatio(rpsVs(r.hit.floorHeaders, r.hit.floor)),
              ),
            ]
          : []),
        seriesRow(r.hit.nginx, nginx, fmtRatio(rpsVs(r.hit.nginx, r.hit.floor))),
      ],
    ),
  );
  out.push(
    "",
    `relay/floor ${fmtRatio(rpsVs(r.hit.relay, r.hit.floor))} req/s, p99 ${fmtRatio(ratio(hit.p99, floor.p99))} of the floor's; relay/nginx ${fmtRatio(rpsVs(r.hit.relay, r.hit.nginx))} req/s (nginx answers ${r.hit.nginxBytes} bytes: its own copy of the CA's answer).${
      r.hit.floorHeaders
        ? ` The floor with the relay's headers (same body, and the caching headers, ETag and X-Cache the relay answers with) separates what sending those headers costs from what the relay's own code costs: relay/that floor ${fmtRatio(rpsVs(r.hit.relay, r.hit.floorHeaders))} req/s.`
        : ""
    }`,
    "",
  );

  const ins = instructionStats(r);
  if (ins && r.instructions) {
    const i = r.instructions;
    const cell = (v: number[]) => v.map((x) => fmtInt(x)).join(", ");
    out.push(
      `## 1b. CPU instructions per request (valgrind callgrind, ${i.requests} requests per count)`,
      "",
    );
    out.push(
      table(
        [
          "configuration",
          "instructions per request",
          "throughput this predicts vs floor",
          "counts",
        ],
        [
          [r.hit.relay.label, fmtInt(ins.relay), fmtRatio(ins.hitVsFloor), cell(i.relay)],
          [r.hit.floor.label, fmtInt(ins.floor), "1×", cell(i.floor)],
          [
            r.hit.floorHeaders?.label ?? "floor + the relay's headers",
            fmtInt(ins.floorHeaders),
            fmtRatio(ratio(ins.floor, ins.floorHeaders)),
            cell(i.floorHeaders),
          ],
        ],
      ),
    );
    out.push(
      "",
      `Counted on a workerd of their own under callgrind (the whole process: HTTP, runtime, V8, the worker's code), so unlike requests/s they do not move with the machine's load. Relay/floor: ${fmtRatio(ins.hitVsFloor)}; relay/floor with the relay's headers: ${fmtRatio(ins.hitVsFloorHeaders)}.`,
      "",
    );
  }

  const f = r.fanin;
  out.push(`## 2. Fan-in: ${f.clients} clients at once, cold start`, "");
  out.push(
    table(
      [
        "clients",
        "GET / POST",
        "certificates",
        "answered 200",
        "CA fetches",
        "distinct certs fetched",
        "max per cert",
        "second wave: CA fetches",
        "took",
      ],
      [
        [
          fmtInt(f.clients),
          `${f.gets} / ${f.posts}`,
          fmtInt(f.certs),
          fmtInt(f.answered200),
          fmtInt(f.upstreamFetches),
          fmtInt(f.distinctCertsFetched),
          fmtInt(f.maxFetchesPerCert),
          fmtInt(f.secondWaveFetches),
          `${fmtInt(f.ms)} ms`,
        ],
      ],
    ),
    "",
  );

  out.push("## 3. Cost per request (the relay's own counts, BENCH_MODE /__bench/ops)", "");
  const shared =
    r.cost.sharedIsolate === null
      ? "could not be checked (no counts)"
      : r.cost.sharedIsolate
        ? "yes: the Durable Objects' CA fetches and verifications appear in the worker's counts, so these include the owner's operations"
        : "NO: the worker's counts miss the Durable Objects' operations";
  out.push(`Worker and Durable Objects share one isolate under workerd serve: ${shared}.`, "");
  out.push(
    table(
      [
        "path",
        "requests",
        "KV reads",
        "KV writes",
        "Cache API reads",
        "Cache API writes",
        "owner calls",
        "CA fetches",
        "verifications",
        "owner touches",
        "ledger flushes",
        "owner rows written",
      ],
      r.cost.rows.map((row) => [
        row.path + (row.note ? ` (${row.note})` : ""),
        fmtInt(row.requests),
        ...OPS_KEYS.filter((k) => k !== "requests").map(
          (k) =>
            `${fmtInt(row.ops[k])} (${row.requests > 0 ? round(row.ops[k] / row.requests, 6) : "n/a"}/req)`,
        ),
      ]),
    ),
    "",
  );
  if (r.cost.rows.length === 0)
    out.push("No counts: the relay did not answer GET /__bench/ops (see Notes).", "");

  const m = r.memory;
  out.push(`## 4. Memory: ${fmtInt(m.certsCached)} certificates in the memory tier`, "");
  out.push(
    table(
      ["measure", "value"],
      [
        ["workerd RSS, idle (issuer registered, one certificate cached)", fmtMiB(m.rssIdleKiB)],
        ["workerd RSS after the cache-hit runs", fmtMiB(m.rssAfterHitsKiB)],
        [
          `workerd RSS after warming ${fmtInt(m.certsCached)} certificates`,
          fmtMiB(m.rssAfterWarmKiB),
        ],
        ["workerd RSS at the end (after the scaling runs)", fmtMiB(m.rssEndKiB)],
        ["workerd peak RSS (VmHWM)", fmtMiB(m.hwmKiB)],
        ["relay isolate JS heap used, idle", fmtBytes(m.heapUsedIdle)],
        [
          "relay isolate JS heap used after the cache-hit runs",
          fmtBytes(m.heapUsedAfterHits ?? null),
        ],
        ["relay isolate JS heap used, at the end", fmtBytes(m.heapUsedEnd)],
        [
          "JS heap per cached certificate",
          m.heapUsedEnd !== null && m.heapUsedIdle !== null && m.certsCached > 0
            ? fmtBytes(round((m.heapUsedEnd - m.heapUsedIdle) / m.certsCached, 0))
            : "n/a",
        ],
        ["answers' DER in the tier", fmtBytes(m.certsCached * m.answerBytes)],
        [
          "tier cap (MEMORY_LIMITS)",
          `${fmtInt(m.tierCap.entries)} entries / ${fmtBytes(m.tierCap.bytes)}`,
        ],
      ],
    ),
    "",
  );

  out.push(
    `## 5. Scaling: hits cycling through N cached certificates (wrk Lua script, ${s.scalingReps} run(s) each, ${s.scalingDurationS} s)`,
    "",
  );
  const fl = seriesStats(r.scaling.floorLua);
  out.push(
    table(
      [
        "distinct certificates",
        "req/s",
        "p50",
        "p99",
        "vs floor (same Lua)",
        "answered from memory",
        "runs (req/s)",
      ],
      [
        ...r.scaling.points.map((p) => {
          const st = seriesStats(p.relay);
          return [
            fmtInt(p.certs),
            fmtInt(st.rps),
            fmtMs(st.p50),
            fmtMs(st.p99),
            fmtRatio(ratio(st.rps, fl.rps)),
            p.memoryHits === null ? "n/a" : `${round(p.memoryHits * 100, 2)} %`,
            runsOf(p.relay),
          ];
        }),
        [
          "floor (same Lua script)",
          fmtInt(fl.rps),
          fmtMs(fl.p50),
          fmtMs(fl.p99),
          "1×",
          "",
          runsOf(r.scaling.floorLua),
        ],
      ],
    ),
    "",
    `Warming: ${fmtInt(r.warm.certs)} certificates, one CA fetch each through its owner, in ${round(r.warm.ms / 1000, 1)} s (${fmtInt(r.warm.ms > 0 ? (r.warm.certs * 1000) / r.warm.ms : NaN)} misses/s); a second pass (first hit: the owner is touched) took ${round(r.warm.touchMs / 1000, 1)} s.`,
    "",
  );

  const profileTable = (title: string, entries: ProfileEntry[] | null | undefined) => {
    if (!entries || entries.length === 0) return;
    out.push(title, "");
    out.push(
      table(
        ["function", "where", "self", "share"],
        entries.map((p) => [
          p.functionName || "(anonymous)",
          p.url,
          fmtMs(p.selfMs),
          `${round(p.selfPct, 1)} %`,
        ]),
      ),
      "",
    );
  };
  profileTable(
    "## Where the relay's time goes on hits (CPU profile of one relay run, self time)",
    r.profile,
  );
  const largest = r.scaling.points[r.scaling.points.length - 1];
  profileTable(
    `## Where the relay's time goes cycling through ${fmtInt(largest?.certs)} certificates (CPU profile, self time)`,
    r.profileScaling,
  );

  out.push("## Targets", "");
  out.push(
    table(
      ["target", "value", "goal", "status"],
      targets(r).map((t) => [t.name, t.value, t.goal, status(t.met)]),
    ),
    "",
  );
  if (r.notes.length > 0) {
    out.push("## Notes", "", ...r.notes.map((n) => `- ${n}`), "");
  }
  return out.join("\n");
}
