// The Hono app: the routes, each group with its error surface (JSON for the admin API, /check,
// /metrics, /status and /healthz; RFC 6960 for the OCSP endpoint), and the one error boundary.
// The hot path runs before it (index.ts).

import { Hono, type Context } from "hono";
import { jsonErrorResponse, ocspErrorResponse } from "./http/errors.ts";
import { redactFleetKey } from "./http/fleet-keys.ts";
import { ops, resetOps } from "./instrumentation.ts";
import { log } from "./log.ts";
import type { AppEnv } from "./routes/context.ts";
import { adminRoutes } from "./routes/admin.ts";
import { checkRoutes } from "./routes/check.ts";
import { observeRoutes } from "./routes/observe.ts";
import { handleOcspGet, handleOcspPost, splitFleetKey } from "./routes/ocsp.ts";
import type { Relays } from "./wiring.ts";

/** ExecutionContext.waitUntil when there is one (not under app.request() without a context). */
function backgroundOf(c: Context<AppEnv>): ((work: Promise<unknown>) => void) | undefined {
  try {
    const ctx = c.executionCtx;
    return (work) => ctx.waitUntil(work);
  } catch {
    return undefined;
  }
}

export function createApp(relays: Relays): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  app.use("*", async (c, next) => {
    c.set("relay", relays.of(c.env));
    c.set("surface", "ocsp");
    await next();
  });
  const json = (path: string) =>
    app.use(path, async (c, next) => {
      c.set("surface", "json");
      await next();
    });
  for (const path of ["/admin/*", "/check/*", "/check", "/metrics", "/status", "/healthz"])
    json(path);

  // BENCH_MODE only: this isolate's operation counts, for the benchmark's cost figures.
  app.get("/__bench/ops", (c) =>
    c.env.BENCH_MODE === "true"
      ? c.json(ops)
      : ocspErrorResponse({ kind: "malformed", detail: "" }),
  );
  app.post("/__bench/reset", (c) => {
    if (c.env.BENCH_MODE !== "true")
      return jsonErrorResponse({ kind: "methodNotAllowed", detail: "" });
    resetOps();
    return c.json(ops);
  });

  app.get("/healthz", async (c) => {
    const relay = c.get("relay");
    const index = await relay.registry.index(relay.now());
    return c.json({ ok: true, issuers: index.records.length });
  });

  app.route("/admin", adminRoutes());
  app.route("/check", checkRoutes());
  app.route("/", observeRoutes());

  app.get("/", (c) =>
    c.text(
      "ocsp-relay: send OCSP requests as GET /<base64 DER> or POST / (application/ocsp-request)\n",
    ),
  );
  app.on(["GET", "HEAD"], "*", (c) =>
    handleOcspGet(c.get("relay"), c.req.raw, new URL(c.req.url).pathname, backgroundOf(c)),
  );
  app.post("/", (c) => handleOcspPost(c.get("relay"), c.req.raw, undefined, backgroundOf(c)));
  // POST /k/<key>/ (or /k/<key>): the OCSP endpoint under a fleet key.
  app.post("/k/*", (c, next) => {
    const { key, rest } = splitFleetKey(new URL(c.req.url).pathname);
    if (rest !== "/") return next();
    return handleOcspPost(c.get("relay"), c.req.raw, key, backgroundOf(c));
  });
  app.all("*", () =>
    jsonErrorResponse({
      kind: "methodNotAllowed",
      detail: "the OCSP endpoint takes GET /<base64> and POST /",
    }),
  );

  app.onError((e, c) => {
    log("request.error", {
      path: redactFleetKey(new URL(c.req.url).pathname).slice(0, 64),
      detail: e instanceof Error ? e.message : String(e),
    });
    const error = { kind: "internal" as const, detail: "internal error" };
    return c.get("surface") === "json" ? jsonErrorResponse(error) : ocspErrorResponse(error);
  });
  return app;
}
