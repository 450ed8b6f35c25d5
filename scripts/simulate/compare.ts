// Tables of several simulator runs side by side (the JSON that `npm run simulate -- --json FILE`
// writes), each labelled: before/after tables for a change.
//
//   npx tsx scripts/simulate/compare.ts before=/tmp/b.json after=/tmp/a.json

import { readFileSync } from "node:fs";
import { costTable, loadPrices, perHitTable } from "./report.ts";
import type { SimResult } from "./simulate.ts";

const results: SimResult[] = [];
for (const arg of process.argv.slice(2)) {
  const [label, file] = arg.includes("=") ? (arg.split("=", 2) as [string, string]) : ["", arg];
  for (const r of JSON.parse(readFileSync(file, "utf8")) as SimResult[])
    results.push({ ...r, shape: `${label ? `${label}: ` : ""}${r.shape} (${r.days} d)` });
}
console.log(perHitTable(results));
console.log();
console.log(costTable(results, loadPrices()));
