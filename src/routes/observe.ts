// What operators look at: /metrics (Prometheus) and /status (HTML), both from the fleet ledger,
// behind the admin token unless STATUS_PUBLIC=true; and /healthz (JSON), open. Errors are JSON.

import type { Hono } from "hono";
import { renderMetrics } from "../metrics/prometheus.ts";
import { renderStatusPage } from "../status/page.ts";
import type { HealthJson } from "../wire.ts";
import { requireAdminUnlessPublic, type AppEnv } from "./auth.ts";
import { surfaceApp } from "./surface.ts";

export function observeRoutes(): Hono<AppEnv> {
  const routes = surfaceApp("json");
  routes.use("/metrics", requireAdminUnlessPublic);
  routes.use("/status", requireAdminUnlessPublic);

  routes.get("/healthz", async (c) => {
    const relay = c.get("relay");
    const index = await relay.registry.index(relay.now());
    return c.json({ ok: true, issuers: index.records.length } satisfies HealthJson);
  });

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
