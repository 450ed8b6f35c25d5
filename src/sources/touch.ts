// Keeps the owner informed that clients still ask for a certificate answered from a copy, so its
// refresh continues; certificates nobody asks about go idle (fleet/schedule.ts idleAfterMs). Sent
// for the hits of a tier that declares `touches` (KV: each location reads it once per copy it keeps,
// and at least every TIER_MAX_AGE_MS), at most once per certificate per TOUCH_INTERVAL_MS per
// isolate, after the response. docs/fleet-cost.md gives the reasoning and the figures.

import { ops } from "../instrumentation.ts";
import type { Lookup } from "./source.ts";

export const TOUCH_INTERVAL_MS = 10 * 60 * 1000;
const MAX_TRACKED = 20_000;

type Touched = Pick<Lookup, "key" | "certId" | "issuer">;

export class Touches {
  private readonly lastTouch = new Map<string, number>();

  constructor(private readonly touch: (lookup: Touched) => Promise<void>) {}

  /** Whether this isolate should touch the owner of `key` now. */
  due(key: string, now: number): boolean {
    const last = this.lastTouch.get(key);
    return last === undefined || now - last >= TOUCH_INTERVAL_MS;
  }

  /** Touches the owner of `lookup.key` after the response (call when `due`). */
  send(lookup: Touched, now: number, ctx: Pick<ExecutionContext, "waitUntil">): void {
    if (this.lastTouch.size >= MAX_TRACKED) this.lastTouch.clear();
    this.lastTouch.set(lookup.key, now);
    ops.touches++;
    ctx.waitUntil(this.touch(lookup).catch(() => undefined));
  }
}
