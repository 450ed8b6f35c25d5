// Process and peer helpers for the end-to-end tests: the relay under `wrangler dev`, a throwaway
// PKI made with the openssl CLI, a recording OCSP "CA" (openssl's responder behind a Node proxy),
// nginx, curl and the openssl clients. Everything listens on and talks to 127.0.0.1 only; every
// wait is bounded in time and count; every process runs in its own process group and is killed
// by `Cleanup.run()` (and, as a last resort, when the test process exits).

import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { closeSync, existsSync, openSync, readFileSync } from "node:fs";
import { cp, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import http from "node:http";
import net from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, afterEach } from "vitest";

export const REPO_ROOT = resolve(import.meta.dirname, "../..");
export const LOOPBACK = "127.0.0.1";
export const ADMIN_TOKEN = "secret";

// ---------------------------------------------------------------------------------------------
// Bounded waiting

export interface WaitOptions {
  timeoutMs: number;
  intervalMs?: number;
}

/**
 * Polls `probe` until it returns something other than `undefined`, at most `timeoutMs` and at most
 * ceil(timeoutMs / intervalMs) + 1 times. Throws with `what` and the last probe error on timeout.
 */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  { timeoutMs, intervalMs = 250 }: WaitOptions,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  const maxTries = Math.ceil(timeoutMs / intervalMs) + 1;
  let lastError: unknown;
  for (let attempt = 0; attempt < maxTries; attempt++) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (e) {
      lastError = e;
    }
    if (Date.now() + intervalMs > deadline) break;
    await sleep(intervalMs);
  }
  const detail = lastError instanceof Error ? `: ${lastError.message}` : "";
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail}`);
}

/** A free TCP port on 127.0.0.1 (bind to port 0, read it, close). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, LOOPBACK);
  await once(server, "listening");
  const { port } = server.address() as net.AddressInfo;
  server.close();
  await once(server, "close");
  return port;
}

/** Refuses anything but a loopback http(s) URL: the tests never talk to the outside world. */
export function assertLoopbackUrl(url: string): URL {
  const parsed = new URL(url);
  if (!["127.0.0.1", "[::1]"].includes(parsed.hostname)) {
    throw new Error(`refusing non-loopback URL ${url}`);
  }
  return parsed;
}

/** Resolves once `url` answers with a status accepted by `ok` (each try bounded to 2 s). */
export async function waitForHttp(
  url: string,
  {
    timeoutMs,
    intervalMs = 250,
    ok = (s: number) => s === 200,
  }: WaitOptions & {
    ok?: (status: number) => boolean;
  },
): Promise<number> {
  assertLoopbackUrl(url);
  return waitFor(
    `HTTP ${url}`,
    async () => {
      const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      await res.body?.cancel();
      return ok(res.status) ? res.status : undefined;
    },
    { timeoutMs, intervalMs },
  );
}

/** Resolves once something accepts TCP connections on 127.0.0.1:`port`. */
export async function waitForPort(port: number, options: WaitOptions): Promise<void> {
  await waitFor(
    `127.0.0.1:${port} to accept connections`,
    () =>
      new Promise<true | undefined>((done) => {
        const socket = net.connect({ host: LOOPBACK, port });
        const finish = (value: true | undefined) => {
          socket.destroy();
          done(value);
        };
        socket.setTimeout(1_000, () => finish(undefined));
        socket.once("connect", () => finish(true));
        socket.once("error", () => finish(undefined));
      }),
    options,
  );
}

// ---------------------------------------------------------------------------------------------
// Processes

/** The environment children get: no proxy may divert a loopback connection elsewhere. */
export function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of Object.keys(env)) {
    if (/^(http|https|all|ftp)_proxy$/i.test(name)) delete env[name];
  }
  return {
    ...env,
    NO_PROXY: "127.0.0.1,::1,localhost",
    no_proxy: "127.0.0.1,::1,localhost",
    ...extra,
  };
}

/** Process groups started here and not yet reaped; SIGKILLed if the test process exits. */
const liveGroups = new Set<number>();
process.once("exit", () => {
  for (const pid of liveGroups) signalGroup(pid, "SIGKILL");
});

function signalGroup(pid: number | undefined, signal: NodeJS.Signals | 0): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    return false; // ESRCH: the group is gone
  }
}

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Bytes written to stdin, which is then closed (stdin is always closed). */
  input?: string | Uint8Array;
  /** The child is killed (SIGKILL) after this long; default 30 s. */
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
  if (child.pid !== undefined) liveGroups.add(child.pid);
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on("data", (b: Buffer) => out.push(b));
  child.stderr.on("data", (b: Buffer) => err.push(b));
  child.stdin.on("error", () => {}); // a child that exits early must not crash the test
  child.stdin.end(options.input ?? "");
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    signalGroup(child.pid, "SIGKILL");
  }, options.timeoutMs ?? 30_000);
  const [code, signal] = (await once(child, "close")) as [number | null, NodeJS.Signals | null];
  clearTimeout(timer);
  if (child.pid !== undefined) liveGroups.delete(child.pid);
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
export async function runOk(cmd: string, args: string[], options: RunOptions = {}) {
  const result = await run(cmd, args, options);
  if (result.code !== 0) {
    throw new Error(
      `${cmd} ${args.join(" ")} exited ${result.code ?? result.signal}${result.timedOut ? " (timed out)" : ""}:\n${result.output}`,
    );
  }
  return result;
}

export const openssl = (args: string[], options?: RunOptions) => run("openssl", args, options);

function groupAlive(pid: number): boolean {
  return signalGroup(pid, 0); // signal 0 only probes
}

/** Sends SIGTERM to the process group, then SIGKILL after `graceMs`; waits (bounded) until gone. */
export async function killGroup(pid: number, graceMs = 5_000): Promise<void> {
  if (!signalGroup(pid, "SIGTERM")) {
    liveGroups.delete(pid);
    return;
  }
  const gone = async (ms: number) => {
    const deadline = Date.now() + ms;
    for (let i = 0; i < Math.ceil(ms / 50) + 1 && Date.now() < deadline; i++) {
      if (!groupAlive(pid)) return true;
      await sleep(50);
    }
    return !groupAlive(pid);
  };
  if (!(await gone(graceMs))) {
    signalGroup(pid, "SIGKILL");
    if (!(await gone(3_000))) throw new Error(`process group ${pid} survived SIGKILL`);
  }
  liveGroups.delete(pid);
}

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
  stop(): Promise<void>;
}

/**
 * Starts a long-running process in its own process group (`detached`), stdout and stderr going to
 * `<logDir>/<name>.stdout.log` / `.stderr.log`. `stop()` kills the whole group.
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
  liveGroups.add(pid);
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
    stop: () => killGroup(pid),
  };
  child.on("exit", (code, signal) => {
    managed.exited = { code, signal };
  });
  return managed;
}

/**
 * Teardown in reverse order of registration. Each step runs even when an earlier one throws;
 * the first error is rethrown at the end.
 */
export class Cleanup {
  private readonly steps: { what: string; fn: () => Promise<void> | void }[] = [];

  add(what: string, fn: () => Promise<void> | void): void {
    this.steps.push({ what, fn });
  }

  async run(): Promise<void> {
    let first: unknown;
    while (this.steps.length > 0) {
      const step = this.steps.pop()!;
      try {
        await step.fn();
      } catch (e) {
        first ??= new Error(`cleanup "${step.what}" failed: ${e instanceof Error ? e.message : e}`);
      }
    }
    if (first) throw first;
  }
}

/**
 * One e2e file's files and teardown: its temporary directory is removed after the file, or kept
 * (and its path printed) when setup or a test failed. Create it in the describe block: it
 * registers the afterEach that notices a failed test and the afterAll that runs `cleanup`.
 */
export class E2eFiles {
  readonly cleanup = new Cleanup();
  private keep = false;

  constructor(
    private readonly label: string,
    relayLogs?: () => string | undefined,
  ) {
    afterEach(({ task }) => {
      if (task.result?.state === "fail" || (task.result?.errors?.length ?? 0) > 0) {
        this.keep = true;
        if (relayLogs) console.log(`${label}: "${task.name}" failed; relay logs: ${relayLogs()}`);
      }
    });
    afterAll(() => this.cleanup.run());
  }

  /** The file's temporary directory (removed, or kept after a failure, at cleanup). */
  async tempDir(prefix?: string): Promise<string> {
    const dir = await tempDir(prefix);
    this.cleanup.add("temp dir", () =>
      this.keep ? console.log(`${this.label}: logs and files kept in ${dir}`) : removeDir(dir),
    );
    return dir;
  }

  /** Setup failed: keep the files, tear down what was started, and rethrow. */
  async setupFailed(e: unknown): Promise<never> {
    this.keep = true;
    await this.cleanup.run();
    throw e;
  }
}

/** A fresh directory under the OS temp dir. */
export async function tempDir(prefix = "ocsp-relay-e2e-"): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

export const removeDir = (dir: string) => rm(dir, { recursive: true, force: true });

// ---------------------------------------------------------------------------------------------
// A throwaway PKI, made with the openssl CLI at test time so the tests never depend on how long
// ago the checked-in fixtures were generated.

export interface LeafSpec {
  /** File stem: `<name>.pem`, `<name>.key`. */
  name: string;
  /** In the CA database as valid (default), revoked, or absent (the CA answers "unknown"). */
  state?: "good" | "revoked" | "absent";
}

export interface Leaf {
  name: string;
  pem: string;
  key: string;
  /** Serial number as the openssl CLI prints it (uppercase hex). */
  serial: string;
  state: "good" | "revoked" | "absent";
}

export interface Pki {
  dir: string;
  rootPem: string;
  caPem: string;
  caKey: string;
  /** root + CA, for `openssl ocsp -CAfile` and nginx's ssl_trusted_certificate. */
  chainPem: string;
  /** The CA database (`openssl ca` index.txt format); edit it to change what the CA answers. */
  indexPath: string;
  leaves: Record<string, Leaf>;
  leaf(name: string): Leaf;
}

const OPENSSL_CNF = `[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca_ext]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign,digitalSignature
subjectKeyIdentifier = hash
[leaf_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost,IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
`;

/** YYMMDDHHMMSSZ, the date format of an `openssl ca` index. */
function indexDate(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace(/^\d\d(\d\d)-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d).*$/, "$1$2$3$4$5$6Z");
}

/**
 * root (RSA) -> CA (RSA, signs its own OCSP answers) -> one leaf per spec, valid `days` days from
 * now; leaf serials are 0x1001, 0x1002, ... in spec order. Keys are RSA 2048, made in parallel.
 */
export async function makePki(dir: string, specs: LeafSpec[], days = 30): Promise<Pki> {
  await mkdir(dir, { recursive: true });
  const cnf = join(dir, "openssl.cnf");
  await writeFile(cnf, OPENSSL_CNF);
  const p = (f: string) => join(dir, f);
  const subj = (cn: string) => `/C=XX/O=ocsp-relay e2e/CN=${cn}`;
  const newKeyAndCsr = (stem: string, cn: string) =>
    runOk("openssl", [
      "req", "-new", "-newkey", "rsa:2048", "-nodes", "-config", cnf,
      "-keyout", p(`${stem}.key`), "-out", p(`${stem}.csr`), "-subj", subj(cn),
    ]); // prettier-ignore
  const sign = (stem: string, ca: string | null, serial: string, ext: string) =>
    runOk("openssl", [
      "x509", "-req", "-in", p(`${stem}.csr`), "-out", p(`${stem}.pem`), "-days", String(days),
      "-set_serial", `0x${serial}`, "-extfile", cnf, "-extensions", ext,
      ...(ca ? ["-CA", p(`${ca}.pem`), "-CAkey", p(`${ca}.key`)] : ["-signkey", p(`${stem}.key`)]),
    ]); // prettier-ignore

  await Promise.all([
    newKeyAndCsr("root", "ocsp-relay e2e Root"),
    newKeyAndCsr("ca", "ocsp-relay e2e RSA CA"),
    ...specs.map((s) => newKeyAndCsr(s.name, `${s.name}.e2e.test`)),
  ]);
  await sign("root", null, "01", "ca_ext");
  await sign("ca", "root", "02", "ca_ext");
  const leaves: Record<string, Leaf> = {};
  await Promise.all(
    specs.map(async (s, i) => {
      const serial = (0x1001 + i).toString(16).toUpperCase();
      await sign(s.name, "ca", serial, "leaf_ext");
      leaves[s.name] = {
        name: s.name,
        pem: p(`${s.name}.pem`),
        key: p(`${s.name}.key`),
        serial,
        state: s.state ?? "good",
      };
    }),
  );
  const chainPem = p("chain.pem");
  await writeFile(
    chainPem,
    (await readFile(p("root.pem"), "utf8")) + (await readFile(p("ca.pem"), "utf8")),
  );

  const now = Date.now();
  const expiry = indexDate(now + days * 86_400_000);
  const lines = Object.values(leaves)
    .filter((l) => l.state !== "absent")
    .sort((a, b) => a.serial.localeCompare(b.serial))
    .map((l) =>
      [
        l.state === "revoked" ? "R" : "V",
        expiry,
        l.state === "revoked" ? `${indexDate(now - 60_000)},keyCompromise` : "",
        l.serial,
        "unknown",
        `/C=XX/O=ocsp-relay e2e/CN=${l.name}.e2e.test`,
      ].join("\t"),
    );
  const indexPath = p("index.txt");
  await writeFile(indexPath, lines.map((l) => `${l}\n`).join(""));
  await writeFile(p("index.txt.attr"), "unique_subject = no\n");

  return {
    dir,
    rootPem: p("root.pem"),
    caPem: p("ca.pem"),
    caKey: p("ca.key"),
    chainPem,
    indexPath,
    leaves,
    leaf(name) {
      const leaf = leaves[name];
      if (!leaf) throw new Error(`no leaf "${name}" in the test PKI`);
      return leaf;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The CA's OCSP responder: a recording HTTP proxy on 127.0.0.1 in front of openssl's responder.
// Each request is answered by a one-shot `openssl ocsp -index ... -reqin` run, so nothing listens
// beyond loopback, there is no keep-alive to spin on, and edits to the index apply at once.

export type CaMode =
  /** Answer with openssl's responder. */
  | "up"
  /** Answer 503 Service Unavailable. */
  | "unavailable"
  /** Accept the connection, then drop it without a byte (the CA crashed mid-request). */
  | "reset"
  /** Accept and never answer, until the mode changes or the CA closes. */
  | "hang";

export interface RecordedRequest {
  seq: number;
  /** Epoch ms when the request head arrived / the exchange ended. */
  receivedAt: number;
  finishedAt: number;
  method: string;
  url: string;
  /** Header [name, value] pairs exactly as received (names as sent, in order). */
  rawHeaders: [string, string][];
  bodyBytes: number;
  mode: CaMode;
  /** HTTP status sent back, or "reset"/"hang". */
  outcome: number | "reset" | "hang";
  /** Serial numbers asked about (uppercase hex), from `openssl ocsp -req_text`. */
  serials: string[];
}

export interface OcspCa {
  url: string;
  port: number;
  mode: CaMode;
  /** Every request received, in order of arrival. */
  readonly log: readonly RecordedRequest[];
  setMode(mode: CaMode): void;
  /** Answers in "up" mode wait this long first (default 0), to widen races on purpose. */
  answerDelayMs: number;
  /** Requests about the certificate with this serial that the responder answered (mode "up"). */
  fetchesFor(serial: string): RecordedRequest[];
  /** Every request about the certificate with this serial, answered or not. */
  requestsFor(serial: string): RecordedRequest[];
  close(): Promise<void>;
}

export interface OcspCaOptions {
  pki: Pki;
  /** Scratch space for request/response files. */
  workDir: string;
  /** nextUpdate = thisUpdate + this many minutes (openssl -nmin). */
  nextUpdateMinutes: number;
  /** Signer; defaults to the CA itself. */
  signerPem?: string;
  signerKey?: string;
}

export async function startOcspCa(options: OcspCaOptions): Promise<OcspCa> {
  await mkdir(options.workDir, { recursive: true });
  const log: RecordedRequest[] = [];
  const held = new Set<http.ServerResponse>();
  let seq = 0;

  /** The DER request of an exchange, saved as `req-<seq>.der` (RFC 6960 A.1: GET or POST). */
  const saveRequest = async (record: RecordedRequest, body: Buffer) => {
    const der =
      record.method === "GET"
        ? Buffer.from(decodeURIComponent(record.url.replace(/^\/+/, "")), "base64")
        : body;
    const file = join(options.workDir, `req-${record.seq}.der`);
    await writeFile(file, der);
    return file;
  };
  const serialsIn = (reqText: string) =>
    [...reqText.matchAll(/Serial Number: ([0-9A-F]+)/g)].map((m) => m[1]!);

  /** openssl's responder, one shot: reads the index afresh, signs, prints the request too. */
  const answer = async (record: RecordedRequest, reqFile: string) => {
    const respFile = join(options.workDir, `resp-${record.seq}.der`);
    const result = await openssl([
      "ocsp", "-index", options.pki.indexPath, "-CA", options.pki.caPem,
      "-rsigner", options.signerPem ?? options.pki.caPem,
      "-rkey", options.signerKey ?? options.pki.caKey,
      "-nmin", String(options.nextUpdateMinutes),
      "-reqin", reqFile, "-req_text", "-respout", respFile,
    ], { timeoutMs: 10_000 }); // prettier-ignore
    record.serials = serialsIn(result.stdout);
    return result.code === 0 && existsSync(respFile) ? readFile(respFile) : undefined;
  };

  const server = http.createServer(async (req, res) => {
    const record: RecordedRequest = {
      seq: ++seq,
      receivedAt: Date.now(),
      finishedAt: 0,
      method: req.method ?? "",
      url: req.url ?? "",
      rawHeaders: pairs(req.rawHeaders),
      bodyBytes: 0,
      mode: ca.mode,
      outcome: 0,
      serials: [],
    };
    log.push(record);
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size <= 65_536) chunks.push(chunk);
    }
    record.bodyBytes = size;
    const reqFile = await saveRequest(record, Buffer.concat(chunks));
    const finish = (outcome: RecordedRequest["outcome"]) => {
      record.outcome = outcome;
      record.finishedAt = Date.now();
    };
    if (record.mode !== "up") {
      const text = await openssl(["ocsp", "-reqin", reqFile, "-req_text"], { timeoutMs: 10_000 });
      record.serials = serialsIn(text.stdout);
    }
    switch (record.mode) {
      case "reset":
        finish("reset");
        req.socket.destroy();
        return;
      case "hang":
        finish("hang");
        held.add(res);
        res.on("close", () => held.delete(res));
        return;
      case "unavailable":
        finish(503);
        res.writeHead(503, { "Content-Type": "text/plain", Connection: "close" });
        res.end("CA down for the test\n");
        return;
      case "up": {
        if (ca.answerDelayMs > 0) await sleep(ca.answerDelayMs);
        const der = await answer(record, reqFile);
        finish(der ? 200 : 500);
        res.writeHead(der ? 200 : 500, {
          "Content-Type": der ? "application/ocsp-response" : "text/plain",
          Connection: "close",
        });
        res.end(der ?? "openssl ocsp failed\n");
      }
    }
  });
  server.keepAliveTimeout = 1; // HTTP/1.0 manners: one exchange per connection
  server.listen(0, LOOPBACK);
  await once(server, "listening");
  const { port } = server.address() as net.AddressInfo;

  const ca: OcspCa = {
    url: `http://${LOOPBACK}:${port}/`,
    port,
    mode: "up",
    answerDelayMs: 0,
    log,
    setMode(mode) {
      ca.mode = mode;
      if (mode !== "hang") for (const res of held) res.destroy();
    },
    fetchesFor: (serial) => ca.requestsFor(serial).filter((r) => r.mode === "up"),
    requestsFor: (serial) => log.filter((r) => r.serials.includes(serial.toUpperCase())),
    async close() {
      for (const res of held) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((done) => server.close(() => done()));
    },
  };
  return ca;
}

function pairs(raw: string[]): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) out.push([raw[i]!, raw[i + 1]!]);
  return out;
}

// ---------------------------------------------------------------------------------------------
// The relay under `wrangler dev`

/**
 * A copy of the worker as it is now (src/, wrangler.toml, package.json, tsconfig.json, with
 * node_modules linked) for `startRelay({ workerDir })`. wrangler dev rebuilds and reloads on
 * every source change, dropping in-flight requests; a snapshot keeps a test run on one version of
 * the code even while the working tree is being edited, and a restart runs the same code again.
 */
export async function snapshotWorker(dir: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  await cp(join(REPO_ROOT, "src"), join(dir, "src"), { recursive: true });
  for (const file of ["wrangler.toml", "package.json", "tsconfig.json"]) {
    await cp(join(REPO_ROOT, file), join(dir, file));
  }
  await symlink(join(REPO_ROOT, "node_modules"), join(dir, "node_modules"), "dir");
  return dir;
}

export interface Relay {
  url: string;
  port: number;
  process: Managed;
  stop(): Promise<void>;
}

export interface RelayOptions {
  /** Where wrangler keeps local KV; reuse it to restart with the same cache. */
  persistTo: string;
  logDir: string;
  /** Extra `--var NAME:VALUE` bindings. */
  vars?: Record<string, string>;
  /** Where `npm start` runs: the repository (default) or a `snapshotWorker` copy. */
  workerDir?: string;
  /** Log file stem (default "relay"); logs append, so restarts may share it. */
  name?: string;
  startTimeoutMs?: number;
}

/**
 * `npm start -- --port P --ip 127.0.0.1 --persist-to DIR --var ADMIN_TOKEN:secret
 * --var ALLOW_PRIVATE_RESPONDERS:true`, waiting (bounded) for GET /healthz to answer 200.
 * wrangler's outbound calls (update check, telemetry, cf.json) are switched off or pre-answered so
 * that nothing leaves the machine.
 */
export async function startRelay(options: RelayOptions): Promise<Relay> {
  const port = await freePort();
  const inspectorPort = await freePort();
  const home = join(options.logDir, "wrangler-home");
  await mkdir(join(home, "update-check"), { recursive: true });
  // wrangler's npm update check reads this cache first (TTL 1 h): a fresh "nothing newer" entry
  // means it never asks the registry.
  await writeFile(
    join(home, "update-check", "wrangler-latest.json"),
    JSON.stringify({ latest: null, lastUpdate: Date.now() }),
  );
  const vars = {
    ADMIN_TOKEN,
    ALLOW_PRIVATE_RESPONDERS: "true",
    ...options.vars,
  };
  const args = [
    "start", "--",
    "--port", String(port), "--ip", LOOPBACK,
    "--inspector-port", String(inspectorPort),
    "--persist-to", options.persistTo,
    "--show-interactive-dev-session=false",
    ...Object.entries(vars).flatMap(([k, v]) => ["--var", `${k}:${v}`]),
  ]; // prettier-ignore
  const env = childEnv({
    TMPDIR: home,
    WRANGLER_SEND_METRICS: "false",
    WRANGLER_HIDE_BANNER: "true",
    CLOUDFLARE_CF_FETCH_ENABLED: "false",
    WRANGLER_REGISTRY_PATH: join(home, "registry"),
    WRANGLER_LOG_PATH: join(home, "logs"),
    npm_config_update_notifier: "false",
    FORCE_COLOR: "0",
  });
  const proc = startProcess(options.name ?? "relay", "npm", args, {
    logDir: options.logDir,
    cwd: options.workerDir ?? REPO_ROOT,
    env,
  });
  const url = `http://${LOOPBACK}:${port}`;
  try {
    await waitFor(
      `the relay on ${url} (GET /healthz 200)`,
      async () => {
        if (proc.exited) throw new Error(`wrangler exited: ${JSON.stringify(proc.exited)}`);
        const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2_000) });
        await res.body?.cancel();
        return res.status === 200 ? true : undefined;
      },
      { timeoutMs: options.startTimeoutMs ?? 60_000, intervalMs: 300 },
    );
  } catch (e) {
    await proc.stop();
    throw new Error(`${e instanceof Error ? e.message : e}\n${proc.tail()}`);
  }
  return { url, port, process: proc, stop: () => proc.stop() };
}

/**
 * POST /admin/issuers?responder=URL with the CA's PEM; returns the JSON (expects 200/201). With
 * `leafPem` the body is the leaf followed by the CA: the relay pins the leaf and fetches its answer
 * at once (the JSON's `warmed`).
 */
export async function registerIssuer(
  relayUrl: string,
  caPem: string,
  responderUrl: string,
  { leafPem }: { leafPem?: string } = {},
): Promise<{ status: number; body: { id: string } & Record<string, unknown> }> {
  const url = `${relayUrl}/admin/issuers?responder=${encodeURIComponent(responderUrl)}`;
  assertLoopbackUrl(url);
  const res = await fetch(url, {
    method: "POST",
    headers: { Authorization: `Bearer ${ADMIN_TOKEN}`, "Content-Type": "application/x-pem-file" },
    body: (leafPem ? await readFile(leafPem, "utf8") : "") + (await readFile(caPem, "utf8")),
    signal: AbortSignal.timeout(10_000),
  });
  const body = (await res.json()) as { id: string } & Record<string, unknown>;
  if (res.status !== 201 && res.status !== 200) {
    throw new Error(`registering ${caPem} failed: HTTP ${res.status} ${JSON.stringify(body)}`);
  }
  return { status: res.status, body };
}

// ---------------------------------------------------------------------------------------------
// Clients: openssl ocsp, curl, the project's own CLI

/**
 * `openssl ocsp -issuer -cert -url -CAfile` (openssl 3.0's client always POSTs). The verdict line
 * is `<cert path>: good|revoked|unknown`; "Response verify OK" goes to stderr, both are in `output`.
 */
export async function opensslOcspClient(o: {
  url: string;
  issuer: string;
  cert: string;
  caFile: string;
  nonce?: boolean;
  extra?: string[];
}): Promise<RunResult> {
  assertLoopbackUrl(o.url);
  return openssl(
    [
      "ocsp", "-issuer", o.issuer, "-cert", o.cert, "-url", o.url, "-CAfile", o.caFile,
      "-timeout", "15", ...(o.nonce === false ? ["-no_nonce"] : []), ...(o.extra ?? []),
    ], // prettier-ignore
    { timeoutMs: 20_000 },
  );
}

export interface CurlResult {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  ms: number;
}

/** One curl exchange (never through a proxy), bounded to 15 s; header names are lowercased. */
export async function curl(url: string, args: string[], scratchDir: string): Promise<CurlResult> {
  assertLoopbackUrl(url);
  const id = `${Date.now()}-${Math.random().toString(36).slice(2)}`;
  const headerFile = join(scratchDir, `curl-${id}.headers`);
  const bodyFile = join(scratchDir, `curl-${id}.body`);
  const result = await runOk(
    "curl",
    ["-sS", "--noproxy", "*", "--max-time", "15", "-D", headerFile, "-o", bodyFile, ...args, url],
    { timeoutMs: 20_000 },
  );
  const headerText = await readFile(headerFile, "utf8");
  const lines = headerText.split(/\r?\n/);
  const status = Number(lines[0]?.split(" ")[1]);
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const at = line.indexOf(":");
    if (at > 0) headers[line.slice(0, at).trim().toLowerCase()] = line.slice(at + 1).trim();
  }
  return { status, headers, body: await readFile(bodyFile), ms: result.ms };
}

const CLI = join(REPO_ROOT, "bin", "ocsp-relay.js");

/** `ocsp-relay request --issuer --cert --url BASE`: the RFC 6960 GET URL for the certificate. */
export async function relayGetUrl(base: string, issuer: string, cert: string): Promise<string> {
  const r = await runOk(process.execPath, [
    CLI,
    "request",
    "--issuer",
    issuer,
    "--cert",
    cert,
    "--url",
    base,
  ]);
  return assertLoopbackUrl(r.stdout.trim()).toString();
}

export interface CliVerdict {
  ok: boolean;
  status?: "good" | "revoked" | "unknown";
  reason?: string;
  [field: string]: unknown;
}

/** `ocsp-relay verify --response --issuer --cert --json`: the relay's own verdict on a response. */
export async function cliVerify(
  response: string,
  issuer: string,
  cert: string,
): Promise<CliVerdict> {
  const r = await run(process.execPath, [
    CLI, "verify", "--response", response, "--issuer", issuer, "--cert", cert, "--json",
  ]); // prettier-ignore
  const last = r.stdout.trim().split("\n").at(-1) ?? "";
  try {
    return JSON.parse(last) as CliVerdict;
  } catch {
    throw new Error(`ocsp-relay verify printed no JSON (exit ${r.code}):\n${r.output}`);
  }
}

// ---------------------------------------------------------------------------------------------
// nginx with OCSP stapling through the relay

export interface Nginx {
  port: number;
  dir: string;
  process: Managed;
  stop(): Promise<void>;
}

export async function startNginx(o: {
  dir: string;
  /** Leaf followed by its issuer. */
  certChainPem: string;
  keyPem: string;
  /** Where ssl_stapling_verify looks for the responder's issuer (root + CA). */
  trustedPem: string;
  responderUrl: string;
}): Promise<Nginx> {
  assertLoopbackUrl(o.responderUrl);
  const port = await freePort();
  return startNginxServer({
    dir: o.dir,
    port,
    serverBlock: `  server {
    listen ${LOOPBACK}:${port} ssl;
    server_name localhost;
    ssl_certificate ${o.certChainPem};
    ssl_certificate_key ${o.keyPem};
    ssl_stapling on;
    ssl_stapling_verify on;
    ssl_trusted_certificate ${o.trustedPem};
    ssl_stapling_responder ${o.responderUrl};
    location / { return 200 "ok\\n"; }
  }`,
  });
}

/**
 * One `openssl s_client -status` handshake against 127.0.0.1:`port` (stdin closed at once); with
 * `caFile` the server's chain is verified too ("Verify return code: 0 (ok)").
 */
export function sClientStatus(port: number, caFile?: string): Promise<RunResult> {
  return openssl(
    [
      "s_client", "-connect", `${LOOPBACK}:${port}`, "-status", "-servername", "localhost",
      ...(caFile ? ["-CAfile", caFile] : []),
    ], // prettier-ignore
    { timeoutMs: 10_000 },
  );
}

// ---------------------------------------------------------------------------------------------
// Operator CLI (test/e2e/cli.e2e.test.ts): the CLI as an operator runs it, leaves with an AIA
// responder URL and Must-Staple, and nginx or HAProxy around a configuration the CLI printed.

/** `ocsp-relay <args>` on this Node, bounded in time (60 s); never throws for an exit code. */
export function cli(args: string[], options: RunOptions = {}): Promise<RunResult> {
  return run(process.execPath, [CLI, ...args], { timeoutMs: 60_000, ...options });
}

export interface IssuedLeafSpec {
  /** File stem: `<name>.pem`, `<name>.key`. */
  name: string;
  /** Serial in uppercase hex; makePki uses 1001 upwards, so pick another range. */
  serial: string;
  state?: "good" | "revoked" | "absent";
  /** The AIA id-ad-ocsp URL (RFC 5280 §4.2.2.1). */
  ocspUrl?: string;
  /** RFC 7633 TLS Feature status_request ("Must-Staple"). */
  mustStaple?: boolean;
  days?: number;
}

/** One more leaf from the test PKI's CA, entered in the CA's index so its responder knows it. */
export async function issueLeaf(pki: Pki, spec: IssuedLeafSpec): Promise<Leaf> {
  const p = (f: string) => join(pki.dir, f);
  const days = spec.days ?? 30;
  const state = spec.state ?? "good";
  const ext = [
    "[ext]",
    "basicConstraints = critical,CA:FALSE",
    "keyUsage = critical,digitalSignature,keyEncipherment",
    "extendedKeyUsage = serverAuth",
    "subjectAltName = DNS:localhost,IP:127.0.0.1",
    "subjectKeyIdentifier = hash",
    "authorityKeyIdentifier = keyid",
    ...(spec.ocspUrl ? [`authorityInfoAccess = OCSP;URI:${spec.ocspUrl}`] : []),
    ...(spec.mustStaple ? ["tlsfeature = status_request"] : []),
  ].join("\n");
  await writeFile(p(`${spec.name}.ext`), `${ext}\n`);
  const cn = `${spec.name}.e2e.test`;
  await runOk("openssl", [
    "req", "-new", "-newkey", "rsa:2048", "-nodes", "-config", p("openssl.cnf"),
    "-keyout", p(`${spec.name}.key`), "-out", p(`${spec.name}.csr`),
    "-subj", `/C=XX/O=ocsp-relay e2e/CN=${cn}`,
  ]); // prettier-ignore
  await runOk("openssl", [
    "x509", "-req", "-in", p(`${spec.name}.csr`), "-out", p(`${spec.name}.pem`),
    "-days", String(days), "-set_serial", `0x${spec.serial}`,
    "-extfile", p(`${spec.name}.ext`), "-extensions", "ext",
    "-CA", pki.caPem, "-CAkey", pki.caKey,
  ]); // prettier-ignore
  if (state !== "absent") {
    const now = Date.now();
    const line = [
      state === "revoked" ? "R" : "V",
      indexDate(now + days * 86_400_000),
      state === "revoked" ? `${indexDate(now - 60_000)},keyCompromise` : "",
      spec.serial,
      "unknown",
      `/C=XX/O=ocsp-relay e2e/CN=${cn}`,
    ].join("\t");
    await writeFile(pki.indexPath, `${line}\n`, { flag: "a" });
  }
  const leaf: Leaf = {
    name: spec.name,
    pem: p(`${spec.name}.pem`),
    key: p(`${spec.name}.key`),
    serial: spec.serial,
    state,
  };
  pki.leaves[spec.name] = leaf;
  return leaf;
}

export interface Server {
  port: number;
  dir: string;
  process: Managed;
  stop(): Promise<void>;
}

/**
 * nginx serving one `server { }` block given verbatim (as `ocsp-relay config nginx` prints it),
 * inside a minimal http { } block with every path under `dir`. The block must listen on
 * 127.0.0.1:`port`.
 */
export async function startNginxServer(o: {
  dir: string;
  serverBlock: string;
  port: number;
}): Promise<Server> {
  if (!new RegExp(`listen\\s+127\\.0\\.0\\.1:${o.port}\\s`).test(o.serverBlock))
    throw new Error(`the server block does not listen on 127.0.0.1:${o.port}:\n${o.serverBlock}`);
  await mkdir(o.dir, { recursive: true });
  const d = (f: string) => join(o.dir, f);
  const conf = `# generated by test/e2e/harness.ts (startNginxServer)
${process.getuid?.() === 0 ? "user root;" : ""}
worker_processes 1;
pid ${d("nginx.pid")};
error_log ${d("error.log")} info;
events { worker_connections 64; }
http {
  access_log ${d("access.log")};
  client_body_temp_path ${d("client_body")};
  proxy_temp_path ${d("proxy")};
  fastcgi_temp_path ${d("fastcgi")};
  uwsgi_temp_path ${d("uwsgi")};
  scgi_temp_path ${d("scgi")};
${o.serverBlock}
}
`;
  await writeFile(d("nginx.conf"), conf);
  const args = ["-p", o.dir, "-c", d("nginx.conf"), "-e", d("error.log"), "-g", "daemon off;"];
  await runOk("/usr/sbin/nginx", [...args, "-t"], { timeoutMs: 10_000 });
  const proc = startProcess("nginx", "/usr/sbin/nginx", args, { logDir: o.dir });
  try {
    await waitForPort(o.port, { timeoutMs: 10_000, intervalMs: 100 });
  } catch (e) {
    await proc.stop();
    throw new Error(`${e instanceof Error ? e.message : e}\n${proc.tail()}`);
  }
  return { port: o.port, dir: o.dir, process: proc, stop: () => proc.stop() };
}

export const HAPROXY = "/usr/sbin/haproxy";

/** HAProxy in the foreground on a configuration file (checked with `-c` first); must bind 127.0.0.1:`port`. */
export async function startHaproxy(o: {
  dir: string;
  configFile: string;
  port: number;
}): Promise<Server> {
  const text = await readFile(o.configFile, "utf8");
  if (!new RegExp(`bind\\s+127\\.0\\.0\\.1:${o.port}\\s`).test(text))
    throw new Error(`${o.configFile} does not bind 127.0.0.1:${o.port}`);
  await runOk(HAPROXY, ["-c", "-f", o.configFile], { timeoutMs: 10_000 });
  const proc = startProcess("haproxy", HAPROXY, ["-f", o.configFile, "-db"], { logDir: o.dir });
  try {
    await waitForPort(o.port, { timeoutMs: 10_000, intervalMs: 100 });
  } catch (e) {
    await proc.stop();
    throw new Error(`${e instanceof Error ? e.message : e}\n${proc.tail()}`);
  }
  return { port: o.port, dir: o.dir, process: proc, stop: () => proc.stop() };
}

// ---------------------------------------------------------------------------------------------
// Observability (test/e2e/observe.e2e.test.ts): a loopback receiver for the alert webhook
// (ALERT_WEBHOOK_URL), and Debian's Chromium driven by playwright-core to look at /status as an
// operator would. Must-Staple leaves come from issueLeaf above.

/** One POST the webhook receiver got. */
export interface ReceivedHook {
  /** Epoch ms when the request head arrived. */
  at: number;
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** The body parsed as JSON, or undefined when it is not JSON. */
  json: Record<string, unknown> | undefined;
}

export interface WebhookReceiver {
  port: number;
  /** http://127.0.0.1:<port><path> */
  url(path?: string): string;
  /** Every request received, in order of arrival. */
  readonly received: readonly ReceivedHook[];
  /** Each answer waits this long first (default 0): a slow webhook. */
  delayMs: number;
  /** HTTP status of the answers (default 204). */
  status: number;
  /** The alerts (JSON bodies) of a kind, in order. */
  alerts(kind: string): Record<string, unknown>[];
  close(): Promise<void>;
}

/** An HTTP server on 127.0.0.1 recording every request (bodies capped at 64 KiB). */
export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const received: ReceivedHook[] = [];
  const server = http.createServer(async (req, res) => {
    const at = Date.now();
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size <= 65_536) chunks.push(chunk);
    }
    const body = Buffer.concat(chunks).toString("utf8");
    let json: Record<string, unknown> | undefined;
    try {
      const parsed: unknown = JSON.parse(body);
      if (parsed && typeof parsed === "object") json = parsed as Record<string, unknown>;
    } catch {
      json = undefined;
    }
    received.push({
      at,
      method: req.method ?? "",
      path: req.url ?? "",
      headers: req.headers,
      body,
      json,
    });
    if (receiver.delayMs > 0) await sleep(Math.min(receiver.delayMs, 30_000));
    res.writeHead(receiver.status, { Connection: "close" });
    res.end();
  });
  server.keepAliveTimeout = 1;
  server.listen(0, LOOPBACK);
  await once(server, "listening");
  const { port } = server.address() as net.AddressInfo;
  const receiver: WebhookReceiver = {
    port,
    url: (path = "/") => `http://${LOOPBACK}:${port}${path}`,
    received,
    delayMs: 0,
    status: 204,
    alerts: (kind) => received.flatMap((r) => (r.json && r.json.kind === kind ? [r.json] : [])),
    async close() {
      server.closeAllConnections();
      await new Promise<void>((done) => server.close(() => done()));
    },
  };
  return receiver;
}

export const CHROMIUM = "/usr/bin/chromium";

/**
 * Debian's Chromium, headless, through playwright-core, with a fresh profile in `userDataDir` and
 * nothing of its own on the network (no background services, no proxy); any request of a page to
 * a host other than 127.0.0.1 is aborted. Close the returned context to end the browser.
 */
export async function launchChromium(
  userDataDir: string,
): Promise<import("playwright-core").BrowserContext> {
  const { chromium } = await import("playwright-core");
  await mkdir(userDataDir, { recursive: true });
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    timeout: 30_000,
    viewport: { width: 1400, height: 900 },
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-proxy-server",
    ],
  });
  context.setDefaultTimeout(15_000);
  await context.route("**/*", (route) => {
    const url = new URL(route.request().url());
    return url.protocol === "http:" && url.hostname === LOOPBACK ? route.continue() : route.abort();
  });
  return context;
}
