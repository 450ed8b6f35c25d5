// One surface, one sub-app: each group of routes (the OCSP endpoint, admin, check, observe, bench)
// is a Hono app of its own whose `onError` turns anything thrown in its routes into its surface's
// internal error, an RFC 6960 internalError or a JSON 500 (src/http/errors.ts), never a stack
// trace. Hono (4.x, hono-base.ts `route()`) wraps each route of a sub-app mounted with
// `app.route()` in that sub-app's error handler, if it has one when it is mounted: hence set here,
// at construction.

import { Hono, type Context } from "hono";
import { jsonErrorResponse, ocspErrorResponse } from "../http/errors.ts";
import { redactFleetKey } from "../http/fleet-keys.ts";
import { log } from "../log.ts";
import type { AppEnv } from "./context.ts";

/** How a surface reports errors: JSON, or an RFC 6960 error response. */
export type ErrorSurface = "json" | "ocsp";

/** A sub-app whose routes report their errors on `surface`. */
export function surfaceApp(surface: ErrorSurface): Hono<AppEnv> {
  return new Hono<AppEnv>().onError(internalError(surface));
}

/** Logs what was thrown (the path without its fleet key) and answers the surface's internal error. */
export function internalError(surface: ErrorSurface) {
  return (e: Error, c: Context<AppEnv>): Response => {
    log("request.error", {
      path: redactFleetKey(new URL(c.req.url).pathname).slice(0, 64),
      detail: e.message,
    });
    const error = { kind: "internal" as const, detail: "internal error" };
    return surface === "json" ? jsonErrorResponse(error) : ocspErrorResponse(error);
  };
}
