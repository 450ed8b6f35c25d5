// Workers KV: the shared cache of verified answers (storage-schema.md). The value is the exact DER,
// the metadata the facts; KV expires the key at nextUpdate (never under its 60-second minimum) and
// every read checks nextUpdate again. A newer answer never gives way to an older one.

import {
  KV_KEYS,
  kvExpiration,
  parseFacts,
  isFresh,
  factsOf,
  type CachedAnswer,
} from "../cache/record.ts";
import { ok } from "../errors.ts";
import { log } from "../log.ts";
import type { Lookup, Served, Source } from "./source.ts";

export class KvTier implements Source {
  constructor(
    private readonly kv: KVNamespace,
    private readonly next: Source,
  ) {}

  async get(lookup: Lookup) {
    const held = await this.read(lookup.key);
    if (held && isFresh(held, lookup.now)) return ok<Served>({ answer: held, tier: "kv" });
    const result = await this.next.get(lookup);
    if (result.ok && result.value.tier === "upstream")
      await this.write(result.value.answer, lookup.now, held);
    return result;
  }

  async read(key: string): Promise<CachedAnswer | undefined> {
    const { value, metadata } = await this.kv.getWithMetadata(KV_KEYS.response(key), "arrayBuffer");
    const facts = parseFacts(metadata);
    if (!value || !facts || facts.certIdKey !== key) return undefined;
    return { ...facts, der: new Uint8Array(value) };
  }

  /** Stores `answer` unless what is held is newer (by thisUpdate). */
  async write(answer: CachedAnswer, now: number, held?: CachedAnswer): Promise<void> {
    if (held && held.thisUpdate > answer.thisUpdate) {
      log("cache.kept", { certId: answer.certIdKey, reason: "held answer is newer" });
      return;
    }
    await this.kv.put(KV_KEYS.response(answer.certIdKey), answer.der, {
      expiration: kvExpiration(answer, now),
      metadata: factsOf(answer),
    });
  }
}
