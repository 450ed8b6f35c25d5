// What every route finds in its Hono context: the bindings, this isolate's Relay, and the error
// surface of its route group (set in app.ts).

import type { Env } from "../env.ts";
import type { Relay } from "../relay.ts";

/** How a route group reports errors: JSON, or an RFC 6960 error response. */
export type ErrorSurface = "json" | "ocsp";

export type AppEnv = {
  Bindings: Env;
  Variables: {
    relay: Relay;
    surface: ErrorSurface;
    /** The caller sent a fleet key (OCSP_KEYS set) or the admin token (set by routes/auth.ts). */
    authenticated?: boolean;
  };
};
