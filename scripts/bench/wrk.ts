// wrk: its command line, the Lua script that cycles through many GET paths, and the parser of its
// report. Pure (no node: imports): unit-tested inside workerd (test/unit/bench-wrk.test.ts).
//
// Why wrk: it is C (epoll, one event loop per thread), so on a 2-core machine it leaves the most
// CPU to the server under test; it keeps a fixed number of keep-alive connections busy; and with
// --latency it prints the latency distribution (50/75/90/99 %), which Node-based clients cannot
// measure without competing with the server for the same two cores.

export interface WrkOptions {
  url: string;
  threads: number;
  connections: number;
  durationS: number;
  /** A Lua script and the arguments after `--` (see cycleScript). */
  script?: { path: string; args: string[] };
  /** Per-request timeout in seconds (wrk counts slower answers as timeouts); default 2. */
  timeoutS?: number;
}

export function wrkArgs(o: WrkOptions): string[] {
  if (!(o.threads >= 1 && o.connections >= o.threads && o.durationS >= 1)) {
    throw new RangeError("wrk needs threads >= 1, connections >= threads and a duration >= 1 s");
  }
  return [
    `-t${o.threads}`,
    `-c${o.connections}`,
    `-d${Math.round(o.durationS)}s`,
    `--timeout`,
    `${o.timeoutS ?? 2}s`,
    "--latency",
    ...(o.script ? ["-s", o.script.path] : []),
    o.url,
    ...(o.script && o.script.args.length > 0 ? ["--", ...o.script.args] : []),
  ];
}

export interface WrkResult {
  requests: number;
  durationS: number;
  rps: number;
  /** Bytes read per second, as wrk reports it ("Transfer/sec"). */
  transferPerSec: number;
  latencyMs: {
    avg: number;
    stdev: number;
    max: number;
    p50: number;
    p75: number;
    p90: number;
    p99: number;
  };
  errors: { connect: number; read: number; write: number; timeout: number };
  /** "Non-2xx or 3xx responses" (0 when wrk prints no such line). */
  non2xx: number;
}

const DURATION_UNITS: Record<string, number> = {
  us: 0.001,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};
const SIZE_UNITS: Record<string, number> = {
  B: 1,
  KB: 1024,
  MB: 1024 ** 2,
  GB: 1024 ** 3,
  TB: 1024 ** 4,
};

/** A wrk duration ("760.00us", "1.23ms", "2.00s", "1.50m") in milliseconds. */
export function parseDurationMs(text: string): number {
  const m = /^\s*([0-9]+(?:\.[0-9]+)?)(us|ms|s|m|h)\s*$/.exec(text);
  if (!m) throw new Error(`not a wrk duration: "${text}"`);
  return Number(m[1]) * DURATION_UNITS[m[2]!]!;
}

/** A wrk size ("4.47MB", "614.92KB", "512.00B") in bytes. */
export function parseSizeBytes(text: string): number {
  const m = /^\s*([0-9]+(?:\.[0-9]+)?)(B|KB|MB|GB|TB)\s*$/.exec(text);
  if (!m) throw new Error(`not a wrk size: "${text}"`);
  return Number(m[1]) * SIZE_UNITS[m[2]!]!;
}

/** Parses wrk's report (run with --latency). Throws when a required line is missing. */
export function parseWrk(output: string): WrkResult {
  const need = (re: RegExp, what: string) => {
    const m = re.exec(output);
    if (!m) throw new Error(`wrk output has no ${what} line:\n${output.slice(0, 2000)}`);
    return m;
  };
  const total = need(/^\s*(\d+) requests in ([0-9.]+\w+), ([0-9.]+\w+) read\s*$/m, "totals");
  const rps = need(/^Requests\/sec:\s+([0-9.]+)\s*$/m, "Requests/sec");
  const transfer = /^Transfer\/sec:\s+([0-9.]+\w+)\s*$/m.exec(output);
  const lat = need(
    /^\s*Latency\s+([0-9.]+\w+)\s+([0-9.]+\w+)\s+([0-9.]+\w+)\s+[0-9.]+%\s*$/m,
    "thread-stats Latency",
  );
  const pct = (p: string) =>
    parseDurationMs(need(new RegExp(`^\\s*${p}%\\s+([0-9.]+\\w+)\\s*$`, "m"), `${p}% latency`)[1]!);
  const errors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(
    output,
  );
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(output);
  return {
    requests: Number(total[1]),
    durationS: parseDurationMs(total[2]!) / 1000,
    rps: Number(rps[1]),
    transferPerSec: transfer ? parseSizeBytes(transfer[1]!) : NaN,
    latencyMs: {
      avg: parseDurationMs(lat[1]!),
      stdev: parseDurationMs(lat[2]!),
      max: parseDurationMs(lat[3]!),
      p50: pct("50"),
      p75: pct("75"),
      p90: pct("90"),
      p99: pct("99"),
    },
    errors: {
      connect: Number(errors?.[1] ?? 0),
      read: Number(errors?.[2] ?? 0),
      write: Number(errors?.[3] ?? 0),
      timeout: Number(errors?.[4] ?? 0),
    },
    non2xx: Number(non2xx?.[1] ?? 0),
  };
}

/** Whether a run answered every request with 2xx/3xx and lost no connection. */
export function cleanRun(r: WrkResult): boolean {
  const e = r.errors;
  return r.non2xx === 0 && e.connect + e.read + e.write + e.timeout === 0 && r.requests > 0;
}

/**
 * The Lua script for `wrk -s`: each thread loads the first N paths of a file (one per line, args
 * `-- <file> <N>`), pre-formats one GET per path and sends them round-robin, each thread starting
 * at a different offset. Pre-formatting keeps the per-request Lua work to an index increment.
 */
export function cycleScript(): string {
  return `-- Generated by scripts/bench (wrk.ts cycleScript): GET the first N paths of a file, round-robin.
-- Usage: wrk ... -s cycle.lua http://host:port -- <paths file> <N>
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("thread_no", threads)
end

local reqs = {}
local n = 0
local i = 0

function init(args)
  local file, limit = args[1], tonumber(args[2])
  if file == nil or limit == nil then error("usage: -- <paths file> <N>") end
  for line in io.lines(file) do
    if n >= limit then break end
    if #line > 0 then
      n = n + 1
      reqs[n] = wrk.format("GET", line)
    end
  end
  if n == 0 then error("no paths in " .. file) end
  i = ((thread_no or 1) - 1) * 7919 % n
end

function request()
  i = i % n + 1
  return reqs[i]
end
`;
}
