// Isolate memory: a bounded LRU of verified answers. A hit reads no KV and verifies nothing; every
// hit still checks nextUpdate, so an expired answer is dropped, never served.

import { isFresh, type CachedAnswer } from "../cache/record.ts";
import { ok } from "../errors.ts";
import type { Lookup, Served, Source } from "./source.ts";

export interface MemoryLimits {
  maxEntries: number;
  maxBytes: number;
}

/** 10 000 answers or 32 MiB of DER, whichever comes first (a Worker isolate has 128 MB). */
export const MEMORY_LIMITS: MemoryLimits = { maxEntries: 10_000, maxBytes: 32 * 1024 * 1024 };

export class MemoryTier implements Source {
  private readonly entries = new Map<string, CachedAnswer>();
  private bytes = 0;

  constructor(
    private readonly next: Source,
    private readonly limits: MemoryLimits = MEMORY_LIMITS,
  ) {}

  async get(lookup: Lookup) {
    const hit = this.peek(lookup.key, lookup.now);
    if (hit) return ok<Served>({ answer: hit, tier: "memory" });
    const result = await this.next.get(lookup);
    if (result.ok) this.put(result.value.answer);
    return result;
  }

  /** The fresh answer for `key`, if held; refreshes its LRU position. */
  peek(key: string, now: number): CachedAnswer | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    this.delete(key);
    if (!isFresh(entry, now)) return undefined;
    this.entries.set(key, entry);
    this.bytes += entry.der.length;
    return entry;
  }

  put(answer: CachedAnswer): void {
    const held = this.entries.get(answer.certIdKey);
    if (held && held.thisUpdate > answer.thisUpdate) return; // never roll back
    this.delete(answer.certIdKey);
    this.entries.set(answer.certIdKey, answer);
    this.bytes += answer.der.length;
    while (this.entries.size > this.limits.maxEntries || this.bytes > this.limits.maxBytes) {
      const oldest = this.entries.keys().next().value;
      if (oldest === undefined) break;
      this.delete(oldest);
    }
  }

  delete(key: string): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    this.entries.delete(key);
    this.bytes -= entry.der.length;
  }

  get size(): { entries: number; bytes: number } {
    return { entries: this.entries.size, bytes: this.bytes };
  }
}
