// What operators look at: /metrics (Prometheus) and /status (HTML), both from the fleet ledger,
// behind the admin token unless STATUS_PUBLIC=true; and /healthz (JSON), open. Errors are JSON.
// The ledger sends each only what it shows (FleetLedger.metricsView, statusView): bounded whatever
// the number of certificates, but for /metrics?certificates=all.

import type { Hono } from "hono";
import { LEDGER_BUSY, MAX_WAITING_PASSES } from "../fleet/ledger.ts";
import { jsonErrorResponse } from "../http/errors.ts";
import { renderMetrics } from "../metrics/prometheus.ts";
import { MAX_QUERY_CHARS, renderStatusPage } from "../status/page.ts";
import type { HealthJson } from "../wire.ts";
import { requireAdminAlways, requireAdminUnlessPublic, type AppEnv } from "./auth.ts";
import { surfaceApp } from "./surface.ts";

/** Highest page number /status accepts (10 000 000 certificates). */
export const MAX_PAGE = 100_000;
/** Pages of /status one pass over the ledger's rows can serve (ROWS_HELD): public ones. */
export const PUBLIC_PAGES = 100;

/**
 * A pass the ledger refused because MAX_WAITING_PASSES already wait for theirs (a flood of
 * /status or /metrics) as a 503 JSON error; any other failure is thrown on.
 */
function busy(e: unknown): Response {
  if (!(e instanceof Error && e.message.includes(LEDGER_BUSY))) throw e;
  const response = jsonErrorResponse({
    kind: "tryLater",
    detail: `the fleet ledger already has ${MAX_WAITING_PASSES} passes over its rows waiting: try again in a few seconds`,
  });
  response.headers.set("Retry-After", "5");
  return response;
}

/** `?q=` and `?page=` as /status takes them; an error says what is wrong with them. */
export function statusQuery(params: {
  q?: string | undefined;
  page?: string | undefined;
}): { ok: true; q: string; page: number } | { ok: false; detail: string } {
  const q = (params.q ?? "").trim();
  if (q.length > MAX_QUERY_CHARS)
    return { ok: false, detail: `q is longer than ${MAX_QUERY_CHARS} characters` };
  const page = params.page === undefined || params.page === "" ? 1 : Number(params.page);
  if (!/^\d*$/.test(params.page ?? "") || !Number.isInteger(page) || page < 1 || page > MAX_PAGE)
    return { ok: false, detail: `page is a whole number from 1 to ${MAX_PAGE}` };
  return { ok: true, q, page };
}

export function observeRoutes(): Hono<AppEnv> {
  const routes = surfaceApp("json");
  routes.use("/metrics", requireAdminUnlessPublic);
  routes.use("/status", requireAdminUnlessPublic);
  // What costs the ledger a second pass, or lists every certificate: the operator's only, even
  // with STATUS_PUBLIC=true (each public request is one pass over the ledger's rows at most).
  routes.use("/metrics", (c, next) =>
    c.req.query("certificates") === "all" ? requireAdminAlways(c, next) : next(),
  );
  routes.use("/status", (c, next) =>
    Number(c.req.query("page") ?? 1) > PUBLIC_PAGES ? requireAdminAlways(c, next) : next(),
  );

  routes.get("/healthz", async (c) => {
    const relay = c.get("relay");
    const index = await relay.registry.index(relay.now());
    return c.json({ ok: true, issuers: index.records.length } satisfies HealthJson);
  });

  // Per-certificate series only for the certificates in trouble, unless ?certificates=all.
  routes.get("/metrics", async (c) => {
    const relay = c.get("relay");
    const certificates = c.req.query("certificates") ?? "troubled";
    if (certificates !== "troubled" && certificates !== "all")
      return jsonErrorResponse({
        kind: "malformed",
        title: "bad query",
        detail: "certificates is all or troubled",
      });
    const now = relay.now();
    await relay.flushCounters(now); // this isolate's latest counts are included
    const both = await Promise.all([
      relay.ledger().metricsView({
        now,
        mustStapleMarginMs: relay.config.alerts.mustStapleMarginMs,
        certificates,
      }),
      relay.registry.index(now).then((index) => relay.budgets(index.records)),
    ]).catch(busy);
    if (both instanceof Response) return both;
    const [ledger, budgets] = both;
    const isolate = { memoryEntries: relay.memoryEntries() };
    return c.body(renderMetrics(ledger, now, isolate, budgets), 200, {
      "Content-Type": "text/plain; version=0.0.4; charset=utf-8",
      "Cache-Control": "no-store",
    });
  });

  // One page of certificates: ?q= searches serials and subjects, ?page= pages.
  routes.get("/status", async (c) => {
    const relay = c.get("relay");
    const query = statusQuery({ q: c.req.query("q"), page: c.req.query("page") });
    if (!query.ok)
      return jsonErrorResponse({ kind: "malformed", title: "bad query", detail: query.detail });
    const now = relay.now();
    const both = await Promise.all([
      relay.ledger().statusView({
        now,
        mustStapleMarginMs: relay.config.alerts.mustStapleMarginMs,
        q: query.q,
        page: query.page,
      }),
      relay.registry.index(now),
    ]).catch(busy);
    if (both instanceof Response) return both;
    const [ledger, index] = both;
    const html = renderStatusPage({
      ledger,
      issuers: index.records,
      now,
      budgets: await relay.budgets(index.records),
      endpoint: { access: relay.config.access, keyed: relay.fleetKeys.closed },
    });
    return c.html(html, 200, { "Cache-Control": "no-store" });
  });
  return routes;
}
