// npm run simulate -- [--shape fleet,host,rotation,hostile] [--days N] [--src DIR] [--no-cache-api]
// [--seed N] [--sample FRACTION] [--json FILE]: the worker's own code on a virtual clock over in-memory stand-ins of the
// platform (scripts/simulate/README.md), printing per-hit figures and a monthly cost table per shape.
// --src: a checkout to simulate instead of this one (its src/ and wrangler.toml), e.g. an older
// commit's worktree for a before/after table.

import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { costTable, loadPrices, perHit, perHitTable } from "./report.ts";
import { SHAPES, type Shape } from "./shapes.ts";
import { simulate, type SimResult } from "./simulate.ts";

const { values } = parseArgs({
  options: {
    shape: { type: "string", default: "fleet,host,rotation,hostile" },
    days: { type: "string" },
    src: { type: "string", default: "." },
    "no-cache-api": { type: "boolean", default: false },
    seed: { type: "string", default: "1" },
    sample: { type: "string" },
    json: { type: "string" },
    quiet: { type: "boolean", default: false },
  },
});

const results: SimResult[] = [];
for (const name of values.shape!.split(",")) {
  const full = SHAPES[name];
  if (!full) throw new Error(`no shape ${name}: ${Object.keys(SHAPES).join(", ")}`);
  const shape = values.sample ? sampled(full, Number(values.sample)) : full;
  const t0 = process.hrtime.bigint();
  const r = await simulate(shape, {
    src: values.src!,
    ...(values.days ? { days: Number(values.days) } : {}),
    cacheApi: !values["no-cache-api"],
    seed: Number(values.seed),
    progress: !values.quiet,
  });
  results.push(r);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(`\n## ${shape.name}: ${shape.what}${values.days ? ` (${values.days} days)` : ""}`);
  console.log(
    `${r.days} simulated days in ${seconds.toFixed(0)} s; ${r.isolatesStarted} isolates; ` +
      `setup (issuer + pins): ${r.caRequests.setup} CA requests; ` +
      `objects holding state at the end: ${JSON.stringify(r.liveObjects)}; ` +
      `CA requests per 30 days: ${JSON.stringify(r.caRequests.byMonth)}`,
  );
  console.log(`logs: ${JSON.stringify(r.logs)}`);
  if (r.backgroundErrors.length)
    console.log(`background errors: ${r.backgroundErrors.join(" | ")}`);
  console.log(JSON.stringify({ shape: r.shape, perHit: perHit(r), calls: r.traffic.doCalls }));
}
/**
 * A sample of a shape: a fraction of its certificates (and of each location's isolates, so each
 * isolate sees the same share of the traffic), every figure scaled back up. Certificates interact
 * only through isolates, caches and the ledger, which the sample keeps in proportion.
 */
function sampled(shape: Shape, fraction: number): Shape {
  if (!(fraction > 0 && fraction <= 1)) throw new Error("--sample takes a fraction in (0, 1]");
  return {
    ...shape,
    what: `${shape.what}; simulated: a ${fraction * 100} % sample, every figure × ${1 / fraction}`,
    certificates: Math.round(shape.certificates * fraction),
    isolatesPerLocation: Math.max(1, Math.round(shape.isolatesPerLocation * fraction)),
    scale: shape.scale / fraction,
  };
}

const prices = loadPrices();
console.log(
  `\n### Per hit${values["no-cache-api"] ? " (no Cache API: a workers.dev hostname)" : ""}\n`,
);
console.log(perHitTable(results));
console.log(`\n### Per month at each shape's full size\n`);
console.log(costTable(results, prices));
console.log(`\n${prices.note}`);
if (values.json) writeFileSync(values.json, JSON.stringify(results, null, 2));
process.exit(0); // the worker's upstream timers would hold the process open
