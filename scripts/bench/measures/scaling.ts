// Scaling (README "Performance"): wrk's Lua script cycling through N cached certificates (10, 1 000
// and --certs), every one answered from memory, against the floor driven by the same script.

import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { log, type Bench } from "../context.ts";
import { describeRun, type Load, type WrkScript } from "../load.ts";
import { addOps, diffOps, ZERO_OPS, type BenchResults, type Series } from "../report.ts";
import type { CertRequest } from "../setup.ts";
import { readOps, type Workerd } from "../workerd.ts";
import { cycleScript, type WrkResult } from "../wrk.ts";

export interface Scaling {
  /** The certificate counts measured, in order. */
  sets: number[];
  /** The script over the first `n` paths. */
  script(n: number): WrkScript;
  scaling: BenchResults["scaling"];
}

export async function measureScaling(
  b: Bench,
  w: Workerd,
  load: Load,
  reqs: CertRequest[],
  hasOps: boolean,
): Promise<Scaling> {
  const { o, notes } = b;
  const pathsFile = join(b.tmp, "paths.txt");
  await writeFile(pathsFile, reqs.map((r) => r.path).join("\n") + "\n");
  const luaFile = join(b.tmp, "cycle.lua");
  await writeFile(luaFile, cycleScript());
  const sets = [...new Set([10, 1000, o.certs].filter((n) => n <= o.certs))].sort((a, b) => a - b);
  const script = (n: number) => ({ path: luaFile, args: [pathsFile, String(n)] });
  log(
    `scaling: ${sets.join(", ")} certificates, ${o.scalingReps} run(s) of ${o.scalingDurationS} s each, plus the floor with the same Lua script`,
  );
  await load.wrk(w.url, 1, script(o.certs));
  const points = sets.map((certs) => ({
    certs,
    relay: { label: `relay, ${certs} certificates`, runs: [] as WrkResult[] },
    ops: ZERO_OPS,
  }));
  const floorLua: Series = { label: "floor (same Lua script)", runs: [] };
  for (let rep = 1; rep <= o.scalingReps; rep++) {
    for (const p of points) {
      const before = await readOps(w.url, notes);
      const r = await load.wrk(w.url, o.scalingDurationS, script(p.certs));
      const after = await readOps(w.url, notes);
      if (before && after) p.ops = addOps(p.ops, diffOps(before, after));
      p.relay.runs.push(r);
      log(`  run ${rep}/${o.scalingReps} ${describeRun(`${p.certs} certs`, r)}`);
    }
    const f = await load.wrk(w.floorUrl, o.scalingDurationS, script(o.certs));
    floorLua.runs.push(f);
    log(`  run ${rep}/${o.scalingReps} ${describeRun("floor (Lua)", f)}`);
  }
  return {
    sets,
    script,
    scaling: {
      floorLua,
      points: points.map((p) => ({
        certs: p.certs,
        relay: p.relay,
        ops: hasOps ? p.ops : null,
        memoryHits:
          hasOps && p.ops.requests > 0
            ? 1 - (p.ops.cacheReads + p.ops.ownerCalls) / p.ops.requests
            : null,
      })),
    },
  };
}
