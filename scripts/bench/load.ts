// Load on loopback: wrk runs (wrk.ts says why wrk) with the share of the machine other processes
// took during each, a bounded pool of concurrent requests, and reading a body whole.

import { assertLoopbackUrl } from "../support/loopback.ts";
import { run } from "../support/processes.ts";
import type { Options } from "./options.ts";
import { cpuSample, othersShare } from "./proc-stats.ts";
import { round } from "./stats.ts";
import { cleanRun, parseWrk, wrkArgs, type WrkResult } from "./wrk.ts";

/** A wrk Lua script and its arguments (wrk.ts cycleScript). */
export interface WrkScript {
  path: string;
  args: string[];
}

/** Every wrk run of the benchmark goes through one of these, with the same settings. */
export class Load {
  /** For each wrk run, the share of the machine's CPU that processes not started here took. */
  readonly othersDuringRuns: number[] = [];

  constructor(private readonly o: Pick<Options, "threads" | "connections">) {}

  async wrk(url: string, durationS: number, script?: WrkScript): Promise<WrkResult> {
    assertLoopbackUrl(url);
    const args = wrkArgs({
      url,
      threads: this.o.threads,
      connections: this.o.connections,
      durationS,
      ...(script ? { script } : {}),
    });
    const before = cpuSample();
    const r = await run("wrk", args, { timeoutMs: (durationS + 20) * 1000 });
    this.othersDuringRuns.push(othersShare(before, cpuSample()));
    if (r.code !== 0)
      throw new Error(
        `wrk ${args.join(" ")} failed (${r.timedOut ? "timed out" : `exit ${r.code}`}):\n${r.stdout}${r.stderr}`,
      );
    return parseWrk(r.stdout);
  }
}

/** One progress line for a run: requests/s, p50, p99, and what went wrong if anything did. */
export function describeRun(label: string, r: WrkResult): string {
  const bad = cleanRun(r) ? "" : ` [non-2xx ${r.non2xx}, errors ${JSON.stringify(r.errors)}]`;
  return `${label}: ${Math.round(r.rps)} req/s, p50 ${round(r.latencyMs.p50, 3)} ms, p99 ${round(r.latencyMs.p99, 3)} ms${bad}`;
}

export async function bodyOf(res: Response): Promise<Uint8Array<ArrayBuffer>> {
  return new Uint8Array(await res.arrayBuffer());
}

/** Runs `fn` over `items` with at most `concurrency` at a time; throws past `deadline`. */
export async function pool<T>(
  items: readonly T[],
  concurrency: number,
  deadline: number,
  fn: (item: T, index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      if (Date.now() > deadline)
        throw new Error(`time budget exceeded after ${next} of ${items.length}`);
      const i = next++;
      await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
}
