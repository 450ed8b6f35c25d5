// Isolate memory: a bounded LRU of verified answers. A hit reads no KV and verifies nothing; every
// hit still checks the time, so an expired answer is dropped, never served, and a copy past the
// owner's refresh point is re-checked against the tiers below (fleet/schedule.ts tierRecheckAt).

import { type CachedAnswer } from "../cache/record.ts";
import { tierRecheckAt } from "../cache/freshness.ts";
import { PreparedHeaders } from "../http/ocsp-headers.ts";
import { ok, type RelayError, type Result } from "../errors.ts";
import { served, type Lookup, type Served, type Source, type TierInfo } from "./source.ts";

/** Isolate memory is a cache tier: a copy of what the owner fetched. */
export const MEMORY_TIER: TierInfo = { name: "memory", cached: true };

export interface MemoryLimits {
  maxEntries: number;
  maxBytes: number;
}

/**
 * 10 000 answers or 32 MiB of DER, whichever comes first (a Worker isolate has 128 MB); the hot
 * path's URL map has 4 MiB of its own beside it (sources/urls.ts URL_LIMITS).
 */
export const MEMORY_LIMITS: MemoryLimits = { maxEntries: 10_000, maxBytes: 32 * 1024 * 1024 };

export interface MemoryEntry {
  answer: CachedAnswer;
  /** From then on the tier below is asked again (fleet/schedule.ts tierRecheckAt). */
  recheckAt: number;
  headers: PreparedHeaders;
  used: boolean;
}

export class MemoryTier implements Source {
  private readonly entries = new Map<string, MemoryEntry>();
  private readonly pending = new Map<string, Promise<Result<Served, RelayError>>>();
  private bytes = 0;

  constructor(
    private readonly next: Source,
    private readonly limits: MemoryLimits = MEMORY_LIMITS,
  ) {}

  async get(lookup: Lookup): Promise<Result<Served, RelayError>> {
    const hit = this.peek(lookup.key, lookup.now);
    if (hit) return ok(served(MEMORY_TIER, hit));
    // Misses for one certificate that arrive together (a fleet asking after a restart) share one
    // look through the tiers below: one edge cache read, one KV read, one owner call.
    const pending = this.pending.get(lookup.key);
    if (pending) return pending;
    const asked = this.next.get(lookup).then((result) => {
      if (result.ok) this.put(result.value.answer, lookup.now, result.value.until);
      return result;
    });
    this.pending.set(lookup.key, asked);
    try {
      return await asked;
    } finally {
      if (this.pending.get(lookup.key) === asked) this.pending.delete(lookup.key);
    }
  }

  async inspect(lookup: Lookup): Promise<Served | undefined> {
    const held = this.peek(lookup.key, lookup.now);
    return held ? served(MEMORY_TIER, held) : this.next.inspect(lookup);
  }

  /** The current answer for `key`, if held. */
  peek(key: string, now: number): CachedAnswer | undefined {
    return this.peekEntry(key, now)?.answer;
  }

  /** The current entry for `key`, if held (with its prepared hit headers: the hot path). */
  peekEntry(key: string, now: number): MemoryEntry | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (now >= entry.recheckAt) {
      this.delete(key);
      return undefined;
    }
    entry.used = true; // second chance at eviction (CLOCK): no reordering on the hot path
    return entry;
  }

  /** Keeps `answer` until its re-check point, or `until` (the end of the copy it came from). */
  put(answer: CachedAnswer, now: number, until = Infinity): void {
    const held = this.entries.get(answer.certIdKey);
    if (held && held.answer.thisUpdate > answer.thisUpdate && now < held.answer.serveUntil) return; // never roll back
    this.delete(answer.certIdKey);
    this.entries.set(answer.certIdKey, {
      answer,
      recheckAt: Math.min(tierRecheckAt(answer, now), until),
      headers: new PreparedHeaders(answer),
      used: false,
    });
    this.bytes += answer.der.length;
    // Evict the oldest entry not used since it was last passed over (an approximation of LRU that
    // costs nothing on hits); a used one goes round once more.
    while (this.entries.size > this.limits.maxEntries || this.bytes > this.limits.maxBytes) {
      const [oldestKey, oldest] = this.entries.entries().next().value ?? [];
      if (oldestKey === undefined || oldest === undefined) break;
      this.entries.delete(oldestKey);
      if (oldest.used && oldestKey !== answer.certIdKey) {
        oldest.used = false;
        this.entries.set(oldestKey, oldest);
      } else {
        this.bytes -= oldest.answer.der.length;
      }
    }
  }

  delete(key: string): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    this.entries.delete(key);
    this.bytes -= entry.answer.der.length;
  }

  get size(): { entries: number; bytes: number } {
    return { entries: this.entries.size, bytes: this.bytes };
  }
}
