// The end of a run: the notes every report carries, the machine's contention over the wrk runs,
// and the results written to --out (latest.md and .json, and a stamped copy of each), then the
// report and the one JSON line on stdout.

import { mkdir, writeFile } from "node:fs/promises";
import os from "node:os";
import { join, relative } from "node:path";
import { REPO_ROOT } from "../support/processes.ts";
import { log, type Bench } from "./context.ts";
import type { Load } from "./load.ts";
import { renderMarkdown } from "./markdown.ts";
import { summaryLine, type BenchResults } from "./report.ts";
import { median, round } from "./stats.ts";
import { SETTLE_S } from "./measures/warm.ts";

/** The share of the machine other processes took during the wrk runs, also in `machine`. */
export function contention(load: Load, machine: Record<string, string>, notes: Set<string>) {
  const runs = load.othersDuringRuns;
  const others = { median: median(runs), max: Math.max(0, ...runs) };
  machine["CPU taken by other processes during the wrk runs"] =
    `median ${round(others.median * 100, 1)} %, max ${round(others.max * 100, 1)} % of the machine (${runs.length} runs)`;
  if (others.median > 0.05 || others.max > 0.2) {
    notes.add(
      `Other work on this machine took CPU during the runs (median ${round(others.median * 100, 1)} %, max ${round(others.max * 100, 1)} % of ${os.availableParallelism()} cores): absolute numbers are low and noisy; the ratios come from alternating runs, so compare them rather than requests/s across runs.`,
    );
  }
  return { ...others, runs: runs.length };
}

/** What every report says about how it was measured. */
export function methodNotes(b: Bench, inNetns: string | undefined, warmCpuMsEach: number): void {
  const { o, notes } = b;
  notes.add(
    `The hit path reads no KV; KV is nonetheless a real workerd kvNamespace binding, served by an in-memory KV worker in the same process (the HTTP protocol workerd's binding speaks). workerd serve has no Cache API backend here (no cacheApiOutbound), so the edge tier always misses: misses count its attempted reads and writes.`,
  );
  notes.add(
    `Durable Objects are SQLite-backed in memory (durableObjectStorage inMemory) and share the relay's process and isolate; RSS therefore includes every owner object created while warming (production runs them elsewhere), which is why the relay isolate's JS heap after gc() is given as well (workerd runs with V8's --expose-gc; gc() is evaluated through the inspector between runs). Before the scaling runs the benchmark waits ${SETTLE_S} s without requests so that workerd evicts the idle owner objects instead of doing it during a measured run.`,
  );
  if (o.certs < 10_000) {
    notes.add(
      `--quick caches ${o.certs} certificates, not 10 000: warming costs one CA fetch, signature check and owner (Durable Object) round trip per certificate (${round(warmCpuMsEach, 1)} ms of workerd CPU each here), too slow for the quick budget.`,
    );
  }
  notes.add(
    `wrk drives every configuration with the same settings: it is C with one epoll loop per thread, so on ${os.availableParallelism()} cores it takes the least CPU away from the server measured, it keeps ${o.connections} keep-alive connections busy, and --latency gives the percentiles. workerd serves each worker on one thread; nginx runs worker_processes ${o.nginxWorkers}.`,
  );
  if (inNetns)
    notes.add(
      `network: private namespace (unshare ${inNetns}), only its loopback exists; openssl ocsp binds its port on all addresses of that namespace (it takes no address).`,
    );
}

/** The settings block of the results. */
export function settingsOf(b: Bench, sets: number[], inNetns: string | undefined) {
  const { o } = b;
  return {
    threads: o.threads,
    connections: o.connections,
    durationS: o.durationS,
    reps: o.reps,
    scalingReps: o.scalingReps,
    scalingDurationS: o.scalingDurationS,
    certs: o.certs,
    scalingSets: sets,
    faninClients: o.faninClients,
    faninCerts: o.faninCerts,
    network: inNetns
      ? `private network namespace (unshare ${inNetns}), loopback only`
      : "host namespace, loopback addresses only",
    storage: "SQLite-backed, in memory (workerd durableObjectStorage inMemory)",
    kv: "workerd kvNamespace binding served by an in-memory KV worker in the same process",
  } satisfies BenchResults["settings"];
}

/** Writes the results to --out, then prints the report and, last, the summary JSON line. */
export async function writeResults(b: Bench, results: BenchResults): Promise<void> {
  const { o } = b;
  const markdown = renderMarkdown(results);
  await mkdir(o.out, { recursive: true });
  const stamp = results.startedAt.replace(/[:.]/g, "-");
  const kind = o.quick ? "quick" : "full";
  const jsonPath = join(o.out, "latest.json");
  const summary = summaryLine(results, relative(REPO_ROOT, jsonPath) || jsonPath);
  const json = `${JSON.stringify({ summary, results }, null, 2)}\n`;
  await writeFile(join(o.out, "latest.md"), markdown);
  await writeFile(jsonPath, json);
  await writeFile(join(o.out, `${stamp}-${kind}.md`), markdown);
  await writeFile(join(o.out, `${stamp}-${kind}.json`), json);
  log(`wrote ${relative(REPO_ROOT, join(o.out, "latest.md"))} and latest.json`);
  process.stdout.write(`${markdown}\n`);
  process.stdout.write(`${JSON.stringify(summary)}\n`);
}
