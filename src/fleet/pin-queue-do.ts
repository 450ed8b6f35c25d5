// PinQueue: the Durable Object holding one issuer's queued pins (named by the issuer id), drained by
// its alarm at PIN_RATE_PER_MINUTE. A thin shell around PinQueueLogic: storage (in parts of 128
// keys, the platform's limit per call), alarms on the injected clock, the registry, and the pin
// itself: the owner's answer with `pin: true`, as the admin API pins a few leaves inline.

import { DurableObject } from "cloudflare:workers";
import { configFrom, type ConfigVars } from "../config.ts";
import type { IssuerRecord } from "../issuers/issuer.ts";
import { registrarOf, type Registrar } from "../issuers/registrar-do.ts";
import { alarmTime, durableObjectPlatform } from "../platform.ts";
import { ownerRequest } from "../sources/owner.ts";
import { crlOwnerOf, type CrlOwner } from "./crl-owner-do.ts";
import type { CertOwner } from "./durable-object.ts";
import type { OwnerPolicy } from "./owner-types.ts";
import type { PinRequest } from "./pin-queue.ts";
import {
  PinQueueLogic,
  type PinOutcome,
  type PinQueueStorage,
  type QueueProgress,
  type QueueReceipt,
} from "./pin-queue-logic.ts";

/** What a PinQueue reads of the Env. */
export interface PinQueueEnv extends ConfigVars {
  CERT_OWNER: DurableObjectNamespace<CertOwner>;
  CRL_OWNER: DurableObjectNamespace<CrlOwner>;
  REGISTRAR: DurableObjectNamespace<Registrar>;
}

/** How long a drain trusts the registry it read (the Registrar: strongly consistent). */
const REGISTRY_TTL_MS = 60_000;

export class PinQueue extends DurableObject<PinQueueEnv> {
  private readonly logic: PinQueueLogic;
  private registry: { records: IssuerRecord[]; at: number } | undefined;

  constructor(ctx: DurableObjectState, env: PinQueueEnv) {
    super(ctx, env);
    const config = configFrom(env);
    const policy: OwnerPolicy = { access: config.access, budget: config.budget };
    const now = () => durableObjectPlatform().now();
    this.logic = new PinQueueLogic({
      storage: queueStorage(ctx.storage),
      now,
      perMinute: config.pinRatePerMinute,
      // The Registrar, not KV: a queue filled right after its issuer was registered must not take
      // KV's propagation delay for a deletion.
      currentIssuer: async (id) => {
        if (
          !this.registry ||
          now() - this.registry.at >= REGISTRY_TTL_MS ||
          now() < this.registry.at
        )
          this.registry = { records: await registrarOf(env).list(), at: now() };
        return this.registry.records.find((r) => r.id === id);
      },
      pin: (issuer, entry) => pin(env, issuer, entry, policy, config.allowPrivateResponders),
    });
  }

  enqueue(issuerId: string, requests: PinRequest[]): Promise<QueueReceipt> {
    return this.logic.enqueue(issuerId, requests);
  }

  progress(issuerId: string): Promise<QueueProgress> {
    return this.logic.progress(issuerId);
  }

  override async alarm(): Promise<void> {
    await this.logic.alarm();
  }
}

/** The pin of one queued certificate: what POST /admin/certificates does for one leaf inline. */
async function pin(
  env: PinQueueEnv,
  issuer: IssuerRecord,
  entry: PinRequest,
  policy: OwnerPolicy,
  allowPrivate: boolean,
): Promise<PinOutcome> {
  const t = entry.target;
  if (t.kind === "ocsp") {
    const owner = env.CERT_OWNER.get(env.CERT_OWNER.idFromName(t.certIdKey));
    const lookup = { key: t.certIdKey, certId: t.certId, issuer, leaf: entry.leaf };
    const result = await owner.answer(ownerRequest(lookup, true, policy));
    return result.ok ? { ok: true } : { ok: false, error: result.error.detail };
  }
  // Pinned in each CRL that speaks for it (issuers/revocation.ts), fetched when none is held.
  const results = await Promise.all(
    t.consult.map((url) =>
      crlOwnerOf(env, issuer.id, url).status({
        url,
        issuer,
        serial: entry.serial,
        names: t.named.includes(url),
        allowPrivate,
        leaf: entry.leaf,
        pin: true,
      }),
    ),
  );
  const failed = results.flatMap((r) => (r.ok ? [] : [r.error.detail]));
  return failed.length ? { ok: false, error: failed.join("; ") } : { ok: true };
}

/** Durable Object storage as the queue uses it: calls split at 128 keys, alarms by time left. */
function queueStorage(storage: DurableObjectStorage): PinQueueStorage {
  const parts = <T>(items: T[]) =>
    Array.from({ length: Math.ceil(items.length / 128) }, (_, i) =>
      items.slice(i * 128, i * 128 + 128),
    );
  return {
    async get<T>(keys: string[]) {
      const maps = await Promise.all(parts(keys).map((p) => storage.get<T>(p)));
      return new Map(maps.flatMap((m) => [...m]));
    },
    async put(entries) {
      await Promise.all(
        parts(Object.entries(entries)).map((p) => storage.put(Object.fromEntries(p))),
      );
    },
    async delete(keys) {
      await Promise.all(parts(keys).map((p) => storage.delete(p)));
    },
    list: <T>(o: { start: string; end: string; limit: number }) => storage.list<T>(o),
    setAlarm: (at) => storage.setAlarm(alarmTime(at)),
    deleteAll: async () => {
      await storage.deleteAlarm();
      await storage.deleteAll();
    },
  };
}

/** The pin queue of one issuer. A stub belongs to the request that made it: make one per use. */
export function pinQueueOf(env: { PIN_QUEUE: DurableObjectNamespace<PinQueue> }, issuerId: string) {
  return env.PIN_QUEUE.get(env.PIN_QUEUE.idFromName(issuerId));
}
