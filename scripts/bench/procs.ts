// Processes the benchmark starts: each in its own process group (so nginx's workers and anything
// else a process forks go with it), every one-shot command bounded in time, and every group still
// alive killed on the way out: normal end, failure, Ctrl-C (SIGINT), SIGTERM/SIGHUP, or exit.

import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { accessSync, closeSync, constants, openSync, readdirSync, readFileSync } from "node:fs";
import os from "node:os";
import net from "node:net";
import { delimiter, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { LOOPBACK } from "./configs.ts";

/** Process groups started here and not yet reaped (pgid = the leader's pid). */
const live = new Map<number, string>();

function signalGroup(pid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    return false; // ESRCH: gone
  }
}

/** SIGKILLs every group still alive, synchronously (safe in an exit handler). */
export function killAllNow(): void {
  for (const pid of live.keys()) signalGroup(pid, "SIGKILL");
  live.clear();
}

process.once("exit", killAllNow);

/** The environment children get: no proxy may divert a loopback connection elsewhere. */
export function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of Object.keys(env)) {
    if (/^(http|https|all|ftp)_proxy$/i.test(name)) delete env[name];
  }
  return { ...env, NO_PROXY: "*", no_proxy: "*", ...extra };
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
  timedOut: boolean;
}

/** Runs a command to completion, killed (its whole group) after `timeoutMs`. Never throws on exit. */
export async function run(
  cmd: string,
  args: string[],
  o: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs: number; input?: string },
): Promise<RunResult> {
  const started = Date.now();
  const child = spawn(cmd, args, {
    cwd: o.cwd,
    env: o.env ?? childEnv(),
    stdio: ["pipe", "pipe", "pipe"],
    detached: true,
  });
  if (child.pid !== undefined) live.set(child.pid, cmd);
  let spawnError: Error | undefined;
  child.on("error", (e) => {
    spawnError = e;
  });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on("data", (b: Buffer) => out.push(b));
  child.stderr.on("data", (b: Buffer) => err.push(b));
  child.stdin.on("error", () => {});
  child.stdin.end(o.input ?? "");
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    if (child.pid !== undefined) signalGroup(child.pid, "SIGKILL");
  }, o.timeoutMs);
  const [code, signal] = (await once(child, "close")) as [number | null, NodeJS.Signals | null];
  clearTimeout(timer);
  if (child.pid !== undefined) {
    signalGroup(child.pid, "SIGKILL"); // anything it left behind in its group
    live.delete(child.pid);
  }
  return {
    code: spawnError ? 127 : code,
    signal,
    stdout: Buffer.concat(out).toString("utf8"),
    stderr: Buffer.concat(err).toString("utf8") + (spawnError ? `\n${spawnError.message}` : ""),
    ms: Date.now() - started,
    timedOut,
  };
}

export async function runOk(
  cmd: string,
  args: string[],
  o: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs: number; input?: string },
): Promise<RunResult> {
  const r = await run(cmd, args, o);
  if (r.code !== 0) {
    throw new Error(
      `${cmd} ${args.join(" ")} failed (${r.timedOut ? "timed out" : `exit ${r.code ?? r.signal}`}):\n${(r.stdout + r.stderr).slice(-3000)}`,
    );
  }
  return r;
}

export interface Service {
  name: string;
  pid: number;
  child: ChildProcess;
  exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  logPath: string;
  tail(bytes?: number): string;
  stop(): Promise<void>;
}

/** Starts a long-running process in its own group; stdout and stderr go to `<logDir>/<name>.log`. */
export function startService(
  name: string,
  cmd: string,
  args: string[],
  o: { logDir: string; cwd?: string; env?: NodeJS.ProcessEnv },
): Service {
  const logPath = join(o.logDir, `${name}.log`);
  const fd = openSync(logPath, "a");
  let child: ChildProcess;
  try {
    child = spawn(cmd, args, {
      cwd: o.cwd,
      env: o.env ?? childEnv(),
      detached: true,
      stdio: ["ignore", fd, fd],
    });
  } finally {
    closeSync(fd);
  }
  if (child.pid === undefined) throw new Error(`could not start ${cmd}`);
  const pid = child.pid;
  live.set(pid, name);
  let stopping = false;
  const service: Service = {
    name,
    pid,
    child,
    exited: undefined,
    logPath,
    tail: (bytes = 3000) => {
      try {
        return readFileSync(logPath, "utf8").slice(-bytes);
      } catch {
        return "";
      }
    },
    stop: () => {
      stopping = true;
      return stopGroup(pid);
    },
  };
  services.add(service);
  child.on("error", () => {});
  child.on("exit", (code, signal) => {
    service.exited = { code, signal };
    if (stopping) services.delete(service);
  });
  return service;
}

/** Services started and not stopped by us. */
const services = new Set<Service>();

/** Services that exited although nothing here stopped them, e.g. `name (killed by SIGTERM)`. */
export function unexpectedExits(): string[] {
  return [...services]
    .filter((s) => s.exited)
    .map(
      (s) =>
        `${s.name} (${s.exited!.signal ? `killed by ${s.exited!.signal}` : `exit ${s.exited!.code}`})`,
    );
}

/** SIGTERM to the group, SIGKILL after `graceMs`; waits (bounded) until the group is gone. */
export async function stopGroup(pid: number, graceMs = 3000): Promise<void> {
  if (!signalGroup(pid, "SIGTERM")) {
    live.delete(pid);
    return;
  }
  const gone = async (ms: number) => {
    for (let i = 0; i < Math.ceil(ms / 50); i++) {
      if (!signalGroup(pid, 0)) return true;
      await sleep(50);
    }
    return !signalGroup(pid, 0);
  };
  if (!(await gone(graceMs))) {
    signalGroup(pid, "SIGKILL");
    await gone(2000);
  }
  live.delete(pid);
}

/** Stops every group still alive (in parallel, bounded). */
export async function stopAll(): Promise<void> {
  await Promise.all([...live.keys()].map((pid) => stopGroup(pid)));
}

// ---------------------------------------------------------------------------------------------
// Bounded waiting on loopback

export async function freePort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, LOOPBACK);
  await once(server, "listening");
  const { port } = server.address() as net.AddressInfo;
  server.close();
  await once(server, "close");
  return port;
}

/** Polls `probe` every `intervalMs` until it returns a value, at most `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs: number,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (let i = 0; i < Math.ceil(timeoutMs / intervalMs) + 1; i++) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() + intervalMs > deadline) break;
    await sleep(intervalMs);
  }
  throw new Error(
    `timed out after ${timeoutMs} ms waiting for ${what}${last instanceof Error ? `: ${last.message}` : ""}`,
  );
}

export function waitForPort(port: number, timeoutMs: number, service?: Service): Promise<true> {
  return waitFor(
    `${LOOPBACK}:${port}${service ? ` (${service.name})` : ""}`,
    () => {
      if (service?.exited) {
        throw new Error(
          `${service.name} exited ${JSON.stringify(service.exited)}:\n${service.tail()}`,
        );
      }
      return new Promise<true | undefined>((done) => {
        const socket = net.connect({ host: LOOPBACK, port });
        const finish = (v: true | undefined) => {
          socket.destroy();
          done(v);
        };
        socket.setTimeout(1000, () => finish(undefined));
        socket.once("connect", () => finish(true));
        socket.once("error", () => finish(undefined));
      });
    },
    timeoutMs,
  );
}

/** VmRSS and VmHWM of a process, in KiB (from /proc/<pid>/status). */
export function memoryOf(pid: number): { rssKiB: number; hwmKiB: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kib = (field: string) =>
    Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? NaN);
  return { rssKiB: kib("VmRSS"), hwmKiB: kib("VmHWM") };
}

/** CPU seconds (user + system) a process has used (from /proc/<pid>/stat). */
export function cpuSecondsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (100/s)
}

/** The path of an executable on PATH (or an absolute path that is executable), else undefined. */
export function which(cmd: string): string | undefined {
  const candidates = cmd.includes("/")
    ? [cmd]
    : (process.env["PATH"] ?? "").split(delimiter).map((d) => join(d, cmd));
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {
      // not there
    }
  }
  return undefined;
}

/**
 * CPU time (in clock ticks, 100/s) the whole machine spent busy, and the part spent by this
 * benchmark: this process and the children it reaped (wrk, openssl, ...) plus every process in a
 * group started here (workerd, nginx and its workers, openssl ocsp). The difference over a run is
 * what other work on the machine took from it.
 */
export function cpuSample(): { at: number; busy: number; ours: number } {
  const line = readFileSync("/proc/stat", "utf8")
    .split("\n")[0]!
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number);
  // user nice system idle iowait irq softirq steal (guest time is already counted in user)
  const busy = line[0]! + line[1]! + line[2]! + line[5]! + line[6]! + (line[7] ?? 0);
  let ours = 0;
  const fieldsOf = (text: string) => text.slice(text.lastIndexOf(")") + 2).split(" ");
  const self = fieldsOf(readFileSync("/proc/self/stat", "utf8"));
  ours += Number(self[11]) + Number(self[12]) + Number(self[13]) + Number(self[14]);
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let f: string[];
    try {
      f = fieldsOf(readFileSync(`/proc/${entry}/stat`, "utf8"));
    } catch {
      continue; // gone
    }
    // f[2] is the process group; f[11..14] utime, stime, cutime, cstime
    if (live.has(Number(f[2])))
      ours += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
  }
  return { at: Date.now(), busy, ours };
}

/** The share of the machine's CPU (0..1) taken by other processes between two samples. */
export function othersShare(
  a: ReturnType<typeof cpuSample>,
  b: ReturnType<typeof cpuSample>,
): number {
  const capacity = ((b.at - a.at) / 1000) * 100 * os.availableParallelism();
  if (capacity <= 0) return 0;
  return Math.min(1, Math.max(0, (b.busy - a.busy - (b.ours - a.ours)) / capacity));
}
