// The worker's bindings (wrangler.toml), typed once: the KV namespace, the Durable Object
// namespaces, and the configuration variables (config.ts).

import type { ConfigVars } from "./config.ts";
import type { UpstreamBudget } from "./fleet/budget-do.ts";
import type { CertOwner } from "./fleet/durable-object.ts";
import type { CrlOwner } from "./fleet/crl-owner-do.ts";
import type { FleetLedger } from "./fleet/ledger-do.ts";
import type { PinQueue } from "./fleet/pin-queue-do.ts";
import type { Registrar } from "./issuers/registrar-do.ts";

export interface Env extends ConfigVars {
  OCSP_CACHE: KVNamespace;
  CERT_OWNER: DurableObjectNamespace<CertOwner>;
  FLEET_LEDGER: DurableObjectNamespace<FleetLedger>;
  UPSTREAM_BUDGET: DurableObjectNamespace<UpstreamBudget>;
  REGISTRAR: DurableObjectNamespace<Registrar>;
  CRL_OWNER: DurableObjectNamespace<CrlOwner>;
  PIN_QUEUE: DurableObjectNamespace<PinQueue>;
}
