// What every route finds in its Hono context: the bindings and this isolate's Relay (set in
// app.ts), and whether the caller authenticated (set in auth.ts).

import type { Env } from "../env.ts";
import type { Relay } from "../relay.ts";

export type AppEnv = {
  Bindings: Env;
  Variables: {
    relay: Relay;
    /** The caller sent a fleet key (OCSP_KEYS set) or the admin token (set by routes/auth.ts). */
    authenticated?: boolean;
  };
};
