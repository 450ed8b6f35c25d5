// The fleet ledger's work, one at a time (fleet/ledger.ts): a Durable Object delivers another call
// at each await, so without turns a row retired while a pass is between its rows and
// `retiredFetches` would be counted twice (and the counter go back at the next scrape), and a prune
// could delete a row a report just rewrote. Passes are bounded: each is a full pass over the rows
// (about 0.2 s at 100 000) that reports wait behind, and /status may be public (STATUS_PUBLIC).

/** Passes that may wait for their turn; more are refused at once (LEDGER_BUSY). */
export const MAX_WAITING_PASSES = 4;
/** The message of a pass refused because MAX_WAITING_PASSES wait (it crosses RPC as a string). */
export const LEDGER_BUSY = "ledger busy";

export class Turns {
  /** The tail of the work queued. */
  private queue: Promise<unknown> = Promise.resolve();
  /** Passes queued and not yet started. */
  private waitingPasses = 0;

  /** Runs `work` after everything queued before it (whether that failed or not). */
  next<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work, work);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** A pass in its turn, or refused (LEDGER_BUSY) when MAX_WAITING_PASSES already wait. */
  pass<T>(work: () => Promise<T>): Promise<T> {
    if (this.waitingPasses >= MAX_WAITING_PASSES)
      return Promise.reject(new Error(`${LEDGER_BUSY}: ${this.waitingPasses} passes waiting`));
    this.waitingPasses += 1;
    return this.next(() => {
      this.waitingPasses -= 1;
      return work();
    });
  }
}
