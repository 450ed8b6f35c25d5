// CertOwner: the Durable Object that owns one CertID's answer fleet-wide (one object per CertID,
// named by its certIdKey). A thin shell around CertOwnerLogic: it supplies storage, KV, the
// upstream fetcher, the clock and the schedule from the Env. See docs/fleet-freshness.md.

import { DurableObject } from "cloudflare:workers";
import type { CachedAnswer } from "../cache/record.ts";
import { configFrom, type ConfigVars } from "../config.ts";
import type { UpstreamBudget } from "./budget-do.ts";
import type { FleetLedger } from "./ledger-do.ts";
import type { Result } from "../errors.ts";
import { ops } from "../instrumentation.ts";
import { IssuerRegistry } from "../issuers/registry.ts";
import { alarmDue, alarmTime, durableObjectPlatform } from "../platform.ts";
import { writeAnswer } from "../sources/kv.ts";
import { fetchVerified } from "./upstream.ts";
import { budgetOf } from "./budget-do.ts";
import { ledgerOf } from "./ledger-do.ts";
import {
  CertOwnerLogic,
  type OwnerAnswer,
  type OwnerRequest,
  type OwnerState,
  type OwnerStorage,
} from "./owner.ts";

/** What a CertOwner reads of the Env. */
export interface OwnerEnv extends ConfigVars {
  OCSP_CACHE: KVNamespace;
  FLEET_LEDGER: DurableObjectNamespace<FleetLedger>;
  UPSTREAM_BUDGET: DurableObjectNamespace<UpstreamBudget>;
}

export class CertOwner extends DurableObject<OwnerEnv> {
  private readonly logic: CertOwnerLogic;

  constructor(ctx: DurableObjectState, env: OwnerEnv) {
    super(ctx, env);
    const config = configFrom(env);
    const registry = new IssuerRegistry(env.OCSP_CACHE);
    this.logic = new CertOwnerLogic({
      storage: relativeAlarms(ctx.storage),
      publish: (answer, now) => writeAnswer(env.OCSP_CACHE, answer, now),
      fetchVerified: (lookup) =>
        fetchVerified(
          lookup,
          {
            fetch: (input, init) => durableObjectPlatform().fetch(input, init),
            clock: () => durableObjectPlatform().now(),
            timeoutMs: config.upstreamTimeoutMs,
            allowPrivate: config.allowPrivateResponders,
            userAgent: config.userAgent,
          },
          config.schedule.unknownMaxAgeMs,
        ),
      currentIssuer: async (id) => (await registry.index(durableObjectPlatform().now())).get(id),
      now: () => durableObjectPlatform().now(),
      random: () => durableObjectPlatform().random(),
      schedule: config.schedule,
      report: (r) => ledgerOf(env).reportFetch(r),
      spendBudget: (issuerId, budget) => budgetOf(env, issuerId).take(budget),
      background: (work) => ctx.waitUntil(work),
      inlineBackground: () => durableObjectPlatform().inlineBackground === true,
    });
  }

  answer(req: OwnerRequest): Promise<Result<OwnerAnswer>> {
    return this.logic.answer(req);
  }

  touch(req: OwnerRequest): Promise<void> {
    return this.logic.touch(req);
  }

  unpin(): Promise<boolean> {
    return this.logic.unpin();
  }

  /** What the owner knows (for /check and the status page). */
  async inspect(): Promise<{ state: OwnerState | undefined; answer: CachedAnswer | undefined }> {
    return { state: await this.logic.state(), answer: await this.logic.held() };
  }

  override async alarm(): Promise<void> {
    await this.logic.alarm();
  }
}

/**
 * The owner schedules alarms on the injected clock (durableObjectPlatform().now); the platform fires them on the
 * real one. Scheduling by the time left keeps the delays right when the two differ (tests); in
 * production they are the same clock and this is the identity.
 */
function relativeAlarms(storage: DurableObjectStorage): OwnerStorage {
  return {
    get: (key) => storage.get(key),
    put: (key, value) => {
      ops.ownerWrites++;
      return storage.put(key, value);
    },
    delete: (keys) => {
      ops.ownerWrites += keys.length; // each key deleted is a row written
      return storage.delete(keys);
    },
    setAlarm: (at) => {
      ops.ownerWrites++;
      return storage.setAlarm(alarmTime(at));
    },
    getAlarm: async () => {
      const real = await storage.getAlarm();
      return real === null ? null : alarmDue(real);
    },
    deleteAlarm: () => storage.deleteAlarm(),
    deleteAll: async () => {
      ops.ownerWrites++;
      await storage.deleteAlarm();
      await storage.deleteAll();
    },
  };
}
