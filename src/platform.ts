// What the relay takes from the platform: the clock, randomness and fetch. The worker receives a
// Platform when it is built (index.ts); Durable Objects, which the runtime constructs, read theirs
// through durableObjectPlatform(), which only tests replace (to give every object of a test
// deployment its clock and fake CA). Nothing else reads Date.now, Math.random or fetch.

export interface Platform {
  /** Epoch milliseconds. */
  now(): number;
  /** Uniform in [0, 1). */
  random(): number;
  fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response>;
  /**
   * Tests only: work a Durable Object does after its reply (its report to the ledger) is done
   * before the reply instead, so that a test reading the ledger next sees it. Production never
   * sets it: a client never waits for the ledger.
   */
  inlineBackground?: boolean;
}

export const PLATFORM: Platform = {
  now: () => Date.now(),
  random: () => Math.random(),
  fetch: (input, init) => fetch(input, init),
};

let forDurableObjects: Platform = PLATFORM;

/** The platform Durable Objects use (read on each use, so a test's replacement applies at once). */
export function durableObjectPlatform(): Platform {
  return forDurableObjects;
}

/** Tests only: Durable Objects use `platform` until the returned function restores the real one. */
export function useDurableObjectPlatform(platform: Platform): () => void {
  forDurableObjects = platform;
  return () => {
    forDurableObjects = PLATFORM;
  };
}

/**
 * When the platform should fire an alarm due `at` on the Durable Objects' clock: alarms fire on the
 * platform's own clock, so they are scheduled by the time left (at least `minDelayMs`). In
 * production the two clocks are one and this is `at`; under a test's clock the delays stay right.
 */
export function alarmTime(at: number, minDelayMs = 0): number {
  return PLATFORM.now() + Math.max(minDelayMs, at - durableObjectPlatform().now());
}

/** The inverse of alarmTime: an alarm the platform holds, on the Durable Objects' clock. */
export function alarmDue(platformTime: number): number {
  return platformTime - PLATFORM.now() + durableObjectPlatform().now();
}
