// A pin queue's storage in memory (src/fleet/pin-queue-logic.ts PinQueueStorage), for plain Node: the
// queue's tests and scripts/pin-rate.ts. Keys listed in order like Durable Object storage; values
// copied in and out (structuredClone), as storage does; each call yields once, so that calls from
// concurrent enqueues and a drain interleave as they would in a Durable Object.

import type { PinQueueStorage } from "../../src/fleet/pin-queue-logic.ts";

export class MemoryPinStorage implements PinQueueStorage {
  readonly data = new Map<string, unknown>();
  /** The alarm, on the queue's clock; undefined when none is set. */
  alarm: number | undefined;
  /** Storage calls made (get/put/delete/list), for bounds on what a drain reads. */
  calls = 0;

  async get<T>(keys: string[]): Promise<Map<string, T>> {
    await this.tick();
    const out = new Map<string, T>();
    for (const k of keys) if (this.data.has(k)) out.set(k, structuredClone(this.data.get(k)) as T);
    return out;
  }

  async put(entries: Record<string, unknown>): Promise<void> {
    await this.tick();
    for (const [k, v] of Object.entries(entries)) this.data.set(k, structuredClone(v));
  }

  async delete(keys: string[]): Promise<void> {
    await this.tick();
    for (const k of keys) this.data.delete(k);
  }

  async list<T>(o: { start: string; end: string; limit: number }): Promise<Map<string, T>> {
    await this.tick();
    const keys = [...this.data.keys()].filter((k) => k >= o.start && k < o.end).sort();
    return new Map(
      keys.slice(0, o.limit).map((k) => [k, structuredClone(this.data.get(k)) as T] as const),
    );
  }

  async setAlarm(at: number): Promise<void> {
    await this.tick();
    this.alarm = at;
  }

  async deleteAll(): Promise<void> {
    await this.tick();
    this.data.clear();
    this.alarm = undefined;
  }

  /** Keys under a prefix (tests). */
  keys(prefix: string): string[] {
    return [...this.data.keys()].filter((k) => k.startsWith(prefix)).sort();
  }

  private async tick(): Promise<void> {
    this.calls++;
    await Promise.resolve();
  }
}
