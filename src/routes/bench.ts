// BENCH_MODE only: this isolate's operation counts, for the benchmark's cost figures
// (scripts/bench/). Without BENCH_MODE=true both paths answer as the OCSP endpoint would.

import type { Hono } from "hono";
import { jsonErrorResponse, ocspErrorResponse } from "../http/errors.ts";
import { ops, resetOps } from "../instrumentation.ts";
import type { AppEnv } from "./context.ts";
import { surfaceApp } from "./surface.ts";

export function benchRoutes(): Hono<AppEnv> {
  const routes = surfaceApp("json");
  routes.get("/ops", (c) =>
    c.env.BENCH_MODE === "true"
      ? c.json(ops)
      : ocspErrorResponse({ kind: "malformed", detail: "" }),
  );
  routes.post("/reset", (c) => {
    if (c.env.BENCH_MODE !== "true")
      return jsonErrorResponse({ kind: "methodNotAllowed", detail: "" });
    resetOps();
    return c.json(ops);
  });
  return routes;
}
