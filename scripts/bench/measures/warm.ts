// Warming --certs certificates (the preparation of memory and scaling): one miss each, whose
// operation counts are the miss path's cost per request, then one hit each; then a pause, so that
// the owner objects just created are evicted before the scaling runs rather than during them.

import { setTimeout as sleep } from "node:timers/promises";
import { loopbackFetch as http } from "../../support/loopback.ts";
import { log, type Bench } from "../context.ts";
import { pool } from "../load.ts";
import { cpuSecondsOf } from "../proc-stats.ts";
import { diffOps, type BenchResults, type CostRow } from "../report.ts";
import type { CertRequest } from "../setup.ts";
import { round } from "../stats.ts";
import { readOps, type Workerd } from "../workerd.ts";
import type { MemoryProbe } from "./memory.ts";

/** Seconds without requests after warming, so the Durable Objects created are evicted. */
export const SETTLE_S = 12;

export interface Warmed {
  warm: BenchResults["warm"];
  /** The miss path's counts, when the relay answers them. */
  cost: CostRow | undefined;
  /** Whether the counts include the owners' (they share the relay's isolate), when known. */
  sharedIsolate: boolean | null;
  /** workerd CPU milliseconds per warmed certificate. */
  cpuMsEach: number;
}

/** Warms every request but the first (already the hit certificate). */
export async function warmCertificates(
  b: Bench,
  w: Workerd,
  reqs: CertRequest[],
  memory: MemoryProbe,
): Promise<Warmed> {
  const { o, notes } = b;
  log(
    `warming ${o.certs} certificates (one CA fetch each through its owner), ${o.warmConcurrency} at a time`,
  );
  const budget = Math.max(Date.now() + 30_000, b.deadline - (o.quick ? 45_000 : 200_000));
  const opsBefore = await readOps(w.url, notes);
  const cpuBefore = cpuSecondsOf(w.service.pid);
  const started = Date.now();
  const notMiss: number[] = [];
  await pool(reqs.slice(1), o.warmConcurrency, budget, async (r) => {
    const res = await http(`${w.url}${r.path}`);
    await res.arrayBuffer();
    if (res.status !== 200)
      throw new Error(`warming serial ${r.serial.toString(16)}: HTTP ${res.status}`);
    if (res.headers.get("X-Cache") !== "MISS") notMiss.push(r.serial);
  });
  const ms = Date.now() - started;
  const cpu = cpuSecondsOf(w.service.pid) - cpuBefore;
  const opsAfter = await readOps(w.url, notes);
  const warmed = reqs.length - 1;
  let cost: CostRow | undefined;
  let sharedIsolate: boolean | null = null;
  if (opsBefore && opsAfter) {
    const ops = diffOps(opsBefore, opsAfter);
    cost = { path: "miss", requests: ops.requests, ops, note: `${warmed} cold certificates` };
    sharedIsolate = ops.upstreamFetches >= warmed && ops.verifications >= warmed;
  }
  if (notMiss.length > 0) notes.add(`${notMiss.length} warming requests were not misses`);
  log(
    `warmed ${warmed} in ${ms} ms (${Math.round((warmed * 1000) / Math.max(1, ms))}/s, ${round((cpu * 1000) / Math.max(1, warmed), 2)} ms workerd CPU each)`,
  );

  const touchStart = Date.now();
  const notHit: number[] = [];
  await pool(reqs, o.warmConcurrency, budget, async (r) => {
    const res = await http(`${w.url}${r.path}`);
    await res.arrayBuffer();
    if (res.headers.get("X-Cache") !== "HIT") notHit.push(r.serial);
  });
  const touchMs = Date.now() - touchStart;
  if (notHit.length > 0)
    notes.add(
      `${notHit.length} of ${reqs.length} certificates were not hits on the second pass (memory tier full?)`,
    );
  memory.afterWarm();
  // The owners just touched live in this process (workerd evicts an idle Durable Object after
  // 10 s): let them go before measuring, so their eviction is not timed as hit latency.
  log(`letting ${reqs.length} owner objects go idle (${SETTLE_S} s)`);
  await sleep(SETTLE_S * 1000);
  return {
    warm: { certs: warmed, ms, touchMs },
    cost,
    sharedIsolate,
    cpuMsEach: (cpu * 1000) / Math.max(1, warmed),
  };
}
