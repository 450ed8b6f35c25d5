// What every measure is given: the options, the run's scratch space, the notes the report ends
// with, the time limit; and progress on stderr (stdout carries the report, then the JSON line).

import type { Options } from "./options.ts";

/** When the run started (the report's startedAt, and the clock of every progress line). */
export const T0 = Date.now();

export function log(message: string): void {
  process.stderr.write(
    `[bench ${((Date.now() - T0) / 1000).toFixed(1).padStart(6)}s] ${message}\n`,
  );
}

export interface Bench {
  o: Options;
  /** The run's temporary directory, and its logs under it. */
  tmp: string;
  logDir: string;
  /** Notes for the report, in order (a Set: a note added twice is said once). */
  notes: Set<string>;
  /** Epoch ms of the hard time limit (--max-seconds). */
  deadline: number;
}
