// CrlOwner: the Durable Object that owns one registered CRL fleet-wide (named by the issuer id and
// the CRL URL). A thin shell around CrlOwnerLogic: storage, the fetch, the clock and the schedule.

import { DurableObject } from "cloudflare:workers";
import { configFrom, type ConfigVars } from "../config.ts";
import type { Result } from "../errors.ts";
import { IssuerRegistry } from "../issuers/registry.ts";
import { alarmTime, durableObjectPlatform } from "../platform.ts";
import { CrlOwnerLogic, type CrlInspection, type CrlRequest, type CrlStatus } from "./crl-owner.ts";
import type { FleetLedger } from "./ledger-do.ts";
import { ledgerOf } from "./ledger-do.ts";
import { fetchCrl } from "./upstream.ts";

/** What a CrlOwner reads of the Env. */
export interface CrlOwnerEnv extends ConfigVars {
  OCSP_CACHE: KVNamespace;
  FLEET_LEDGER: DurableObjectNamespace<FleetLedger>;
}

export class CrlOwner extends DurableObject<CrlOwnerEnv> {
  private readonly logic: CrlOwnerLogic;

  constructor(ctx: DurableObjectState, env: CrlOwnerEnv) {
    super(ctx, env);
    const config = configFrom(env);
    const registry = new IssuerRegistry(env.OCSP_CACHE);
    const storage = ctx.storage;
    this.logic = new CrlOwnerLogic({
      storage: {
        get: (key) => storage.get(key),
        put: (key, value) => storage.put(key, value),
        delete: (key) => storage.delete(key),
        // Alarms fire on the platform's clock; scheduled by the time left on the injected one.
        setAlarm: (at) => storage.setAlarm(alarmTime(at)),
      },
      fetchCrl: (url, allowPrivate) =>
        fetchCrl(url, {
          fetch: (input, init) => durableObjectPlatform().fetch(input, init),
          clock: () => durableObjectPlatform().now(),
          timeoutMs: config.upstreamTimeoutMs,
          allowPrivate: allowPrivate || config.allowPrivateResponders,
          userAgent: config.userAgent,
        }),
      currentIssuer: async (id) => (await registry.index(durableObjectPlatform().now())).get(id),
      now: () => durableObjectPlatform().now(),
      random: () => durableObjectPlatform().random(),
      schedule: config.schedule,
      report: (r) => ledgerOf(env).reportCrl(r),
      background: (work) => ctx.waitUntil(work),
      inlineBackground: () => durableObjectPlatform().inlineBackground === true,
    });
  }

  status(req: CrlRequest): Promise<Result<CrlStatus>> {
    return this.logic.status(req);
  }

  inspect(serial?: string): Promise<CrlInspection> {
    return this.logic.inspect(serial);
  }

  unpin(serial: string): Promise<boolean> {
    return this.logic.unpin(serial);
  }

  override async alarm(): Promise<void> {
    await this.logic.alarm();
  }
}

/** The owner of `url` for `issuerId`. A stub belongs to the request that made it. */
export function crlOwnerOf(
  env: { CRL_OWNER: DurableObjectNamespace<CrlOwner> },
  issuerId: string,
  url: string,
) {
  return env.CRL_OWNER.get(env.CRL_OWNER.idFromName(`${issuerId} ${url}`));
}
