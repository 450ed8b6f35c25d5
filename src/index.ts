// Worker entry: wires the Env to the app, and exports the Durable Object; nothing else.

import { createApp } from "./app.ts";
import type { Env } from "./env.ts";

export { CertOwner } from "./fleet/durable-object.ts";
export { FleetLedger } from "./fleet/ledger-do.ts";
export { UpstreamBudget } from "./fleet/budget-do.ts";
export { Registrar } from "./issuers/registrar-do.ts";
export default createApp() satisfies ExportedHandler<Env>;
