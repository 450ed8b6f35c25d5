// npm run simulate -- [--shape fleet,host,rotation,hostile] [--days N] [--src DIR] [--no-cache-api]
// [--seed N] [--json FILE]: the worker's own code on a virtual clock over in-memory stand-ins of the
// platform (scripts/simulate/README.md), printing per-hit figures and a monthly cost table per shape.
// --src: a checkout to simulate instead of this one (its src/ and wrangler.toml), e.g. an older
// commit's worktree for a before/after table.

import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { costTable, loadPrices, perHit, perHitTable } from "./report.ts";
import { SHAPES } from "./shapes.ts";
import { simulate, type SimResult } from "./simulate.ts";

const { values } = parseArgs({
  options: {
    shape: { type: "string", default: "fleet,host,rotation,hostile" },
    days: { type: "string" },
    src: { type: "string", default: "." },
    "no-cache-api": { type: "boolean", default: false },
    seed: { type: "string", default: "1" },
    json: { type: "string" },
    quiet: { type: "boolean", default: false },
  },
});

const results: SimResult[] = [];
for (const name of values.shape!.split(",")) {
  const shape = SHAPES[name];
  if (!shape) throw new Error(`no shape ${name}: ${Object.keys(SHAPES).join(", ")}`);
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
