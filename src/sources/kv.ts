// Workers KV: the shared read path of verified answers (storage-schema.md). The value is the exact
// DER, the metadata the facts; every read checks serveUntil (≤ nextUpdate) again. Only the
// certificate's owner writes here (fleet/owner.ts), so KV writes follow refreshes, not traffic.

import {
  factsOf,
  isFresh,
  KV_KEYS,
  kvExpirationTtl,
  parseFacts,
  type CachedAnswer,
} from "../cache/record.ts";
import { ok } from "../errors.ts";
import { served, type Lookup, type Served, type Source, type TierInfo } from "./source.ts";
import { ops } from "../instrumentation.ts";

/**
 * KV is a cache tier: the owner's copy, written by the owner. A location reads it once per copy it
 * keeps (edge cache, isolate memory), so its hits are the ones that tell the owner clients still ask.
 */
export const KV_TIER: TierInfo = { name: "kv", cached: true, touches: true };

export class KvTier implements Source {
  constructor(
    private readonly kv: KVNamespace,
    private readonly next: Source,
  ) {}

  async get(lookup: Lookup) {
    const held = await readAnswer(this.kv, lookup.key);
    if (held && isFresh(held, lookup.now)) return ok(served(KV_TIER, held));
    return this.next.get(lookup);
  }

  async inspect(lookup: Lookup): Promise<Served | undefined> {
    const held = await readAnswer(this.kv, lookup.key);
    if (held && isFresh(held, lookup.now)) return served(KV_TIER, held);
    const below = await this.next.inspect(lookup);
    if (below && isFresh(below.answer, lookup.now)) return below;
    // Nothing current anywhere: the newest expired copy, so /check can say it expired.
    if (!held) return below;
    return below && below.answer.thisUpdate > held.thisUpdate ? below : served(KV_TIER, held);
  }
}

export async function readAnswer(kv: KVNamespace, key: string): Promise<CachedAnswer | undefined> {
  ops.kvReads++;
  const { value, metadata } = await kv.getWithMetadata(KV_KEYS.response(key), "arrayBuffer");
  const facts = parseFacts(metadata);
  if (!value || !facts || facts.certIdKey !== key) return undefined;
  return { ...facts, der: new Uint8Array(value) };
}

/** Writes a verified answer to KV (the owner of the certificate is the only writer). */
export async function writeAnswer(
  kv: KVNamespace,
  answer: CachedAnswer,
  now: number,
): Promise<void> {
  ops.kvWrites++;
  await kv.put(KV_KEYS.response(answer.certIdKey), answer.der, {
    expirationTtl: kvExpirationTtl(answer, now),
    metadata: factsOf(answer),
  });
}
