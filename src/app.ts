// The Hono app: one sub-app per surface, each with its own error boundary (routes/surface.ts):
// JSON for the admin API, /check, /metrics, /status, /healthz and the benchmark's counts; RFC 6960
// for the OCSP endpoint, mounted last since its GET takes every other path. The hot path runs
// before all of it (index.ts).

import { Hono } from "hono";
import type { AppEnv } from "./routes/context.ts";
import { adminRoutes } from "./routes/admin.ts";
import { benchRoutes } from "./routes/bench.ts";
import { checkRoutes } from "./routes/check.ts";
import { observeRoutes } from "./routes/observe.ts";
import { ocspRoutes } from "./routes/ocsp.ts";
import { internalError } from "./routes/surface.ts";
import type { Relays } from "./wiring.ts";

export function createApp(relays: Relays): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.use("*", async (c, next) => {
    c.set("relay", relays.of(c.env));
    await next();
  });

  app.route("/__bench", benchRoutes());
  app.route("/admin", adminRoutes());
  app.route("/check", checkRoutes());
  app.route("/", observeRoutes());
  app.route("/", ocspRoutes());

  // Only what is thrown before any surface is reached (building this isolate's Relay) gets here:
  // answered as the OCSP endpoint, which most requests are for.
  app.onError(internalError("ocsp"));
  return app;
}
