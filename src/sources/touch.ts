// Keeps the owner informed that clients still ask for a certificate answered from a cache tier, so
// its refresh continues; certificates nobody asks about go idle (fleet/schedule.ts idleAfterMs).
// At most one touch per certificate per TOUCH_INTERVAL_MS per isolate, sent after the response.

import type { Lookup, Source } from "./source.ts";

export const TOUCH_INTERVAL_MS = 10 * 60 * 1000;
const MAX_TRACKED = 20_000;

export class TouchOwner implements Source {
  private readonly lastTouch = new Map<string, number>();

  constructor(
    private readonly next: Source,
    private readonly touch: (lookup: Lookup) => Promise<void>,
  ) {}

  async get(lookup: Lookup) {
    const result = await this.next.get(lookup);
    if (result.ok && result.value.tier !== "upstream" && result.value.tier !== "owner") {
      this.maybeTouch(lookup);
    }
    return result;
  }

  /** Whether this isolate should touch the owner of `key` now. */
  due(key: string, now: number): boolean {
    const last = this.lastTouch.get(key);
    return last === undefined || now - last >= TOUCH_INTERVAL_MS;
  }

  /** Touches the owner if this isolate has not for TOUCH_INTERVAL_MS (after the response). */
  maybeTouch(lookup: Lookup): void {
    if (!lookup.background || !this.due(lookup.key, lookup.now)) return;
    if (this.lastTouch.size >= MAX_TRACKED) this.lastTouch.clear();
    this.lastTouch.set(lookup.key, lookup.now);
    lookup.background(this.touch(lookup).catch(() => undefined));
  }
}
