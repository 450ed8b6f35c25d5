// Memory (README "Performance"): workerd's RSS and the relay isolate's JS heap after gc() (through
// the inspector) when idle, after the hit runs, after warming --certs certificates and at the end;
// and the memory tier's cap, as the worker has it.

import { MEMORY_LIMITS } from "../../../src/sources/memory.ts";
import type { BenchResults } from "../report.ts";
import { memoryOf } from "../proc-stats.ts";
import { heapAfterGc, type Workerd } from "../workerd.ts";

type Rss = ReturnType<typeof memoryOf>;

export class MemoryProbe {
  private readonly rss: Partial<Record<"idle" | "hits" | "warm" | "end", Rss>> = {};
  private readonly heap: Partial<Record<"idle" | "hits" | "end", number | null>> = {};

  constructor(
    private readonly w: Workerd,
    private readonly notes: Set<string>,
  ) {}

  /** RSS, then the heap after gc(). */
  async idle(): Promise<void> {
    this.rss.idle = memoryOf(this.w.service.pid);
    this.heap.idle = await heapAfterGc(this.w, this.notes);
  }

  async afterHits(): Promise<void> {
    this.rss.hits = memoryOf(this.w.service.pid);
    this.heap.hits = await heapAfterGc(this.w, this.notes);
  }

  /** RSS only: the owner objects just created are still alive. */
  afterWarm(): void {
    this.rss.warm = memoryOf(this.w.service.pid);
  }

  /** The heap after gc(), then RSS (and the high-water mark). */
  async end(): Promise<void> {
    this.heap.end = await heapAfterGc(this.w, this.notes);
    this.rss.end = memoryOf(this.w.service.pid);
  }

  results(certsCached: number, answerBytes: number): BenchResults["memory"] {
    const kib = (r: Rss | undefined) => r?.rssKiB ?? NaN;
    return {
      certsCached,
      answerBytes,
      tierCap: { entries: MEMORY_LIMITS.maxEntries, bytes: MEMORY_LIMITS.maxBytes },
      rssIdleKiB: kib(this.rss.idle),
      rssAfterHitsKiB: kib(this.rss.hits),
      rssAfterWarmKiB: kib(this.rss.warm),
      rssEndKiB: kib(this.rss.end),
      hwmKiB: this.rss.end?.hwmKiB ?? NaN,
      heapUsedIdle: this.heap.idle ?? null,
      heapUsedAfterHits: this.heap.hits ?? null,
      heapUsedEnd: this.heap.end ?? null,
    };
  }
}
