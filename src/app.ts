// The Hono app: routes, the Relay state per isolate, and the one error boundary.

import { Hono, type Context } from "hono";
import type { Env } from "./env.ts";
import { jsonError, ocspErrorResponse } from "./http/errors.ts";
import { redactFleetKey } from "./http/fleet-keys.ts";
import { log } from "./log.ts";
import { Relay } from "./relay.ts";
import { ops, resetOps } from "./instrumentation.ts";
import { runtime } from "./runtime.ts";
import { adminRoutes } from "./routes/admin.ts";
import { checkRoutes } from "./routes/check.ts";
import { observeRoutes } from "./routes/observe.ts";
import { handleOcspGet, handleOcspPost, splitFleetKey } from "./routes/ocsp.ts";

type AppEnv = { Bindings: Env; Variables: { relay: Relay } };

/** ExecutionContext.waitUntil when there is one (not under app.request() without a context). */
function backgroundOf(c: Context<AppEnv>): ((work: Promise<unknown>) => void) | undefined {
  try {
    const ctx = c.executionCtx;
    return (work) => ctx.waitUntil(work);
  } catch {
    return undefined;
  }
}

/**
 * The app. `seams` replaces the clock, randomness or the CA fetch for the whole isolate (the worker
 * and its Durable Objects alike): tests only.
 */
export function createApp(seams: Partial<typeof runtime> = {}): Hono<AppEnv> {
  Object.assign(runtime, seams);
  // One Relay per KV binding: in production one per isolate; tests get their own.
  const relays = new WeakMap<KVNamespace, Relay>();
  const app = new Hono<AppEnv>();

  app.use("*", async (c, next) => {
    let relay = relays.get(c.env.OCSP_CACHE);
    if (!relay) {
      relay = new Relay(c.env);
      relays.set(c.env.OCSP_CACHE, relay);
    }
    c.set("relay", relay);
    await next();
  });

  // BENCH_MODE only: this isolate's operation counts, for the benchmark's cost figures.
  app.get("/__bench/ops", (c) =>
    c.env.BENCH_MODE === "true"
      ? c.json(ops)
      : ocspErrorResponse({ kind: "malformed", detail: "" }),
  );
  app.post("/__bench/reset", (c) => {
    if (c.env.BENCH_MODE !== "true") return jsonError(405, "method not allowed");
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
    jsonError(405, "method not allowed", "the OCSP endpoint takes GET /<base64> and POST /"),
  );

  app.onError((e, c) => {
    log("request.error", {
      path: redactFleetKey(new URL(c.req.url).pathname).slice(0, 64),
      detail: e instanceof Error ? e.message : String(e),
    });
    const path = c.req.path;
    const isOcsp = !/^\/(admin|check|metrics|status|healthz)(\/|$)/.test(path);
    return isOcsp
      ? ocspErrorResponse({ kind: "internal", detail: "internal error" })
      : jsonError(500, "internal error");
  });
  // The hot path runs before routing (Relay.fastAnswer); anything it cannot answer goes to Hono.
  const route = app.fetch;
  // The env of the last hot-path request and its Relay: the runtime passes the same env object
  // to every request of an isolate, so this skips the WeakMap lookup.
  let hot: { env: unknown; relay: Relay } | undefined;
  app.fetch = (request, env, ctx) => {
    if (ctx && env && request.method === "GET") {
      let relay = hot?.env === env ? hot.relay : undefined;
      if (!relay && "OCSP_CACHE" in env) {
        relay = relays.get(env.OCSP_CACHE);
        if (relay) hot = { env, relay };
      }
      const fast = relay?.fastAnswer(request, ctx);
      if (fast) return fast;
    }
    return route(request, env, ctx);
  };
  return app;
}
