// Registrar: the singleton Durable Object (named "registry") that alone writes the issuer
// registry. A thin shell around RegistrarLogic (issuers/registrar.ts).

import { DurableObject } from "cloudflare:workers";
import type { ConfigVars } from "../config.ts";
import { alarmTime, durableObjectPlatform } from "../platform.ts";
import type { IssuerRecord } from "./issuer.ts";
import { RegistrarLogic } from "./registrar.ts";

/** What the Registrar reads of the Env. */
export interface RegistrarEnv extends ConfigVars {
  OCSP_CACHE: KVNamespace;
}

export class Registrar extends DurableObject<RegistrarEnv> {
  private readonly logic: RegistrarLogic;

  constructor(ctx: DurableObjectState, env: RegistrarEnv) {
    super(ctx, env);
    const storage = ctx.storage;
    this.logic = new RegistrarLogic({
      storage: {
        get: (key) => storage.get(key),
        put: (key, value) => storage.put(key, value),
        delete: (key) => storage.delete(key),
        list: (options) => storage.list(options),
        // Alarms run on the platform's clock; the delay is what matters.
        setAlarm: (at) => storage.setAlarm(alarmTime(at)),
      },
      kv: env.OCSP_CACHE,
      now: () => durableObjectPlatform().now(),
    });
  }

  list(): Promise<IssuerRecord[]> {
    return this.logic.list();
  }

  upsert(record: IssuerRecord) {
    return this.logic.upsert(record);
  }

  remove(id: string) {
    return this.logic.remove(id);
  }

  override async alarm(): Promise<void> {
    await this.logic.alarm();
  }
}

/** The Registrar's stub. A stub belongs to the request that made it: make one per use. */
export function registrarOf(env: { REGISTRAR: DurableObjectNamespace<Registrar> }) {
  return env.REGISTRAR.get(env.REGISTRAR.idFromName("registry"));
}
