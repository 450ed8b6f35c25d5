// Cache hits (README "Performance"): one certificate answered from memory by the relay, against
// the floor (the same workerd returning the same bytes as a constant), the floor with the relay's
// response headers, and nginx proxy_cache; runs alternate between configurations (ABBA), and the
// relay's own counters give the hit path's cost per request.

import { loopbackFetch as http } from "../../support/loopback.ts";
import { log, type Bench } from "../context.ts";
import { bodyOf, describeRun, type Load } from "../load.ts";
import type { Peers } from "../peers.ts";
import { REGISTRY_TTL_MS } from "../../../src/issuers/registry-timing.ts";
import { addOps, diffOps, ZERO_OPS, type CostRow, type Series } from "../report.ts";
import type { CertRequest } from "../setup.ts";
import { prepareHit, readOps, resetOps, type Workerd } from "../workerd.ts";
import type { MemoryProbe } from "./memory.ts";

export interface Hits {
  answer: Uint8Array;
  nginxBytes: number;
  series: Record<"relay" | "floor" | "floorHeaders" | "nginx", Series>;
  /** Whether the relay answers GET /__bench/ops (BENCH_MODE). */
  hasOps: boolean;
  /** The hit path's operation counts over every measured relay run, when counted. */
  cost: CostRow | undefined;
}

export async function measureHits(
  b: Bench,
  w: Workerd,
  load: Load,
  peers: Peers,
  hitReq: CertRequest,
  memory: MemoryProbe,
): Promise<Hits> {
  const { o, notes } = b;
  const hitUrl = `${w.url}${hitReq.path}`;
  const nginxUrl = peers.nginxUrl(hitReq.path);
  const answer = await prepareHit(w, hitReq.path);
  let nginxBytes = 0;
  for (let i = 0; i < 3; i++) {
    const res = await http(nginxUrl);
    nginxBytes = (await bodyOf(res)).length;
    if (i === 2 && res.headers.get("X-Cache-Status") !== "HIT") {
      throw new Error(
        `nginx does not answer from its cache (X-Cache-Status ${res.headers.get("X-Cache-Status")})`,
      );
    }
  }
  log(
    `answer: ${answer.length} bytes from the relay (X-Cache HIT), the floor serves the same bytes; nginx caches ${nginxBytes} bytes`,
  );

  await memory.idle();
  const hasOps = (await readOps(w.url, notes)) !== undefined;
  if (hasOps && !(await resetOps(w.url))) notes.add("POST /__bench/reset did not answer 200");

  const configs = [
    { key: "relay", label: "relay (workerd serve, hot path)", url: hitUrl },
    {
      key: "floor",
      label: "floor (same workerd, constant body)",
      url: `${w.floorUrl}${hitReq.path}`,
    },
    {
      key: "floorHeaders",
      label: "floor + the relay's headers (same workerd, constant body and headers)",
      url: `${w.floorHeadersUrl}${hitReq.path}`,
    },
    {
      key: "nginx",
      label: `nginx proxy_cache (worker_processes ${o.nginxWorkers})`,
      url: nginxUrl,
    },
  ] as const;
  log("warm-up: 1 s each (not counted)");
  for (const c of configs) await load.wrk(c.url, 1);
  const series: Hits["series"] = {
    relay: { label: configs[0].label, runs: [] },
    floor: { label: configs[1].label, runs: [] },
    floorHeaders: { label: configs[2].label, runs: [] },
    nginx: { label: configs[3].label, runs: [] },
  };
  let hitOps = ZERO_OPS;
  for (let rep = 1; rep <= o.reps; rep++) {
    // ABBA: every other round runs in reverse, so a drift in the machine's speed falls on each
    // configuration alike; the relay and the floor always run side by side.
    for (const c of rep % 2 === 1 ? configs : [...configs].reverse()) {
      const before = c.key === "relay" ? await readOps(w.url, notes) : undefined;
      const r = await load.wrk(c.url, o.durationS);
      if (before) {
        const after = await readOps(w.url, notes);
        if (after) hitOps = addOps(hitOps, diffOps(before, after));
      }
      series[c.key].runs.push(r);
      log(`  run ${rep}/${o.reps} ${describeRun(c.key, r)}`);
    }
  }
  await memory.afterHits();
  if (!hasOps) return { answer, nginxBytes, series, hasOps, cost: undefined };

  const ttl = REGISTRY_TTL_MS;
  const relaySeconds = o.reps * o.durationS;
  // Each relay run starts after >= 2 runs of the others: its registry copy has expired, and
  // it expires again every TTL within the run.
  const expiries = ttl ? o.reps * (Math.ceil((o.durationS * 1000) / ttl) + 1) : undefined;
  const herd =
    expiries !== undefined && hitOps.kvReads > 2 * expiries
      ? ` Measured ${hitOps.kvReads} for at most ~${expiries} expiries: more than one read per expiry (IssuerRegistry.forHotPath starts at most one at a time).`
      : "";
  notes.add(
    `KV reads on hits: ${hitOps.kvReads} in ${hitOps.requests} relay requests over ${relaySeconds} s of measured relay runs. ` +
      `No hit reads KV or waits for it: once the isolate's copy of the issuer registry is older than REGISTRY_TTL_MS` +
      `${ttl !== undefined ? ` (${ttl / 1000} s)` : ""}, the hot path re-reads it after its response (ctx.waitUntil), once per TTL per isolate whatever the traffic; these are those reads.${herd}`,
  );
  const cost = {
    path: "hit",
    requests: hitOps.requests,
    ops: hitOps,
    note: "all measured relay runs",
  };
  return { answer, nginxBytes, series, hasOps, cost };
}
