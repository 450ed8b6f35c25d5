// `npm run bench [-- --quick] [options]`: the relay's performance, measured on this machine in one
// run against baselines run in the same invocation (docs: the header of each module here).
//
// What runs, all on loopback (and inside a private network namespace when `unshare -n` works):
// - the worker bundled as deployed (`wrangler deploy --dry-run --outdir`) on plain `workerd serve`
//   with a generated config: OCSP_CACHE is a real kvNamespace binding served by an in-memory KV
//   worker in the same process, the Durable Objects are SQLite-backed in memory, and all outbound
//   connections are limited to 127.0.0.0/8 (configs.ts workerdConfig);
// - the floor: a worker on the same workerd returning the relay's answer bytes as a constant (and,
//   as a second reference, the same worker answering with the relay's response headers too);
// - a CA: `openssl ocsp` over an index of many serials, behind nginx (HTTP/1.0, one access-log
//   line per CA fetch), and nginx proxy_cache in front of the same responder as a baseline;
// - load from wrk (wrk.ts says why), several alternating runs per configuration, medians.
// Every process is started in its own process group and killed at the end, on failure, on
// Ctrl-C, and when the run exceeds its time limit.

import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, rmSync, statSync } from "node:fs";
import {
  copyFile,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  symlink,
  writeFile,
} from "node:fs/promises";
import { Agent, get as httpGet } from "node:http";
import os from "node:os";
import { join, relative } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import {
  floorWorkerSource,
  kvWorkerSource,
  LOOPBACK,
  nginxConfig,
  parseCaLog,
  workerdConfig,
} from "./configs.ts";
import { Inspector } from "./inspector.ts";
import {
  cpuSample,
  cpuSecondsOf,
  freePort,
  killAllNow,
  memoryOf,
  othersShare,
  run,
  runOk,
  startService,
  stopAll,
  waitFor,
  unexpectedExits,
  waitForPort,
  which,
  type Service,
} from "./procs.ts";
import { bundleModuleAt, topSelfTime } from "./profile.ts";
import {
  addOps,
  diffOps,
  parseOps,
  renderMarkdown,
  parseCallgrindTotal,
  rpsVs,
  seriesStats,
  summaryLine,
  ZERO_OPS,
  type BenchResults,
  type CostRow,
  type Ops,
  type Series,
} from "./report.ts";
import { median, ratio, round } from "./stats.ts";
import {
  bundleWorker,
  buildRequests,
  machineFacts,
  makeCa,
  REPO_ROOT,
  workerdBinary,
  type Bundle,
  type CertRequest,
} from "./setup.ts";
import { cleanRun, cycleScript, parseWrk, wrkArgs, type WrkResult } from "./wrk.ts";

// The memory tier's cap, as src/sources/memory.ts MEMORY_LIMITS has it (read from the source so
// the report follows it; the module itself imports worker-only code paths).
const MEMORY_SOURCE = join(REPO_ROOT, "src/sources/memory.ts");

/** Seconds without requests after warming, so the Durable Objects created are evicted. */
const SETTLE_S = 12;

// ---------------------------------------------------------------------------------------------
// Options

interface Options {
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

function parseOptions(argv: string[]): Options {
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
  const int = (flag: string, v: string | undefined, min: number, max: number) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max)
      throw new Error(`${flag} takes an integer in [${min}, ${max}]`);
    return n;
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

// ---------------------------------------------------------------------------------------------
// Progress (stderr; stdout carries the report and, last, the JSON line)

const T0 = Date.now();
function log(message: string): void {
  process.stderr.write(
    `[bench ${((Date.now() - T0) / 1000).toFixed(1).padStart(6)}s] ${message}\n`,
  );
}

// ---------------------------------------------------------------------------------------------
// A private network namespace: nothing started here can reach anything but its own loopback.

const NETNS_ENV = "OCSP_RELAY_BENCH_NETNS";

/** Re-runs this script inside `unshare -n` (loopback up) and returns its exit code, or undefined. */
async function reexecInNetns(): Promise<number | undefined> {
  const isRoot = process.getuid?.() === 0;
  const variants = isRoot ? [["-n"], ["-rn"]] : [["-rn"]];
  for (const flags of variants) {
    const probe = await run("unshare", [...flags, "--", "sh", "-c", "ip link set lo up"], {
      timeoutMs: 5000,
    }).catch(() => undefined);
    if (probe?.code !== 0) continue;
    log(
      `running inside a private network namespace (unshare ${flags.join(" ")}; only its loopback exists)`,
    );
    const child = spawn(
      "unshare",
      [
        ...flags, "--", "sh", "-c", 'ip link set lo up && exec "$0" "$@"',
        process.execPath, ...process.execArgv, process.argv[1]!, ...process.argv.slice(2),
      ], // prettier-ignore
      { stdio: "inherit", env: { ...process.env, [NETNS_ENV]: flags.join(" ") } },
    );
    const forward = (signal: NodeJS.Signals) => () => child.kill(signal);
    for (const s of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(s, forward(s));
    const [code, signal] = (await new Promise((resolve) =>
      child.on("exit", (c, s) => resolve([c, s])),
    )) as [number | null, NodeJS.Signals | null];
    return code ?? (signal ? 128 + (os.constants.signals[signal] ?? 1) : 1);
  }
  log(
    "no private network namespace (unshare -n unavailable): running in this one, loopback addresses only",
  );
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// HTTP to loopback only

function assertLoopback(url: string): void {
  const host = new URL(url).hostname;
  if (host !== LOOPBACK && host !== "[::1]") throw new Error(`refusing non-loopback URL ${url}`);
}

async function http(url: string, init: RequestInit = {}, timeoutMs = 30_000): Promise<Response> {
  assertLoopback(url);
  return fetch(url, { ...init, redirect: "manual", signal: AbortSignal.timeout(timeoutMs) });
}

async function bodyOf(res: Response): Promise<Uint8Array<ArrayBuffer>> {
  return new Uint8Array(await res.arrayBuffer());
}

/** Runs `fn` over `items` with at most `concurrency` at a time; throws past `deadline`. */
async function pool<T>(
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

// ---------------------------------------------------------------------------------------------
// The relay under workerd serve

interface Workerd {
  service: Service;
  url: string;
  floorUrl: string;
  floorHeadersUrl: string;
  inspectorPort: number | undefined;
}

interface WorkerdOptions {
  /** Run workerd under this command (valgrind for the instruction counts). */
  wrap?: { cmd: string; args: string[] };
  v8Flags?: string[];
  startTimeoutMs?: number;
}

async function startWorkerd(
  name: string,
  dir: string,
  logDir: string,
  bundle: Bundle,
  vars: Record<string, string>,
  withInspector: boolean,
  opts: WorkerdOptions = {},
): Promise<Workerd> {
  await mkdir(dir, { recursive: true });
  const [relayPort, floorPort, floorHeadersPort, inspectorPort] = await Promise.all([
    freePort(),
    freePort(),
    freePort(),
    freePort(),
  ]);
  await copyFile(bundle.path, join(dir, "relay.js"));
  await writeFile(join(dir, "kv.js"), kvWorkerSource());
  await writeFile(join(dir, "floor.js"), floorWorkerSource());
  await writeFile(
    join(dir, "config.capnp"),
    workerdConfig({
      wrangler: bundle.wrangler,
      relayModule: "relay.js",
      kvModule: "kv.js",
      floorModule: "floor.js",
      vars,
      relayPort,
      floorPort,
      floorHeadersPort,
      durableObjectStorage: { inMemory: true },
      v8Flags: [...(withInspector ? ["--expose-gc"] : []), ...(opts.v8Flags ?? [])],
    }),
  );
  const args = [
    "serve",
    "config.capnp",
    ...(withInspector ? [`--inspector-addr=${LOOPBACK}:${inspectorPort}`] : []),
  ];
  const service = opts.wrap
    ? startService(name, opts.wrap.cmd, [...opts.wrap.args, workerdBinary(), ...args], {
        cwd: dir,
        logDir,
      })
    : startService(name, workerdBinary(), args, { cwd: dir, logDir });
  const url = `http://${LOOPBACK}:${relayPort}`;
  const startTimeoutMs = opts.startTimeoutMs ?? 30_000;
  await waitForPort(relayPort, startTimeoutMs, service);
  await waitFor(
    `${name}: GET /healthz`,
    async () => {
      if (service.exited) throw new Error(`workerd exited:\n${service.tail()}`);
      const res = await http(`${url}/healthz`, {}, 2000);
      await res.body?.cancel();
      return res.status === 200 ? true : undefined;
    },
    startTimeoutMs,
  );
  return {
    service,
    url,
    floorUrl: `http://${LOOPBACK}:${floorPort}`,
    floorHeadersUrl: `http://${LOOPBACK}:${floorHeadersPort}`,
    inspectorPort: withInspector ? inspectorPort : undefined,
  };
}

/**
 * Makes `path` a cache hit on the relay (a miss, then a hit), and has both floors answer its bytes
 * (the second one with the relay's headers too). Returns the answer.
 */
async function prepareHit(w: Workerd, path: string): Promise<Uint8Array<ArrayBuffer>> {
  const first = await http(`${w.url}${path}`);
  await first.arrayBuffer();
  if (first.status !== 200)
    throw new Error(`the relay answered HTTP ${first.status} for the first request`);
  const second = await http(`${w.url}${path}`);
  const answer = await bodyOf(second);
  if (second.status !== 200 || second.headers.get("X-Cache") !== "HIT") {
    throw new Error(
      `the second request was not a hit (HTTP ${second.status}, X-Cache ${second.headers.get("X-Cache")})`,
    );
  }
  const put = await http(`${w.floorUrl}/`, { method: "PUT", body: answer });
  await put.body?.cancel();
  const relayHeaders: Record<string, string> = {};
  second.headers.forEach((value, name) => {
    if (name !== "content-length" && name !== "date") relayHeaders[name] = value;
  });
  const putHeaders = await http(`${w.floorHeadersUrl}/`, {
    method: "PUT",
    headers: { "X-Floor-Headers": JSON.stringify(relayHeaders) },
    body: answer,
  });
  await putHeaders.body?.cancel();
  const floorHeadersCheck = await http(`${w.floorHeadersUrl}${path}`);
  await floorHeadersCheck.arrayBuffer();
  if (floorHeadersCheck.headers.get("ETag") !== second.headers.get("ETag")) {
    throw new Error("the floor with the relay's headers does not answer them");
  }
  const floorCheck = await bodyOf(await http(`${w.floorUrl}${path}`));
  if (floorCheck.length !== answer.length)
    throw new Error("the floor does not answer the relay's bytes");
  return answer;
}

/**
 * CPU instructions per hit for the relay and both floors, counted by valgrind's callgrind on a
 * workerd of their own (the same config). Unlike requests/s, the count does not depend on what
 * else the machine is doing, so it shows the relay's cost against the floor's to a few percent.
 * V8 compiles on the main thread there (--no-concurrent-recompilation): under valgrind its
 * background compile threads would leave hot code interpreted for longer.
 */
async function countInstructions(a: {
  tmp: string;
  logDir: string;
  bundle: Bundle;
  vars: Record<string, string>;
  token: string;
  caPem: string;
  caFront: string;
  path: string;
  o: Options;
}): Promise<NonNullable<BenchResults["instructions"]>> {
  const dumps = join(a.tmp, "callgrind");
  await mkdir(dumps, { recursive: true });
  log("instructions: workerd under valgrind --tool=callgrind (it takes a minute to start)");
  const started = Date.now();
  const vw = await startWorkerd(
    "workerd-callgrind",
    join(a.tmp, "workerd-callgrind"),
    a.logDir,
    a.bundle,
    a.vars,
    false,
    {
      wrap: {
        cmd: "valgrind",
        args: ["--tool=callgrind", "--smc-check=all-non-file", `--callgrind-out-file=${join(dumps, "out")}`],
      }, // prettier-ignore
      v8Flags: ["--no-concurrent-recompilation"],
      startTimeoutMs: 300_000,
    },
  );
  await registerIssuer(vw.url, a.token, a.caPem, a.caFront);
  await prepareHit(vw, a.path);
  const n = a.o.instructionRequests;
  // node:http with keep-alive sends Host and Connection only, as wrk and nginx's stapling requests
  // do (fetch would add six more headers, which the relay's If-None-Match check copies).
  const agent = new Agent({ keepAlive: true, maxSockets: 8 });
  const get = (url: string) =>
    new Promise<void>((resolve, reject) => {
      assertLoopback(url);
      const req = httpGet(url, { agent, timeout: 60_000 }, (res) => {
        res.resume();
        res.on("end", () =>
          res.statusCode === 200
            ? resolve()
            : reject(new Error(`${url} answered HTTP ${res.statusCode}`)),
        );
      });
      req.on("timeout", () => req.destroy(new Error(`${url}: no answer in 60 s`)));
      req.on("error", reject);
    });
  const send = (url: string) =>
    pool(Array.from({ length: n }), 8, Date.now() + 600_000, () => get(url));
  const count = async (url: string): Promise<number> => {
    await send(url); // warm: the JIT settles and this path's state is built
    await runOk("callgrind_control", ["-z", String(vw.service.pid)], { timeoutMs: 60_000 });
    await send(url);
    await runOk("callgrind_control", ["-d", String(vw.service.pid)], { timeoutMs: 60_000 });
    const files = (await readdir(dumps)).filter((f) => f.startsWith("out."));
    let total: number | null = null;
    for (const f of files) {
      total ??= parseCallgrindTotal(await readFile(join(dumps, f), "utf8"));
      await rm(join(dumps, f));
    }
    if (total === null) throw new Error("callgrind wrote no total");
    return total / n;
  };
  const urls = {
    relay: `${vw.url}${a.path}`,
    floor: `${vw.floorUrl}${a.path}`,
    floorHeaders: `${vw.floorHeadersUrl}${a.path}`,
  };
  const out = {
    requests: n,
    relay: [] as number[],
    floor: [] as number[],
    floorHeaders: [] as number[],
  };
  for (let round = 0; round < 3; round++) {
    for (const key of ["relay", "floor", "floorHeaders"] as const) {
      out[key].push(await count(urls[key]));
      log(`  instructions ${key}: ${Math.round(out[key].at(-1)!)} per request`);
    }
  }
  agent.destroy();
  await vw.service.stop();
  log(`instructions counted in ${Math.round((Date.now() - started) / 1000)} s`);
  return out;
}

async function registerIssuer(
  relay: string,
  token: string,
  caPem: string,
  responder: string,
): Promise<void> {
  const res = await http(`${relay}/admin/issuers?responder=${encodeURIComponent(responder)}`, {
    method: "POST",
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/x-pem-file" },
    body: caPem,
  });
  const text = await res.text();
  if (res.status !== 201 && res.status !== 200)
    throw new Error(`registering the CA: HTTP ${res.status} ${text}`);
}

/** The relay's operation counts, or undefined when GET /__bench/ops does not answer them. */
async function readOps(relay: string, notes: Set<string>): Promise<Ops | undefined> {
  const res = await http(`${relay}/__bench/ops`, {}, 5000);
  const type = res.headers.get("Content-Type") ?? "";
  const text = await res.text();
  let ops: Ops | undefined;
  try {
    ops = res.status === 200 ? parseOps(JSON.parse(text)) : undefined;
  } catch {
    ops = undefined;
  }
  if (!ops) {
    notes.add(
      `GET /__bench/ops answered HTTP ${res.status} (${type || "no Content-Type"}), not the counts: cost figures are missing. ` +
        `In src/app.ts the /__bench routes must be registered before the catch-all \`app.on(["GET", "HEAD"], "*")\` and \`app.all("*")\`, which otherwise answer them.`,
    );
  }
  return ops;
}

async function resetOps(relay: string): Promise<boolean> {
  const res = await http(`${relay}/__bench/reset`, { method: "POST" }, 5000);
  await res.body?.cancel();
  return res.status === 200;
}

// ---------------------------------------------------------------------------------------------
// wrk

/** For each wrk run, the share of the machine's CPU that processes not started here took. */
const othersDuringRuns: number[] = [];

async function wrk(
  url: string,
  o: Options,
  durationS: number,
  script?: { path: string; args: string[] },
): Promise<WrkResult> {
  assertLoopback(url);
  const args = wrkArgs({
    url,
    threads: o.threads,
    connections: o.connections,
    durationS,
    ...(script ? { script } : {}),
  });
  const before = cpuSample();
  const r = await run("wrk", args, { timeoutMs: (durationS + 20) * 1000 });
  othersDuringRuns.push(othersShare(before, cpuSample()));
  if (r.code !== 0)
    throw new Error(
      `wrk ${args.join(" ")} failed (${r.timedOut ? "timed out" : `exit ${r.code}`}):\n${r.stdout}${r.stderr}`,
    );
  return parseWrk(r.stdout);
}

function describeRun(label: string, r: WrkResult): string {
  const bad = cleanRun(r) ? "" : ` [non-2xx ${r.non2xx}, errors ${JSON.stringify(r.errors)}]`;
  return `${label}: ${Math.round(r.rps)} req/s, p50 ${round(r.latencyMs.p50, 3)} ms, p99 ${round(r.latencyMs.p99, 3)} ms${bad}`;
}

// ---------------------------------------------------------------------------------------------
// The run

/** The upstream budget the benchmark sets: more first fetches at once than it ever makes. */
const BENCH_BUDGET_BURST = "1000000";

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const o = parseOptions(argv);
  if (o.netns && !process.env[NETNS_ENV]) {
    const code = await reexecInNetns();
    if (code !== undefined) process.exit(code);
  }
  const inNetns = process.env[NETNS_ENV];
  const deadline = T0 + o.maxSeconds * 1000;
  const command =
    process.env["npm_lifecycle_event"] === "bench"
      ? `npm run bench${argv.length ? ` -- ${argv.join(" ")}` : ""}`
      : `tsx scripts/bench/run.ts ${argv.join(" ")}`.trim();
  const tmp = await mkdtemp(join(os.tmpdir(), "ocsp-relay-bench-"));
  const logDir = join(tmp, "logs");
  await mkdir(logDir, { recursive: true });
  let finished = false;

  const abort = (why: string, code: number) => {
    if (finished) return;
    finished = true;
    log(`${why}: stopping everything`);
    killAllNow();
    if (!o.keep) {
      try {
        rmSync(tmp, { recursive: true, force: true });
      } catch {
        // a temporary directory left behind is harmless
      }
    }
    console.log(JSON.stringify({ ok: false, error: why }));
    process.exit(code);
  };
  for (const s of ["SIGINT", "SIGTERM", "SIGHUP"] as const)
    process.on(s, () => abort(`interrupted (${s})`, 130));
  const watchdog = setTimeout(
    () => abort(`time limit of ${o.maxSeconds} s exceeded`, 2),
    o.maxSeconds * 1000,
  );
  watchdog.unref();

  const notes = new Set<string>();
  const loadStart = os.loadavg();
  try {
    const missing = [
      ["wrk", "wrk"],
      ["/usr/sbin/nginx", "nginx-light"],
      ["openssl", "openssl"],
    ].filter(([cmd]) => !which(cmd!));
    if (missing.length > 0) {
      throw new Error(
        `missing ${missing.map(([c]) => c).join(", ")}: apt-get install ${missing.map(([, p]) => p).join(" ")}`,
      );
    }
    // --- Preparation -----------------------------------------------------------------------
    log(`temporary directory ${tmp}${o.keep ? " (kept)" : ""}`);
    const hitSerials = Array.from({ length: o.certs }, (_, i) => 0x100001 + i);
    const faninSerials = Array.from({ length: o.faninCerts }, (_, i) => 0x200001 + i);
    const [bundle, ca] = await Promise.all([
      bundleWorker(o.workerDir, tmp),
      makeCa(join(tmp, "ca"), [...hitSerials, ...faninSerials]),
    ]);
    log(
      `bundled the worker with wrangler deploy --dry-run in ${bundle.ms} ms (${Math.round(statSync(bundle.path).size / 1024)} KiB)`,
    );
    const [reqs, faninReqs] = await Promise.all([
      buildRequests(ca.pem, hitSerials),
      buildRequests(ca.pem, faninSerials),
    ]);
    log(
      `CA ready: ${hitSerials.length + faninSerials.length} serials in its index; requests built`,
    );
    const machine = await machineFacts({
      "load average at start": loadStart.map((l) => l.toFixed(2)).join(" "),
    });

    const [responderPort, caFrontPort, cachePort] = await Promise.all([
      freePort(),
      freePort(),
      freePort(),
    ]);
    const responder = startService(
      "openssl-ocsp",
      "openssl",
      [
        "ocsp", "-index", ca.indexPath, "-port", String(responderPort),
        "-rsigner", ca.certPem, "-rkey", ca.keyPem, "-CA", ca.certPem, "-ndays", "1", "-ignore_err",
      ], // prettier-ignore
      { logDir, cwd: ca.dir },
    );
    // Not a TCP probe: a connection closed before sending a request wedges openssl ocsp (3.0),
    // which then spins at 100 % CPU and answers nothing more.
    await waitFor(
      "openssl ocsp to listen",
      async () => {
        if (responder.exited) throw new Error(`openssl ocsp exited:\n${responder.tail()}`);
        return responder.tail().includes("waiting for OCSP client connections") ? true : undefined;
      },
      10_000,
    );
    const ngxDir = join(tmp, "nginx");
    await mkdir(ngxDir, { recursive: true });
    const ngxConf = join(ngxDir, "nginx.conf");
    await writeFile(
      ngxConf,
      nginxConfig({
        dir: ngxDir,
        caFrontPort,
        cachePort,
        responderPort,
        workerProcesses: o.nginxWorkers,
        asRoot: process.getuid?.() === 0,
      }),
    );
    const ngxArgs = ["-p", ngxDir, "-c", ngxConf, "-e", join(ngxDir, "error.log")];
    await runOk("/usr/sbin/nginx", [...ngxArgs, "-t"], { timeoutMs: 10_000 });
    // Started under its own name: `pkill -x nginx` elsewhere on the machine (.ci/run does that)
    // must not take the baseline and the CA's front away in the middle of a run.
    const nginxBin = join(tmp, "ocsp-bench-nginx");
    await symlink("/usr/sbin/nginx", nginxBin);
    const nginx = startService("nginx", nginxBin, [...ngxArgs, "-g", "daemon off;"], {
      logDir,
    });
    await Promise.all([
      waitForPort(caFrontPort, 10_000, nginx),
      waitForPort(cachePort, 10_000, nginx),
    ]);
    const caFront = `http://${LOOPBACK}:${caFrontPort}/`;
    const caLog = join(ngxDir, "ca-access.log");
    const caLogSize = () => (existsSync(caLog) ? statSync(caLog).size : 0);
    const caFetchesSince = async (offset: number) => {
      await sleep(300); // nginx writes the line when the exchange ends
      return parseCaLog(readFileSync(caLog).subarray(offset).toString("utf8"));
    };
    // One real exchange through the CA's front (nginx to openssl; the relay is not involved).
    const probe = await http(`${caFront}${reqs[reqs.length - 1]!.path.slice(1)}`);
    await probe.arrayBuffer();
    if (probe.status !== 200)
      throw new Error(`the CA (through nginx) answered HTTP ${probe.status}`);
    log(
      `openssl ocsp on :${responderPort}, nginx: CA front :${caFrontPort}, proxy_cache :${cachePort}`,
    );

    const token = randomBytes(16).toString("hex");
    // The benchmark warms thousands of certificates nobody registered: each first fetch spends
    // from the issuer's upstream budget (default 40 at once, 60 a minute), so it is lifted here.
    const vars = {
      BENCH_MODE: "true",
      ALLOW_PRIVATE_RESPONDERS: "true",
      ADMIN_TOKEN: token,
      UPSTREAM_BUDGET_BURST: BENCH_BUDGET_BURST,
    };
    notes.add(
      `The relay runs with UPSTREAM_BUDGET_BURST=${BENCH_BUDGET_BURST}: the benchmark warms its certificates by asking for them, unregistered, and their first fetches spend from the issuer's upstream budget (default 40 at once, then 60 a minute), which would otherwise answer most of them tryLater.`,
    );

    // --- 2. Fan-in, on a fresh workerd with empty state ---------------------------------------
    log(
      `fan-in: fresh workerd, ${o.faninClients} clients, ${o.faninCerts} certificates, half GET half POST`,
    );
    const fw = await startWorkerd(
      "workerd-fanin",
      join(tmp, "workerd-fanin"),
      logDir,
      bundle,
      vars,
      false,
    );
    await registerIssuer(fw.url, token, ca.pem, caFront);
    const faninOpsBefore = (await readOps(fw.url, notes)) ?? ZERO_OPS;
    const clients = Array.from({ length: o.faninClients }, (_, i) => ({
      i,
      req: faninReqs[i % faninReqs.length]!,
      post: i % 2 === 1,
    }));
    const askAll = () =>
      Promise.all(
        clients.map(async (c) => {
          const headers: Record<string, string> = {
            "User-Agent": `bench-server/${c.i}`,
            "X-Forwarded-For": `127.${(c.i >> 16) & 255}.${(c.i >> 8) & 255}.${c.i & 255}`,
          };
          const res = c.post
            ? await http(`${fw.url}/`, {
                method: "POST",
                headers: { ...headers, "Content-Type": "application/ocsp-request" },
                body: new Uint8Array(c.req.der),
              })
            : await http(`${fw.url}${c.req.path}`, { headers });
          await res.arrayBuffer();
          return res.status;
        }),
      );
    let offset = caLogSize();
    const faninStart = Date.now();
    const statuses = await askAll();
    const faninMs = Date.now() - faninStart;
    const firstWave = (await caFetchesSince(offset)).filter((f) => f.status === 200);
    offset = caLogSize();
    await askAll();
    const secondWave = await caFetchesSince(offset);
    const faninOpsAfter = await readOps(fw.url, notes);
    const byUri = new Map<string, number>();
    for (const f of firstWave) byUri.set(f.uri, (byUri.get(f.uri) ?? 0) + 1);
    const faninUris = new Set(faninReqs.map((r) => r.path));
    const strays = [...byUri.keys()].filter((u) => !faninUris.has(u));
    if (strays.length > 0)
      notes.add(`fan-in: ${strays.length} CA fetches for paths the clients did not ask about`);
    const faninOps = faninOpsAfter ? diffOps(faninOpsBefore, faninOpsAfter) : null;
    const fanin: BenchResults["fanin"] = {
      clients: o.faninClients,
      certs: o.faninCerts,
      gets: clients.filter((c) => !c.post).length,
      posts: clients.filter((c) => c.post).length,
      answered200: statuses.filter((s) => s === 200).length,
      upstreamFetches: firstWave.length,
      distinctCertsFetched: byUri.size,
      maxFetchesPerCert: Math.max(0, ...byUri.values()),
      secondWaveFetches: secondWave.length,
      relayOps: faninOps,
      ms: faninMs,
    };
    log(
      `fan-in: ${fanin.answered200}/${fanin.clients} answered 200 in ${faninMs} ms; the CA saw ${fanin.upstreamFetches} fetches for ${fanin.distinctCertsFetched} certificates (max ${fanin.maxFetchesPerCert} per certificate); second wave: ${fanin.secondWaveFetches}`,
    );
    await fw.service.stop();

    // --- 1. Cache hits: relay vs floor vs nginx ------------------------------------------------
    log("main workerd: relay + floor, with the inspector on loopback (attached only between runs)");
    const w = await startWorkerd("workerd", join(tmp, "workerd"), logDir, bundle, vars, true);
    await registerIssuer(w.url, token, ca.pem, caFront);
    const hitReq = reqs[0]!;
    const hitUrl = `${w.url}${hitReq.path}`;
    const nginxUrl = `http://${LOOPBACK}:${cachePort}${hitReq.path}`;
    const answer = await prepareHit(w, hitReq.path);
    let nginxBytes = 0;
    for (let i = 0; i < 3; i++) {
      const res = await http(nginxUrl);
      nginxBytes = (await bodyOf(res)).length;
      if (i === 2 && res.headers.get("X-Cache-Status") !== "HIT") {
        throw new Error(
          `nginx does not answer from its cache (X-Cache-Status ${res.headers.get("X-Cache-Status")})`,
        );
      }
    }
    log(
      `answer: ${answer.length} bytes from the relay (X-Cache HIT), the floor serves the same bytes; nginx caches ${nginxBytes} bytes`,
    );

    const memIdle = memoryOf(w.service.pid);
    const heapIdle = await heapAfterGc(w, notes);
    const hasOps = (await readOps(w.url, notes)) !== undefined;
    if (hasOps && !(await resetOps(w.url))) notes.add("POST /__bench/reset did not answer 200");

    const configs = [
      { key: "relay", label: "relay (workerd serve, hot path)", url: hitUrl },
      {
        key: "floor",
        label: "floor (same workerd, constant body)",
        url: `${w.floorUrl}${hitReq.path}`,
      },
      {
        key: "floorHeaders",
        label: "floor + the relay's headers (same workerd, constant body and headers)",
        url: `${w.floorHeadersUrl}${hitReq.path}`,
      },
      {
        key: "nginx",
        label: `nginx proxy_cache (worker_processes ${o.nginxWorkers})`,
        url: nginxUrl,
      },
    ] as const;
    log("warm-up: 1 s each (not counted)");
    for (const c of configs) await wrk(c.url, o, 1);
    const series: Record<(typeof configs)[number]["key"], Series> = {
      relay: { label: configs[0].label, runs: [] },
      floor: { label: configs[1].label, runs: [] },
      floorHeaders: { label: configs[2].label, runs: [] },
      nginx: { label: configs[3].label, runs: [] },
    };
    let hitOps = ZERO_OPS;
    for (let rep = 1; rep <= o.reps; rep++) {
      // ABBA: every other round runs in reverse, so a drift in the machine's speed falls on each
      // configuration alike; the relay and the floor always run side by side.
      for (const c of rep % 2 === 1 ? configs : [...configs].reverse()) {
        const before = c.key === "relay" ? await readOps(w.url, notes) : undefined;
        const r = await wrk(c.url, o, o.durationS);
        if (before) {
          const after = await readOps(w.url, notes);
          if (after) hitOps = addOps(hitOps, diffOps(before, after));
        }
        series[c.key].runs.push(r);
        log(`  run ${rep}/${o.reps} ${describeRun(c.key, r)}`);
      }
    }
    const memHits = memoryOf(w.service.pid);
    const heapHits = await heapAfterGc(w, notes);
    const costRows: CostRow[] = [];
    if (hasOps) {
      const ttl = readSourceConstant("src/issuers/registry.ts", "REGISTRY_TTL_MS");
      const relaySeconds = o.reps * o.durationS;
      // Each relay run starts after >= 2 runs of the others: its registry copy has expired, and
      // it expires again every TTL within the run.
      const expiries = ttl ? o.reps * (Math.ceil((o.durationS * 1000) / ttl) + 1) : undefined;
      const herd =
        expiries !== undefined && hitOps.kvReads > 2 * expiries
          ? ` Measured ${hitOps.kvReads} for at most ~${expiries} expiries: more than one read per expiry (IssuerRegistry.forHotPath starts at most one at a time).`
          : "";
      notes.add(
        `KV reads on hits: ${hitOps.kvReads} in ${hitOps.requests} relay requests over ${relaySeconds} s of measured relay runs. ` +
          `No hit reads KV or waits for it: once the isolate's copy of the issuer registry is older than REGISTRY_TTL_MS` +
          `${ttl !== undefined ? ` (${ttl / 1000} s)` : ""}, the hot path re-reads it after its response (ctx.waitUntil), once per TTL per isolate whatever the traffic; these are those reads.${herd}`,
      );
      costRows.push({
        path: "hit",
        requests: hitOps.requests,
        ops: hitOps,
        note: "all measured relay runs",
      });
    }

    // --- 5 (preparation). Warm N certificates: one miss each, then one hit each ------------------
    log(
      `warming ${o.certs} certificates (one CA fetch each through its owner), ${o.warmConcurrency} at a time`,
    );
    const warmBudget = Math.max(Date.now() + 30_000, deadline - (o.quick ? 45_000 : 200_000));
    const opsBeforeWarm = await readOps(w.url, notes);
    const cpuBeforeWarm = cpuSecondsOf(w.service.pid);
    const warmStart = Date.now();
    const notMiss: number[] = [];
    await pool(reqs.slice(1), o.warmConcurrency, warmBudget, async (r) => {
      const res = await http(`${w.url}${r.path}`);
      await res.arrayBuffer();
      if (res.status !== 200)
        throw new Error(`warming serial ${r.serial.toString(16)}: HTTP ${res.status}`);
      if (res.headers.get("X-Cache") !== "MISS") notMiss.push(r.serial);
    });
    const warmMs = Date.now() - warmStart;
    const warmCpu = cpuSecondsOf(w.service.pid) - cpuBeforeWarm;
    const opsAfterWarm = await readOps(w.url, notes);
    const warmed = reqs.length - 1;
    let sharedIsolate: boolean | null = null;
    if (opsBeforeWarm && opsAfterWarm) {
      const missOps = diffOps(opsBeforeWarm, opsAfterWarm);
      costRows.push({
        path: "miss",
        requests: missOps.requests,
        ops: missOps,
        note: `${warmed} cold certificates`,
      });
      sharedIsolate = missOps.upstreamFetches >= warmed && missOps.verifications >= warmed;
    }
    if (faninOps)
      costRows.push({
        path: "fan-in",
        requests: faninOps.requests,
        ops: faninOps,
        note: "cold start, first wave and second wave",
      });
    if (notMiss.length > 0) notes.add(`${notMiss.length} warming requests were not misses`);
    log(
      `warmed ${warmed} in ${warmMs} ms (${Math.round((warmed * 1000) / Math.max(1, warmMs))}/s, ${round((warmCpu * 1000) / Math.max(1, warmed), 2)} ms workerd CPU each)`,
    );
    const touchStart = Date.now();
    const notHit: number[] = [];
    await pool(reqs, o.warmConcurrency, warmBudget, async (r) => {
      const res = await http(`${w.url}${r.path}`);
      await res.arrayBuffer();
      if (res.headers.get("X-Cache") !== "HIT") notHit.push(r.serial);
    });
    const touchMs = Date.now() - touchStart;
    if (notHit.length > 0)
      notes.add(
        `${notHit.length} of ${reqs.length} certificates were not hits on the second pass (memory tier full?)`,
      );
    const memWarm = memoryOf(w.service.pid);
    // The owners just touched live in this process (workerd evicts an idle Durable Object after
    // 10 s): let them go before measuring, so their eviction is not timed as hit latency.
    log(`letting ${reqs.length} owner objects go idle (${SETTLE_S} s)`);
    await sleep(SETTLE_S * 1000);

    // --- 5. Scaling ------------------------------------------------------------------------------
    const pathsFile = join(tmp, "paths.txt");
    await writeFile(pathsFile, reqs.map((r) => r.path).join("\n") + "\n");
    const luaFile = join(tmp, "cycle.lua");
    await writeFile(luaFile, cycleScript());
    const sets = [...new Set([10, 1000, o.certs].filter((n) => n <= o.certs))].sort(
      (a, b) => a - b,
    );
    const script = (n: number) => ({ path: luaFile, args: [pathsFile, String(n)] });
    log(
      `scaling: ${sets.join(", ")} certificates, ${o.scalingReps} run(s) of ${o.scalingDurationS} s each, plus the floor with the same Lua script`,
    );
    await wrk(w.url, o, 1, script(o.certs));
    const points = sets.map((certs) => ({
      certs,
      relay: { label: `relay, ${certs} certificates`, runs: [] as WrkResult[] },
      ops: ZERO_OPS,
    }));
    const floorLua: Series = { label: "floor (same Lua script)", runs: [] };
    for (let rep = 1; rep <= o.scalingReps; rep++) {
      for (const p of points) {
        const before = await readOps(w.url, notes);
        const r = await wrk(w.url, o, o.scalingDurationS, script(p.certs));
        const after = await readOps(w.url, notes);
        if (before && after) p.ops = addOps(p.ops, diffOps(before, after));
        p.relay.runs.push(r);
        log(`  run ${rep}/${o.scalingReps} ${describeRun(`${p.certs} certs`, r)}`);
      }
      const f = await wrk(w.floorUrl, o, o.scalingDurationS, script(o.certs));
      floorLua.runs.push(f);
      log(`  run ${rep}/${o.scalingReps} ${describeRun("floor (Lua)", f)}`);
    }

    // --- Where the time goes ---------------------------------------------------------------------
    const vsFloor = rpsVs(series.relay, series.floor);
    let profile: BenchResults["profile"] = null;
    if (o.profile === "always" || (o.profile === "auto" && vsFloor !== null && vsFloor < 0.9)) {
      log(
        `profiling one ${Math.min(5, o.durationS)} s relay hit run (hits are ${vsFloor === null ? "n/a" : round(vsFloor, 2)}x the floor)`,
      );
      profile = await profileRun(w, hitUrl, o, bundle, notes);
    }
    const largest = points[points.length - 1]!;
    const vsFloorLua = ratio(seriesStats(largest.relay).rps, seriesStats(floorLua).rps);
    let profileScaling: BenchResults["profileScaling"] = null;
    if (
      o.profile === "always" ||
      (o.profile === "auto" && vsFloorLua !== null && vsFloorLua < 0.9)
    ) {
      log(
        `profiling one ${Math.min(5, o.scalingDurationS)} s relay run over ${largest.certs} certificates (${vsFloorLua === null ? "n/a" : round(vsFloorLua, 2)}x the floor with the same script)`,
      );
      profileScaling = await profileRun(w, w.url, o, bundle, notes, script(largest.certs));
    }

    // --- 4. Memory -------------------------------------------------------------------------------
    const heapEnd = await heapAfterGc(w, notes);
    const memEnd = memoryOf(w.service.pid);
    await w.service.stop();

    // --- 1b. Instructions per hit (callgrind) ----------------------------------------------------
    let instructions: BenchResults["instructions"] = null;
    if (o.instructions) {
      if (!which("valgrind") || !which("callgrind_control")) {
        notes.add(
          "instruction counts skipped: valgrind is not installed (apt-get install valgrind)",
        );
      } else {
        instructions = await countInstructions({
          tmp, logDir, bundle, vars, token, caPem: ca.pem, caFront, path: hitReq.path, o,
        }); // prettier-ignore
      }
    }

    const limits = readMemoryLimits(notes);
    const scaling: BenchResults["scaling"] = {
      floorLua,
      points: points.map((p) => ({
        certs: p.certs,
        relay: p.relay,
        ops: hasOps ? p.ops : null,
        memoryHits:
          hasOps && p.ops.requests > 0
            ? 1 - (p.ops.cacheReads + p.ops.ownerCalls) / p.ops.requests
            : null,
      })),
    };
    const loadEnd = os.loadavg();
    machine["load average at end"] = loadEnd.map((l) => l.toFixed(2)).join(" ");
    const others = {
      median: median(othersDuringRuns),
      max: Math.max(0, ...othersDuringRuns),
    };
    machine["CPU taken by other processes during the wrk runs"] =
      `median ${round(others.median * 100, 1)} %, max ${round(others.max * 100, 1)} % of the machine (${othersDuringRuns.length} runs)`;
    if (others.median > 0.05 || others.max > 0.2) {
      notes.add(
        `Other work on this machine took CPU during the runs (median ${round(others.median * 100, 1)} %, max ${round(others.max * 100, 1)} % of ${os.availableParallelism()} cores): absolute numbers are low and noisy; the ratios come from alternating runs, so compare them rather than requests/s across runs.`,
      );
    }
    notes.add(
      `The hit path reads no KV; KV is nonetheless a real workerd kvNamespace binding, served by an in-memory KV worker in the same process (the HTTP protocol workerd's binding speaks). workerd serve has no Cache API backend here (no cacheApiOutbound), so the edge tier always misses: misses count its attempted reads and writes.`,
    );
    notes.add(
      `Durable Objects are SQLite-backed in memory (durableObjectStorage inMemory) and share the relay's process and isolate; RSS therefore includes every owner object created while warming (production runs them elsewhere), which is why the relay isolate's JS heap after gc() is given as well (workerd runs with V8's --expose-gc; gc() is evaluated through the inspector between runs). Before the scaling runs the benchmark waits ${SETTLE_S} s without requests so that workerd evicts the idle owner objects instead of doing it during a measured run.`,
    );
    if (o.certs < 10_000) {
      notes.add(
        `--quick caches ${o.certs} certificates, not 10 000: warming costs one CA fetch, signature check and owner (Durable Object) round trip per certificate (${round((warmCpu * 1000) / Math.max(1, warmed), 1)} ms of workerd CPU each here), too slow for the quick budget.`,
      );
    }
    notes.add(
      `wrk drives every configuration with the same settings: it is C with one epoll loop per thread, so on ${os.availableParallelism()} cores it takes the least CPU away from the server measured, it keeps ${o.connections} keep-alive connections busy, and --latency gives the percentiles. workerd serves each worker on one thread; nginx runs worker_processes ${o.nginxWorkers}.`,
    );
    if (inNetns)
      notes.add(
        `network: private namespace (unshare ${inNetns}), only its loopback exists; openssl ocsp binds its port on all addresses of that namespace (it takes no address).`,
      );

    const results: BenchResults = {
      startedAt: new Date(T0).toISOString(),
      command,
      quick: o.quick,
      elapsedS: 0,
      machine,
      settings: {
        threads: o.threads,
        connections: o.connections,
        durationS: o.durationS,
        reps: o.reps,
        scalingReps: o.scalingReps,
        scalingDurationS: o.scalingDurationS,
        certs: o.certs,
        scalingSets: sets,
        faninClients: o.faninClients,
        faninCerts: o.faninCerts,
        network: inNetns
          ? `private network namespace (unshare ${inNetns}), loopback only`
          : "host namespace, loopback addresses only",
        storage: "SQLite-backed, in memory (workerd durableObjectStorage inMemory)",
        kv: "workerd kvNamespace binding served by an in-memory KV worker in the same process",
      },
      hit: {
        answerBytes: answer.length,
        nginxBytes,
        relay: series.relay,
        floor: series.floor,
        floorHeaders: series.floorHeaders,
        nginx: series.nginx,
      },
      fanin,
      cost: { sharedIsolate, rows: costRows },
      memory: {
        certsCached: reqs.length,
        answerBytes: answer.length,
        tierCap: limits,
        rssIdleKiB: memIdle.rssKiB,
        rssAfterHitsKiB: memHits.rssKiB,
        rssAfterWarmKiB: memWarm.rssKiB,
        rssEndKiB: memEnd.rssKiB,
        hwmKiB: memEnd.hwmKiB,
        heapUsedIdle: heapIdle,
        heapUsedAfterHits: heapHits,
        heapUsedEnd: heapEnd,
      },
      warm: { certs: warmed, ms: warmMs, touchMs },
      scaling,
      instructions,
      profile,
      profileScaling,
      contention: { ...others, runs: othersDuringRuns.length },
      notes: [...notes],
    };

    await stopAll();
    results.elapsedS = (Date.now() - T0) / 1000;
    const markdown = renderMarkdown(results);
    await mkdir(o.out, { recursive: true });
    const stamp = results.startedAt.replace(/[:.]/g, "-");
    const kind = o.quick ? "quick" : "full";
    const jsonPath = join(o.out, "latest.json");
    const summary = summaryLine(results, relative(REPO_ROOT, jsonPath) || jsonPath);
    const json = `${JSON.stringify({ summary, results }, null, 2)}\n`;
    await writeFile(join(o.out, "latest.md"), markdown);
    await writeFile(jsonPath, json);
    await writeFile(join(o.out, `${stamp}-${kind}.md`), markdown);
    await writeFile(join(o.out, `${stamp}-${kind}.json`), json);
    finished = true;
    clearTimeout(watchdog);
    if (!o.keep) await rm(tmp, { recursive: true, force: true });
    log(`wrote ${relative(REPO_ROOT, join(o.out, "latest.md"))} and latest.json`);
    process.stdout.write(`${markdown}\n`);
    process.stdout.write(`${JSON.stringify(summary)}\n`);
  } catch (e) {
    if (finished) return;
    finished = true;
    clearTimeout(watchdog);
    const dead = unexpectedExits();
    const message =
      (dead.length ? `${dead.join(", ")} exited during the run; ` : "") +
      (e instanceof Error ? e.message : String(e));
    log(`failed: ${message}`);
    await stopAll().catch(() => undefined);
    killAllNow();
    if (o.keep) log(`logs kept in ${logDir}`);
    else await rm(tmp, { recursive: true, force: true }).catch(() => undefined);
    process.stdout.write(`${JSON.stringify({ ok: false, error: message.split("\n")[0] })}\n`);
    process.exitCode = 1;
  }
}

async function heapAfterGc(w: Workerd, notes: Set<string>): Promise<number | null> {
  if (w.inspectorPort === undefined) return null;
  let last: unknown;
  for (let attempt = 1; attempt <= 2; attempt++) {
    let inspector: Inspector | undefined;
    try {
      inspector = await Inspector.connect(w.inspectorPort, "relay");
      return await inspector.heapUsedAfterGc();
    } catch (e) {
      last = e;
    } finally {
      await inspector?.close();
    }
  }
  notes.add(`JS heap not measured: ${last instanceof Error ? last.message : last}`);
  return null;
}

async function profileRun(
  w: Workerd,
  url: string,
  o: Options,
  bundle: Bundle,
  notes: Set<string>,
  script?: { path: string; args: string[] },
) {
  if (w.inspectorPort === undefined) return null;
  let inspector: Inspector | undefined;
  try {
    inspector = await Inspector.connect(w.inspectorPort, "relay");
    await inspector.startProfile();
    const r = await wrk(url, o, Math.min(5, script ? o.scalingDurationS : o.durationS), script);
    const profile = await inspector.stopProfile();
    notes.add(
      `profiled relay run${script ? ` over ${script.args[1]} certificates` : ""} (inspector attached, so slower): ${describeRun("relay", r)}`,
    );
    const moduleAt = bundleModuleAt(await readFile(bundle.path, "utf8"));
    return topSelfTime(profile, 15).map((e) => ({
      ...e,
      url: e.url ? `${moduleAt(e.line) ?? e.url} (bundle line ${e.line + 1})` : "",
    }));
  } catch (e) {
    notes.add(`profile failed: ${e instanceof Error ? e.message : e}`);
    return null;
  } finally {
    await inspector?.close();
  }
}

/** A numeric `export const NAME = 10_000;` from a source file (the report follows the code). */
function readSourceConstant(file: string, name: string): number | undefined {
  try {
    const text = readFileSync(join(REPO_ROOT, file), "utf8");
    const m = new RegExp(`\\b${name}\\s*=\\s*([\\d_]+)\\s*;`).exec(text);
    return m ? Number(m[1]!.replace(/_/g, "")) : undefined;
  } catch {
    return undefined;
  }
}

function readMemoryLimits(notes: Set<string>): { entries: number; bytes: number } {
  try {
    const text = readFileSync(MEMORY_SOURCE, "utf8");
    const m = /MEMORY_LIMITS[^=]*=\s*\{\s*maxEntries:\s*([\d_]+),\s*maxBytes:\s*([\d_*\s]+)\}/.exec(
      text,
    );
    if (!m) throw new Error("MEMORY_LIMITS not found");
    const entries = Number(m[1]!.replace(/_/g, ""));
    const bytes = m[2]!
      .replace(/_/g, "")
      .split("*")
      .reduce((a, f) => a * Number(f.trim()), 1);
    return { entries, bytes };
  } catch (e) {
    notes.add(
      `memory tier cap not read from src/sources/memory.ts: ${e instanceof Error ? e.message : e}`,
    );
    return { entries: NaN, bytes: NaN };
  }
}

await main();
