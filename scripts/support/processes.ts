// The processes the e2e tests and the benchmark start: each in its own process group (so nginx's
// workers and anything else a process forks go with it), every one-shot command bounded in time,
// and every group still alive SIGKILLed when this process exits, whatever the reason.

import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { accessSync, closeSync, constants, existsSync, openSync, readFileSync } from "node:fs";
import { delimiter, join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

export const REPO_ROOT = resolve(import.meta.dirname, "../..");

/**
 * The environment children get: every proxy variable removed and NO_PROXY=* (as curl gets
 * `--noproxy '*'` and Chromium `--no-proxy-server`), so no proxy can divert a loopback connection.
 */
export function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of Object.keys(env)) {
    if (/^(http|https|all|ftp)_proxy$/i.test(name)) delete env[name];
  }
  return { ...env, NO_PROXY: "*", no_proxy: "*", ...extra };
}

// ---------------------------------------------------------------------------------------------
// Process groups

/** Process groups started here and not yet reaped (pgid = the leader's pid) and their names. */
const live = new Map<number, string>();

/** The process groups started here and still alive (the benchmark counts their CPU time). */
export function liveGroups(): ReadonlySet<number> {
  return new Set(live.keys());
}

function signalGroup(pid: number | undefined, signal: NodeJS.Signals | 0): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    return false; // ESRCH: the group is gone
  }
}

/** SIGKILLs every group still alive, synchronously (safe in an exit or signal handler). */
export function killAllNow(): void {
  for (const pid of live.keys()) signalGroup(pid, "SIGKILL");
  live.clear();
}

process.once("exit", killAllNow);

/** Sends SIGTERM to the process group, then SIGKILL after `graceMs`; waits (bounded) until gone. */
export async function killGroup(pid: number, graceMs = 5_000): Promise<void> {
  if (!signalGroup(pid, "SIGTERM")) {
    live.delete(pid);
    return;
  }
  const gone = async (ms: number) => {
    const deadline = Date.now() + ms;
    for (let i = 0; i < Math.ceil(ms / 50) + 1 && Date.now() < deadline; i++) {
      if (!signalGroup(pid, 0)) return true; // signal 0 only probes
      await sleep(50);
    }
    return !signalGroup(pid, 0);
  };
  if (!(await gone(graceMs))) {
    signalGroup(pid, "SIGKILL");
    if (!(await gone(3_000))) throw new Error(`process group ${pid} survived SIGKILL`);
  }
  live.delete(pid);
}

/** Stops every group still alive, in parallel, each bounded as in `killGroup`. */
export async function stopAll(graceMs?: number): Promise<void> {
  await Promise.all([...live.keys()].map((pid) => killGroup(pid, graceMs)));
}

// ---------------------------------------------------------------------------------------------
// One-shot commands

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Bytes written to stdin, which is then closed (stdin is always closed). */
  input?: string | Uint8Array;
  /** The child's group is killed (SIGKILL) after this long; default 30 s. */
  timeoutMs?: number;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** stdout and stderr, in that order. */
  output: string;
  ms: number;
  timedOut: boolean;
}

/** Runs a command to completion, bounded in time; never throws for a non-zero exit. */
export async function run(
  cmd: string,
  args: string[],
  options: RunOptions = {},
): Promise<RunResult> {
  const started = Date.now();
  const child = spawn(cmd, args, {
    cwd: options.cwd ?? REPO_ROOT,
    env: options.env ?? childEnv(),
    stdio: ["pipe", "pipe", "pipe"],
    detached: true, // its own group, so a timeout kills whatever it spawned too
  });
  if (child.pid !== undefined) live.set(child.pid, cmd);
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on("data", (b: Buffer) => out.push(b));
  child.stderr.on("data", (b: Buffer) => err.push(b));
  child.stdin.on("error", () => {}); // a child that exits early must not crash the caller
  child.stdin.end(options.input ?? "");
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    signalGroup(child.pid, "SIGKILL");
  }, options.timeoutMs ?? 30_000);
  const [code, signal] = (await once(child, "close")) as [number | null, NodeJS.Signals | null];
  clearTimeout(timer);
  if (child.pid !== undefined) {
    signalGroup(child.pid, "SIGKILL"); // anything it left behind in its group
    live.delete(child.pid);
  }
  const stdout = Buffer.concat(out).toString("utf8");
  const stderr = Buffer.concat(err).toString("utf8");
  return {
    code,
    signal,
    stdout,
    stderr,
    output: stdout + stderr,
    ms: Date.now() - started,
    timedOut,
  };
}

/** Like `run`, but throws with the output when the command fails. */
export async function runOk(
  cmd: string,
  args: string[],
  options: RunOptions = {},
): Promise<RunResult> {
  const result = await run(cmd, args, options);
  if (result.code !== 0) {
    throw new Error(
      `${cmd} ${args.join(" ")} exited ${result.code ?? result.signal}${result.timedOut ? " (timed out)" : ""}:\n${result.output}`,
    );
  }
  return result;
}

export const openssl = (args: string[], options?: RunOptions) => run("openssl", args, options);

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

// ---------------------------------------------------------------------------------------------
// Long-running processes

export interface Managed {
  name: string;
  pid: number;
  stdoutPath: string;
  stderrPath: string;
  child: ChildProcess;
  /** Set once the group leader has exited. */
  exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  /** The last `bytes` of stdout and stderr, for failure messages. */
  tail(bytes?: number): string;
  /** Kills the whole group (SIGTERM, then SIGKILL after `graceMs`, default 5 s). */
  stop(graceMs?: number): Promise<void>;
}

/** Processes started and not stopped through `stop()`. */
const started = new Set<Managed>();

/**
 * Starts a long-running process in its own process group (`detached`), stdout and stderr going to
 * `<logDir>/<name>.stdout.log` / `.stderr.log` (appended, so restarts may share a name).
 */
export function startProcess(
  name: string,
  cmd: string,
  args: string[],
  {
    logDir,
    cwd = REPO_ROOT,
    env = childEnv(),
  }: { logDir: string; cwd?: string; env?: NodeJS.ProcessEnv },
): Managed {
  const stdoutPath = join(logDir, `${name}.stdout.log`);
  const stderrPath = join(logDir, `${name}.stderr.log`);
  const outFd = openSync(stdoutPath, "a");
  const errFd = openSync(stderrPath, "a");
  let child: ChildProcess;
  try {
    child = spawn(cmd, args, { cwd, env, detached: true, stdio: ["ignore", outFd, errFd] });
  } finally {
    closeSync(outFd);
    closeSync(errFd);
  }
  if (child.pid === undefined) throw new Error(`could not start ${cmd}`);
  const pid = child.pid;
  live.set(pid, name);
  const managed: Managed = {
    name,
    pid,
    stdoutPath,
    stderrPath,
    child,
    exited: undefined,
    tail: (bytes = 4_000) =>
      [stdoutPath, stderrPath]
        .map((p) => `--- ${p}\n${existsSync(p) ? readFileSync(p, "utf8").slice(-bytes) : ""}`)
        .join("\n"),
    stop: (graceMs?: number) => {
      started.delete(managed);
      return killGroup(pid, graceMs);
    },
  };
  started.add(managed);
  child.on("error", () => {});
  child.on("exit", (code, signal) => {
    managed.exited = { code, signal };
  });
  return managed;
}

/** Processes that exited although nothing here stopped them, e.g. `nginx (killed by SIGTERM)`. */
export function unexpectedExits(): string[] {
  return [...started].flatMap((p) =>
    p.exited
      ? [
          `${p.name} (${p.exited.signal ? `killed by ${p.exited.signal}` : `exit ${p.exited.code}`})`,
        ]
      : [],
  );
}

/**
 * Calls `abort` on SIGINT, SIGTERM or SIGHUP (exit code 130) or once `maxSeconds` have passed
 * (exit code 2): what a bounded script (the benchmark, the heap measurement) owes its machine.
 * Returns what stops the time limit once the script has finished.
 */
export function abortOnSignalOrTimeout(
  abort: (why: string, code: number) => void,
  maxSeconds: number,
): () => void {
  for (const s of ["SIGINT", "SIGTERM", "SIGHUP"] as const)
    process.on(s, () => abort(`interrupted (${s})`, 130));
  const watchdog = setTimeout(
    () => abort(`time limit of ${maxSeconds} s exceeded`, 2),
    maxSeconds * 1000,
  );
  watchdog.unref();
  return () => clearTimeout(watchdog);
}
