// Keeps the owner informed that clients still ask for a certificate answered from a cache tier, so
// its refresh continues; certificates nobody asks about go idle (fleet/schedule.ts idleAfterMs).
// At most one touch per certificate per TOUCH_INTERVAL_MS per isolate, sent after the response.

import type { Lookup } from "./source.ts";

export const TOUCH_INTERVAL_MS = 10 * 60 * 1000;
const MAX_TRACKED = 20_000;

type Touched = Pick<Lookup, "key" | "certId" | "issuer">;

export class Touches {
  private readonly lastTouch = new Map<string, number>();

  constructor(private readonly touch: (lookup: Touched) => Promise<void>) {}

  /** Touches the owner of `lookup.key` after the response, unless this isolate did lately. */
  maybe(lookup: Touched, now: number, background: (work: Promise<unknown>) => void): void {
    const last = this.lastTouch.get(lookup.key);
    if (last !== undefined && now - last < TOUCH_INTERVAL_MS) return;
    if (this.lastTouch.size >= MAX_TRACKED) this.lastTouch.clear();
    this.lastTouch.set(lookup.key, now);
    background(this.touch(lookup).catch(() => undefined));
  }
}
