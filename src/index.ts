// Worker entry: the order a request takes, in plain sight, and the Durable Object exports.

import { createApp } from "./app.ts";
import type { Env } from "./env.ts";
import { PLATFORM, type Platform } from "./platform.ts";
import { Relays } from "./wiring.ts";

export { CertOwner } from "./fleet/durable-object.ts";
export { FleetLedger } from "./fleet/ledger-do.ts";
export { UpstreamBudget } from "./fleet/budget-do.ts";
export { Registrar } from "./issuers/registrar-do.ts";
export { CrlOwner } from "./fleet/crl-owner-do.ts";
export { PinQueue } from "./fleet/pin-queue-do.ts";

export function createWorker(platform: Platform) {
  const relays = new Relays(platform);
  const app = createApp(relays);
  return {
    app,
    fetch(request: Request, env: Env, ctx: ExecutionContext): Response | Promise<Response> {
      // 1. A GET whose exact URL was answered before, from isolate memory: no routing, no decoding.
      if (request.method === "GET") {
        const remembered = relays.of(env).remembered(request, ctx);
        if (remembered) return remembered;
      }
      // 2. Everything else: the routes (app.ts), decoding, the Source chain (wiring.ts).
      return app.fetch(request, env, ctx);
    },
  };
}

const worker = createWorker(PLATFORM);
export default { fetch: worker.fetch } satisfies ExportedHandler<Env>;
