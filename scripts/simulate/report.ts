// The simulator's figures: per hit (what the issue's budget is written in), per certificate, and a
// monthly bill from prices.json, with the Free plan's daily limits beside them.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Bill } from "./platform.ts";
import type { SimResult } from "./simulate.ts";

export interface Prices {
  read: string;
  note: string;
  paid: Record<string, { included: number; perMillion: number }> & { baseMonthly: number };
  durationMsPerRequest: number;
  freeDaily: Record<string, number>;
}

export function loadPrices(): Prices {
  return JSON.parse(readFileSync(join(import.meta.dirname, "prices.json"), "utf8")) as Prices;
}

const sum = (o: Record<string, number>) => Object.values(o).reduce((a, b) => a + b, 0);

/** Per-hit figures: amortised over every request the fleet made (hits, misses, errors). */
export function perHit(r: SimResult) {
  const t = r.traffic;
  const n = Math.max(1, r.fleetRequests + r.hostileRequests);
  const windows = (r.days * 24 * 3_600_000) / (7 * 24 * 3_600_000);
  return {
    requests: r.fleetRequests + r.hostileRequests,
    answered: r.fleetRequests ? r.answered / r.fleetRequests : 0,
    ownerRequests: (t.doRequests.CertOwner ?? 0) / n,
    touches: (t.doCalls["CertOwner.touch"] ?? 0) / n,
    rowsWritten: sum(t.rowsWritten) / n,
    ledgerRequests: (t.doRequests.FleetLedger ?? 0) / n,
    ledgerFlushes: (t.doCalls["FleetLedger.addCounters"] ?? 0) / n,
    kvReads: t.kvReads / n,
    kvWrites: t.kvWrites / n,
    cacheOps: (t.cacheReads + t.cacheWrites) / n,
    doRequests: sum(t.doRequests) / n,
    caPerCertWindow: r.caRequests.traffic / Math.max(1, r.certificates) / windows,
  };
}

/** Monthly usage and cost at the shape's full size (× scale), from the traffic part of the run. */
export function monthly(r: SimResult, p: Prices) {
  const k = (30 / r.days) * r.scale;
  const t: Bill = r.traffic;
  const doRequests = sum(t.doRequests);
  const usage: Record<string, number> = {
    workersRequests: t.workersRequests * k,
    kvReads: t.kvReads * k,
    kvWrites: t.kvWrites * k,
    kvDeletes: t.kvDeletes * k,
    kvLists: t.kvLists * k,
    doRequests: doRequests * k,
    doDurationGbS: doRequests * k * (p.durationMsPerRequest / 1000) * 0.128,
    rowsRead: sum(t.rowsRead) * k,
    rowsWritten: sum(t.rowsWritten) * k,
  };
  let total = p.paid.baseMonthly;
  const lines: { item: string; usage: number; cost: number }[] = [];
  for (const [item, used] of Object.entries(usage)) {
    const price = p.paid[item]!;
    const cost = (Math.max(0, used - price.included) / 1e6) * price.perMillion;
    total += cost;
    lines.push({ item, usage: used, cost });
  }
  // The Free plan: the busiest day's share, at the full size.
  const perDay = (n: number) => (n / r.days) * r.scale;
  const free = Object.entries(p.freeDaily).map(([item, limit]) => {
    const used = perDay(
      item === "doRequests"
        ? doRequests
        : item === "rowsWritten"
          ? sum(t.rowsWritten)
          : item === "rowsRead"
            ? sum(t.rowsRead)
            : ((t as unknown as Record<string, number>)[item] ?? 0),
    );
    return { item, perDay: used, limit, fits: used <= limit };
  });
  return { lines, total, free };
}

const f = (n: number, d = 4) =>
  n === 0 ? "0" : n >= 100 ? Math.round(n).toLocaleString("en-US") : n.toFixed(d);

/** One markdown table row per shape: the per-hit figures. */
export function perHitTable(results: SimResult[]): string {
  const rows = [
    "| shape | fleet requests | answered | owner req/hit | touches/hit | rows written/hit | ledger req/hit | KV reads/hit | KV writes/hit | CA req per cert per 7-day window |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  ];
  for (const r of results) {
    const h = perHit(r);
    rows.push(
      `| ${r.shape} | ${f(h.requests)}${r.scale > 1 ? ` (×${r.scale})` : ""} | ${(h.answered * 100).toFixed(2)} % | ${f(h.ownerRequests)} | ${f(h.touches)} | ${f(h.rowsWritten)} | ${f(h.ledgerRequests)} | ${f(h.kvReads)} | ${f(h.kvWrites)} | ${f(h.caPerCertWindow, 2)} |`,
    );
  }
  return rows.join("\n");
}

/** The monthly bill of each shape at its full size. */
export function costTable(results: SimResult[], p: Prices): string {
  const items = monthly(results[0]!, p).lines.map((l) => l.item);
  const rows = [
    `| per month (prices read ${p.read}) | ${results.map((r) => r.shape).join(" | ")} |`,
    `| --- | ${results.map(() => "---:").join(" | ")} |`,
  ];
  const bills = results.map((r) => monthly(r, p));
  for (const [i, item] of items.entries())
    rows.push(
      `| ${item} | ${bills.map((b) => `${f(b.lines[i]!.usage, 0)} ($${b.lines[i]!.cost.toFixed(2)})`).join(" | ")} |`,
    );
  rows.push(
    `| **total, Workers Paid** | ${bills.map((b) => `**$${b.total.toFixed(2)}**`).join(" | ")} |`,
  );
  rows.push(
    `| fits the Free plan (per day) | ${bills
      .map((b) => {
        const over = b.free.filter((x) => !x.fits);
        return over.length === 0
          ? "yes"
          : `no: ${over.map((x) => `${x.item} ${f(x.perDay, 0)}/${f(x.limit, 0)}`).join(", ")}`;
      })
      .join(" | ")} |`,
  );
  return rows.join("\n");
}
