// What operators look at: /metrics (Prometheus) and /status (HTML), both from the fleet ledger,
// behind the admin token unless STATUS_PUBLIC=true.

import { Hono } from "hono";
import { renderMetrics } from "../metrics/prometheus.ts";
import { renderStatusPage } from "../status/page.ts";
import { requireAdminUnlessPublic, type AppEnv } from "./auth.ts";

export function observeRoutes(): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  routes.use("/metrics", requireAdminUnlessPublic);
  routes.use("/status", requireAdminUnlessPublic);

  routes.get("/metrics", async (c) => {
    const relay = c.get("relay");
    const now = relay.now();
    await relay.flushCounters(now); // this isolate's latest counts are included
    const [snapshot, budgets] = await Promise.all([
      relay.ledger().snapshot(),
      relay.registry.index(now).then((index) => relay.budgets(index.records)),
    ]);
    const isolate = { memoryEntries: relay.memoryEntries() };
    return c.body(renderMetrics(snapshot, now, isolate, budgets), 200, {
      "Content-Type": "text/plain; version=0.0.4; charset=utf-8",
      "Cache-Control": "no-store",
    });
  });

  routes.get("/status", async (c) => {
    const relay = c.get("relay");
    const now = relay.now();
    const [snapshot, index] = await Promise.all([
      relay.ledger().snapshot(),
      relay.registry.index(now),
    ]);
    const html = renderStatusPage({
      snapshot,
      issuers: index.records,
      now,
      mustStapleMarginMs: relay.config.alerts.mustStapleMarginMs,
      budgets: await relay.budgets(index.records),
      endpoint: { access: relay.config.access, keyed: relay.fleetKeys.closed },
    });
    return c.html(html, 200, { "Cache-Control": "no-store" });
  });
  return routes;
}
