// The simulator's virtual clock: events in time order, each run to completion with the work it left
// behind (waitUntil) before the clock moves on. Date.now and Math.random are the clock's and a seeded
// generator's while a simulation runs, so the worker's own PLATFORM reads virtual time.

interface Scheduled {
  at: number;
  seq: number;
  run: () => unknown;
}

export class Clock {
  now: number;
  private readonly heap: Scheduled[] = [];
  private seq = 0;
  private readonly background = new Set<Promise<unknown>>();
  /** Errors thrown by background work (the runtime logs and drops them; the report shows them). */
  readonly backgroundErrors: string[] = [];

  constructor(start: number) {
    this.now = start;
  }

  at(at: number, run: () => unknown): void {
    this.push({ at: Math.max(at, this.now), seq: this.seq++, run });
  }

  /** Work after a response or a Durable Object's reply (ExecutionContext.waitUntil). */
  waitUntil(work: Promise<unknown>): void {
    const tracked = work.then(
      () => undefined,
      (e: unknown) => {
        if (this.backgroundErrors.length < 20) this.backgroundErrors.push(String(e));
      },
    );
    this.background.add(tracked);
    void tracked.finally(() => this.background.delete(tracked));
  }

  /** Runs every event due before `end`, in order; the clock then reads `end`. */
  async runUntil(end: number, onEvent?: () => void): Promise<void> {
    while (this.heap.length > 0 && this.heap[0]!.at < end) {
      const next = this.pop();
      this.now = Math.max(this.now, next.at);
      await next.run();
      await this.settle();
      onEvent?.();
    }
    this.now = Math.max(this.now, end);
  }

  async settle(): Promise<void> {
    while (this.background.size > 0) await Promise.all([...this.background]);
  }

  pending(): number {
    return this.heap.length;
  }

  private push(e: Scheduled): void {
    const h = this.heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (before(h[p]!, e)) break;
      h[i] = h[p]!;
      i = p;
    }
    h[i] = e;
  }

  private pop(): Scheduled {
    const h = this.heap;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        let v = last;
        if (l < h.length && before(h[l]!, v)) {
          m = l;
          v = h[l]!;
        }
        if (r < h.length && before(h[r]!, v)) m = r;
        if (m === i) break;
        h[i] = h[m]!;
        i = m;
      }
      h[i] = last;
    }
    return top;
  }
}

const before = (a: Scheduled, b: Scheduled) => a.at < b.at || (a.at === b.at && a.seq < b.seq);

/** A seeded uniform generator in [0, 1) (mulberry32): the same run twice gives the same counts. */
export function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Date.now and Math.random read the clock and `random` until the returned function is called. */
export function takeOverTime(clock: Clock, random: () => number): () => void {
  const now = Date.now;
  const rnd = Math.random;
  Date.now = () => clock.now;
  Math.random = random;
  return () => {
    Date.now = now;
    Math.random = rnd;
  };
}
