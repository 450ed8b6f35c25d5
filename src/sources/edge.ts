// The edge Cache API (per location): between isolate memory and KV. Entries are stored with a
// max-age that ends at the tier re-check point (≤ serveUntil ≤ nextUpdate), so none lives past
// nextUpdate and refreshed answers come through; every hit checks the time again.

import {
  factsOf,
  isFresh,
  parseFacts,
  SCHEMA_VERSION,
  type CachedAnswer,
} from "../cache/record.ts";
import { ok } from "../errors.ts";
import { tierRecheckAt } from "../cache/freshness.ts";
import { served, type Lookup, type Served, type Source, type TierInfo } from "./source.ts";
import { ops } from "../instrumentation.ts";

const FACTS_HEADER = "X-OCSP-Relay-Facts";
/** When the copy ends (epoch ms): a memory copy taken from it ends no later. */
const UNTIL_HEADER = "X-OCSP-Relay-Until";

/** The edge cache is a cache tier: a copy of what the owner fetched. */
export const EDGE_TIER: TierInfo = { name: "edge", cached: true };

/** The Cache API key: an internal URL that no client request can name. */
export const edgeKey = (key: string) =>
  `https://ocsp-relay.cache/${SCHEMA_VERSION}/resp/${encodeURIComponent(key)}`;

export class EdgeTier implements Source {
  constructor(
    private readonly cache: Cache | undefined,
    private readonly next: Source,
  ) {}

  async get(lookup: Lookup) {
    const held = await this.read(lookup.key, lookup.now);
    if (held) return ok({ ...served(EDGE_TIER, held.answer), until: held.until });
    const result = await this.next.get(lookup);
    if (result.ok) {
      const write = this.write(result.value.answer, lookup.now);
      if (lookup.background) lookup.background(write);
      else await write;
    }
    return result;
  }

  async inspect(lookup: Lookup): Promise<Served | undefined> {
    const held = await this.read(lookup.key, lookup.now);
    return held ? served(EDGE_TIER, held.answer) : this.next.inspect(lookup);
  }

  private async read(
    key: string,
    now: number,
  ): Promise<{ answer: CachedAnswer; until: number } | undefined> {
    if (!this.cache) return undefined;
    try {
      ops.cacheReads++;
      const response = await this.cache.match(edgeKey(key));
      if (!response) return undefined;
      const facts = parseFacts(JSON.parse(response.headers.get(FACTS_HEADER) ?? "null"));
      if (!facts || facts.certIdKey !== key || !isFresh(facts, now)) return undefined;
      const answer = { ...facts, der: new Uint8Array(await response.arrayBuffer()) };
      const until = Number(response.headers.get(UNTIL_HEADER) ?? NaN);
      // Past its end by our clock (the Cache API rounds max-age): the tier below is asked, so a
      // memory copy never outlives it. An entry written without the header (an older version)
      // ends at its own re-check point.
      if (until <= now) return undefined;
      return { answer, until: until > now ? until : tierRecheckAt(answer, now) };
    } catch {
      return undefined; // the edge cache is an optimisation; KV stays the source of truth
    }
  }

  private async write(answer: CachedAnswer, now: number): Promise<void> {
    if (!this.cache) return;
    const until = tierRecheckAt(answer, now);
    const maxAge = Math.floor((until - now) / 1000);
    if (maxAge <= 0) return;
    try {
      ops.cacheWrites++;
      await this.cache.put(
        edgeKey(answer.certIdKey),
        new Response(answer.der, {
          headers: {
            "Cache-Control": `max-age=${maxAge}`,
            [UNTIL_HEADER]: String(until),
            [FACTS_HEADER]: JSON.stringify(factsOf(answer)),
          },
        }),
      );
    } catch {
      // ignored: see read()
    }
  }
}
