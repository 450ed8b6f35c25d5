// The benchmark's command line: every option, its default for full and --quick runs, its bounds.

import { join } from "node:path";
import { REPO_ROOT } from "../support/processes.ts";

export interface Options {
  quick: boolean;
  reps: number;
  durationS: number;
  scalingReps: number;
  scalingDurationS: number;
  certs: number;
  faninClients: number;
  faninCerts: number;
  threads: number;
  connections: number;
  warmConcurrency: number;
  out: string;
  keep: boolean;
  netns: boolean;
  workerDir: string;
  profile: "auto" | "always" | "never";
  /** Count CPU instructions per hit under callgrind (full runs; --no-instructions skips it). */
  instructions: boolean;
  instructionRequests: number;
  maxSeconds: number;
  nginxWorkers: number | "auto";
}

const USAGE = `usage: npm run bench [-- options]
  --quick                 fewer and shorter runs, fewer certificates (under 2 minutes)
  --reps N                runs per configuration for cache hits (full 5, quick 2)
  --duration S            seconds per hit run (full 10, quick 3)
  --scaling-reps N        runs per scaling point (full 3, quick 1)
  --scaling-duration S    seconds per scaling run (full 10, quick 3)
  --certs N               certificates cached for scaling and memory (full 10000, quick 2000)
  --fanin-clients N       simulated servers asking at once (1000)
  --fanin-certs N         distinct certificates they ask about (50)
  --connections N         wrk connections (32); --threads N: wrk threads (2)
  --profile auto|always|never  CPU-profile one relay run (auto: when hits < 0.9x the floor)
  --nginx-workers N|auto  nginx worker_processes for the baseline (auto)
  --worker-dir DIR        bundle the worker from DIR instead of this checkout
  --out DIR               results directory (bench-results)
  --max-seconds S         hard time limit (full 900, quick 170)
  --no-netns              do not run inside a private network namespace
  --instructions          count CPU instructions per hit under valgrind's callgrind (full runs
                          do; --no-instructions skips it); --instruction-requests N per count (1000)
  --keep                  keep the temporary directory (configs, logs)`;

/** A flag's integer value in [min, max], or an error naming the flag (the bench's scripts' flags). */
export function int(flag: string, v: string | undefined, min: number, max: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new Error(`${flag} takes an integer in [${min}, ${max}]`);
  return n;
}

export function parseOptions(argv: string[]): Options {
  const quick = argv.includes("--quick");
  const o: Options = {
    quick,
    reps: quick ? 2 : 5,
    durationS: quick ? 3 : 10,
    scalingReps: quick ? 1 : 3,
    scalingDurationS: quick ? 3 : 10,
    certs: quick ? 2000 : 10_000,
    faninClients: 1000,
    faninCerts: 50,
    threads: 2,
    connections: 32,
    warmConcurrency: 16,
    out: join(REPO_ROOT, "bench-results"),
    keep: false,
    netns: true,
    workerDir: REPO_ROOT,
    profile: "auto",
    instructions: !quick,
    instructionRequests: 1000,
    maxSeconds: quick ? 170 : 900,
    nginxWorkers: "auto",
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const v = () => argv[++i];
    switch (a) {
      case "--quick":
        break;
      case "--reps": o.reps = int(a, v(), 1, 50); break; // prettier-ignore
      case "--duration": o.durationS = int(a, v(), 1, 120); break; // prettier-ignore
      case "--scaling-reps": o.scalingReps = int(a, v(), 1, 20); break; // prettier-ignore
      case "--scaling-duration": o.scalingDurationS = int(a, v(), 1, 120); break; // prettier-ignore
      case "--certs": o.certs = int(a, v(), 10, 100_000); break; // prettier-ignore
      case "--fanin-clients": o.faninClients = int(a, v(), 2, 10_000); break; // prettier-ignore
      case "--fanin-certs": o.faninCerts = int(a, v(), 1, 10_000); break; // prettier-ignore
      case "--connections": o.connections = int(a, v(), 1, 10_000); break; // prettier-ignore
      case "--threads": o.threads = int(a, v(), 1, 64); break; // prettier-ignore
      case "--max-seconds": o.maxSeconds = int(a, v(), 30, 7200); break; // prettier-ignore
      case "--out": o.out = v() ?? o.out; break; // prettier-ignore
      case "--worker-dir": o.workerDir = v() ?? o.workerDir; break; // prettier-ignore
      case "--keep": o.keep = true; break; // prettier-ignore
      case "--no-netns": o.netns = false; break; // prettier-ignore
      case "--instructions": o.instructions = true; break; // prettier-ignore
      case "--no-instructions": o.instructions = false; break; // prettier-ignore
      case "--instruction-requests": o.instructionRequests = int(a, v(), 100, 100_000); break; // prettier-ignore
      case "--profile": {
        const p = v();
        if (p !== "auto" && p !== "always" && p !== "never")
          throw new Error("--profile takes auto|always|never");
        o.profile = p;
        break;
      }
      case "--nginx-workers": {
        const w = v();
        o.nginxWorkers = w === "auto" ? "auto" : int(a, w, 1, 64);
        break;
      }
      case "--help":
      case "-h":
        console.error(USAGE);
        process.exit(0);
      // falls through (process.exit never returns)
      default:
        throw new Error(`unknown option ${a}\n${USAGE}`);
    }
  }
  if (o.faninCerts > o.faninClients)
    throw new Error("--fanin-certs must not exceed --fanin-clients");
  return o;
}
