// `npx tsx scripts/hostile/heap.ts [--requests 6000] [--worker-dir DIR]`: the relay isolate's live
// JS heap after a full garbage collection, before and after N GETs (RFC 6960 Appendix A.1) for ONE
// certificate, each carrying a different random nonce (RFC 8954) padded so that its URL is ~13 KB.
// The relay ignores the nonce (RFC 5019 §2.1.2) and serves every one the cached answer; what such
// traffic may cost is the memory the relay keeps per distinct URL (issue 16, item 2).
//
// It reuses the benchmark's machinery (scripts/bench): the worker bundled as deployed on plain
// `workerd serve` with the inspector on loopback (heap after gc()), the CA as `openssl ocsp` behind
// nginx (its access log counts CA fetches), BENCH_MODE's operation counts. Everything it starts is
// stopped at the end, on failure, on Ctrl-C and at --max-seconds; every loop is bounded.
// Progress goes to stderr; stdout gets one human line, then one JSON line.

import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import { join, resolve } from "node:path";
import { bytesEqual, toBase64 } from "../../src/ocsp/bytes.ts";
import {
  decodeRequest,
  encodeRequest,
  MAX_GET_PATH_CHARS,
  MAX_REQUEST_BYTES,
  type CertId,
} from "../../src/ocsp/request.ts";
import { decodeResponse } from "../../src/ocsp/response.ts";
import type { Bench } from "../bench/context.ts";
import { bodyOf, pool } from "../bench/load.ts";
import { int, parseOptions } from "../bench/options.ts";
import { startPeers } from "../bench/peers.ts";
import { memoryOf } from "../bench/proc-stats.ts";
import { diffOps, type Ops } from "../bench/report.ts";
import { buildRequests, bundleWorker, makeCa } from "../bench/setup.ts";
import { heapAfterGc, readOps, relayVars, startWorkerd, type Workerd } from "../bench/workerd.ts";
import { loopbackFetch as http } from "../support/loopback.ts";
import {
  abortOnSignalOrTimeout,
  killAllNow,
  REPO_ROOT,
  run,
  stopAll,
  unexpectedExits,
} from "../support/processes.ts";
import { registerIssuer } from "../support/relay.ts";

const T0 = Date.now();
const MIB = 1024 * 1024;
/** The one certificate asked about (listed `good` in the CA's index). */
const SERIAL = 0x100001;
/** Each GET is bounded to this long. */
const REQUEST_TIMEOUT_MS = 10_000;
/** Kept back from --max-seconds for the last heap measurement and stopping everything. */
const RESERVE_MS = 45_000;

interface HeapOptions {
  requests: number;
  concurrency: number;
  /** Target length of each GET path (`/` + percent-encoded base64 of the DER request). */
  pathChars: number;
  workerDir: string;
  maxSeconds: number;
  keep: boolean;
}

const USAGE = `usage: npx tsx scripts/hostile/heap.ts [options]
  --requests N        padded GETs for the one certificate (6000)
  --concurrency N     GETs in flight at once (4)
  --path-chars N      length of each GET path, nonce included (13000)
  --worker-dir DIR    bundle the worker from DIR (e.g. a git worktree) instead of this checkout
  --max-seconds S     hard time limit (600)
  --keep              keep the temporary directory (configs, logs)`;

function parseHeapOptions(argv: string[]): HeapOptions {
  const o: HeapOptions = {
    requests: 6000,
    concurrency: 4,
    pathChars: 13_000,
    workerDir: REPO_ROOT,
    maxSeconds: 600,
    keep: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const v = () => argv[++i];
    switch (a) {
      case "--requests": o.requests = int(a, v(), 1, 100_000); break; // prettier-ignore
      case "--concurrency": o.concurrency = int(a, v(), 1, 64); break; // prettier-ignore
      case "--path-chars": o.pathChars = int(a, v(), 200, MAX_GET_PATH_CHARS); break; // prettier-ignore
      case "--max-seconds": o.maxSeconds = int(a, v(), 60, 3600); break; // prettier-ignore
      case "--keep": o.keep = true; break; // prettier-ignore
      case "--worker-dir": {
        const dir = v();
        if (!dir) throw new Error("--worker-dir takes a directory");
        o.workerDir = resolve(dir);
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
  return o;
}

function log(message: string): void {
  const s = ((Date.now() - T0) / 1000).toFixed(1).padStart(6);
  process.stderr.write(`[hostile:heap ${s}s] ${message}\n`);
}

/** A GET path for `certId` with `nonce`, as the relay's own clients write it (RFC 6960 A.1). */
function getPath(certId: CertId, nonce: Uint8Array): string {
  return `/${encodeURIComponent(toBase64(encodeRequest(certId, nonce)))}`;
}

/**
 * The longest nonce whose GET path is at most `pathChars` for one random sample, the request staying
 * within the relay's MAX_REQUEST_BYTES (found by bisection). Percent-escapes of `+`, `/` and `=`
 * make each request's length vary a little with its nonce's bytes (about ±1 %): the result reports
 * the lengths sent.
 */
function nonceLengthFor(certId: CertId, pathChars: number): number {
  const sample = randomBytes(MAX_REQUEST_BYTES);
  const fits = (n: number) => {
    const nonce = sample.subarray(0, n);
    return (
      encodeRequest(certId, nonce).length <= MAX_REQUEST_BYTES &&
      getPath(certId, nonce).length <= pathChars
    );
  };
  if (!fits(1)) throw new Error(`--path-chars ${pathChars} leaves no room for a nonce`);
  let lo = 1;
  let hi = MAX_REQUEST_BYTES;
  for (let step = 0; step < 32 && lo < hi; step++) {
    const mid = Math.ceil((lo + hi) / 2);
    if (fits(mid)) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** What came back, counted: HTTP status, X-Cache (src/http/ocsp-headers.ts), OCSP responseStatus. */
class Tally {
  count = 0;
  readonly http: Record<string, number> = {};
  readonly xCache: Record<string, number> = {};
  readonly ocsp: Record<string, number> = {};
  /** Answers byte for byte the warm answer: the nonce was ignored, the cached answer served. */
  sameAnswer = 0;
  private pathSum = 0;
  pathMin = Infinity;
  pathMax = 0;

  add(res: Response, body: Uint8Array, pathChars: number, warmAnswer: Uint8Array): void {
    const inc = (m: Record<string, number>, k: string) => (m[k] = (m[k] ?? 0) + 1);
    this.count++;
    inc(this.http, String(res.status));
    inc(this.xCache, res.headers.get("X-Cache") ?? "none");
    const decoded = decodeResponse(body);
    inc(this.ocsp, decoded.ok ? decoded.value.status : "undecodable");
    if (bytesEqual(body, warmAnswer)) this.sameAnswer++;
    this.pathSum += pathChars;
    this.pathMin = Math.min(this.pathMin, pathChars);
    this.pathMax = Math.max(this.pathMax, pathChars);
  }

  pathMean(): number {
    return this.count ? Math.round(this.pathSum / this.count) : 0;
  }
}

/** One GET, its body read whole; throws unless it answers HTTP 200 with `xCache`. */
async function expectAnswer(w: Workerd, path: string, xCache: string): Promise<Uint8Array> {
  const res = await http(`${w.url}${path}`, {}, REQUEST_TIMEOUT_MS);
  const body = await bodyOf(res);
  const got = res.headers.get("X-Cache");
  if (res.status !== 200 || got !== xCache)
    throw new Error(`expected HTTP 200 X-Cache ${xCache}, got HTTP ${res.status} X-Cache ${got}`);
  return body;
}

async function heapMiB(w: Workerd, notes: Set<string>): Promise<number> {
  const bytes = await heapAfterGc(w, notes);
  if (bytes === null) throw new Error([...notes].find((n) => n.startsWith("JS heap")) ?? "no heap");
  return bytes / MIB;
}

/** `DIR @ <short commit>`, `+dirty` when its worker sources differ from that commit. */
async function describeWorker(dir: string): Promise<string> {
  const head = await run("git", ["-C", dir, "rev-parse", "--short", "HEAD"], { timeoutMs: 10_000 });
  if (head.code !== 0) return dir;
  const dirty = await run(
    "git",
    ["-C", dir, "status", "--porcelain", "--", "src", "wrangler.toml"],
    {
      timeoutMs: 10_000,
    },
  );
  return `${dir} @ ${head.stdout.trim()}${dirty.stdout.trim() ? "+dirty" : ""}`;
}

interface Measured {
  ok: true;
  requests: number;
  /** False when --max-seconds stopped the GETs early. */
  complete: boolean;
  statuses: {
    http: Record<string, number>;
    xCache: Record<string, number>;
    ocsp: Record<string, number>;
  };
  heapBeforeMiB: number;
  heapAfterMiB: number;
  growthMiB: number;
  perThousandMiB: number;
  pathChars: { min: number; mean: number; max: number };
  nonceBytes: number;
  sameAnswer: number;
  caFetches: number;
  ops: Ops | null;
  rssBeforeMiB: number;
  rssAfterMiB: number;
  seconds: number;
  concurrency: number;
  worker: string;
  notes: string[];
}

async function measure(b: Bench, o: HeapOptions): Promise<Measured> {
  const { notes } = b;
  const worker = await describeWorker(o.workerDir);
  log(`bundling ${worker}; temporary directory ${b.tmp}${o.keep ? " (kept)" : ""}`);
  const [bundle, ca] = await Promise.all([
    bundleWorker(o.workerDir, b.tmp),
    makeCa(join(b.tmp, "ca"), [SERIAL]),
  ]);
  const [plain] = await buildRequests(ca.pem, [SERIAL]);
  const request = decodeRequest(plain!.der);
  if (!request.ok) throw new Error(`the plain request does not decode: ${request.error.detail}`);
  const certId = request.value.certIds[0]!;
  const nonceBytes = nonceLengthFor(certId, o.pathChars);

  const peers = await startPeers(b, ca, plain!.path);
  // The benchmark's relay variables (ADMIN_TOKEN, ALLOW_PRIVATE_RESPONDERS, BENCH_MODE); its note
  // about the upstream budget concerns warming many certificates, not this one.
  const relay = relayVars(new Set());
  const w = await startWorkerd(b, "workerd", bundle, relay.vars, true);
  await registerIssuer(w.url, ca.caPem, peers.caFront, { token: relay.token });
  log(`relay on ${w.url}; issuer registered; CA ${peers.caFront}`);

  // Warm: the certificate's first GET is a miss (one CA fetch), the next one a hit.
  await expectAnswer(w, plain!.path, "MISS");
  const warmAnswer = await expectAnswer(w, plain!.path, "HIT");
  const heapBeforeMiB = await heapMiB(w, notes);
  const rssBeforeMiB = memoryOf(w.service.pid).rssKiB / 1024;
  log(`warm (${warmAnswer.length}-byte answer); heap after gc ${heapBeforeMiB.toFixed(2)} MiB`);

  const opsBefore = await readOps(w.url, notes);
  const caLog = peers.caLogSize();
  const tally = new Tally();
  const sendUntil = b.deadline - RESERVE_MS;
  log(
    `${o.requests} GETs, each with its own ${nonceBytes}-byte random nonce (~${o.pathChars}-character path), ${o.concurrency} at a time`,
  );
  const started = Date.now();
  let complete = true;
  try {
    await pool(Array.from({ length: o.requests }), o.concurrency, sendUntil, async (_, i) => {
      const path = getPath(certId, randomBytes(nonceBytes));
      const res = await http(`${w.url}${path}`, {}, REQUEST_TIMEOUT_MS);
      tally.add(res, await bodyOf(res), path.length, warmAnswer);
      if ((i + 1) % 1000 === 0) log(`  ${i + 1} sent`);
    });
  } catch (e) {
    if (!(e instanceof Error && e.message.startsWith("time budget exceeded"))) throw e;
    complete = false;
    notes.add(`--max-seconds stopped the GETs after ${tally.count} of ${o.requests}`);
  }
  const seconds = (Date.now() - started) / 1000;
  const opsAfter = await readOps(w.url, notes);
  const caFetches = (await peers.caFetchesSince(caLog)).length;
  const heapAfterMiB = await heapMiB(w, notes);
  const rssAfterMiB = memoryOf(w.service.pid).rssKiB / 1024;
  const growthMiB = heapAfterMiB - heapBeforeMiB;
  const r2 = (x: number) => Math.round(x * 100) / 100;
  return {
    ok: true,
    requests: tally.count,
    complete,
    statuses: { http: tally.http, xCache: tally.xCache, ocsp: tally.ocsp },
    heapBeforeMiB: r2(heapBeforeMiB),
    heapAfterMiB: r2(heapAfterMiB),
    growthMiB: r2(growthMiB),
    perThousandMiB: r2((growthMiB * 1000) / Math.max(1, tally.count)),
    pathChars: { min: tally.pathMin, mean: tally.pathMean(), max: tally.pathMax },
    nonceBytes,
    sameAnswer: tally.sameAnswer,
    caFetches,
    ops: opsBefore && opsAfter ? diffOps(opsBefore, opsAfter) : null,
    rssBeforeMiB: r2(rssBeforeMiB),
    rssAfterMiB: r2(rssAfterMiB),
    seconds: r2(seconds),
    concurrency: o.concurrency,
    worker,
    notes: [...notes],
  };
}

function humanLine(m: Measured): string {
  const counts = (label: string, c: Record<string, number>) =>
    `${label} ${Object.entries(c)
      .map(([k, n]) => `${k}×${n}`)
      .join(" ")}`;
  return (
    `${m.requests} GETs for one certificate, each with its own nonce (paths ~${m.pathChars.mean} characters), ` +
    `in ${m.seconds} s from ${m.worker}: ${counts("HTTP", m.statuses.http)}; ` +
    `${counts("X-Cache", m.statuses.xCache)}; ${counts("OCSP", m.statuses.ocsp)}; ` +
    `${m.sameAnswer} the warm answer byte for byte; ${m.caFetches} CA fetches. ` +
    `Relay isolate's live JS heap after a full GC: ${m.heapBeforeMiB} -> ${m.heapAfterMiB} MiB ` +
    `(${m.growthMiB >= 0 ? "+" : ""}${m.growthMiB} MiB, ${m.perThousandMiB} MiB per 1000 GETs); ` +
    `workerd RSS ${m.rssBeforeMiB} -> ${m.rssAfterMiB} MiB.`
  );
}

async function main(): Promise<void> {
  const o = parseHeapOptions(process.argv.slice(2));
  const tmp = await mkdtemp(join(os.tmpdir(), "ocsp-relay-heap-"));
  const logDir = join(tmp, "logs");
  await mkdir(logDir, { recursive: true });
  // The benchmark's options where its helpers read them (nginx's workers, the bundle's source).
  const benchOptions = { ...parseOptions([]), workerDir: o.workerDir, nginxWorkers: 1 };
  const b: Bench = {
    o: { ...benchOptions, maxSeconds: o.maxSeconds },
    tmp,
    logDir,
    notes: new Set(),
    deadline: T0 + o.maxSeconds * 1000,
  };
  const removeTmp = () => (o.keep ? undefined : rm(tmp, { recursive: true, force: true }));
  // Hard stops: Ctrl-C, SIGTERM, SIGHUP and --max-seconds kill every process group started here.
  let finished = false;
  const abort = (why: string, code: number) => {
    if (finished) return;
    finished = true;
    log(`${why}: stopping everything`);
    killAllNow();
    process.stdout.write(`${JSON.stringify({ ok: false, error: why })}\n`);
    void Promise.resolve(removeTmp()).finally(() => process.exit(code));
  };
  const disarm = abortOnSignalOrTimeout(abort, o.maxSeconds);
  try {
    const m = await measure(b, o);
    if (finished) return;
    process.stdout.write(`${humanLine(m)}\n${JSON.stringify(m)}\n`);
  } catch (e) {
    if (finished) return;
    const dead = unexpectedExits();
    const message =
      (dead.length ? `${dead.join(", ")} exited during the run; ` : "") +
      (e instanceof Error ? e.message : String(e));
    log(`failed: ${message}`);
    if (o.keep) log(`logs kept in ${logDir}`);
    process.stdout.write(`${JSON.stringify({ ok: false, error: message.split("\n")[0] })}\n`);
    process.exitCode = 1;
  } finally {
    if (!finished) {
      finished = true;
      disarm();
      await stopAll().catch(() => undefined);
      killAllNow();
      await removeTmp()?.catch(() => undefined);
    }
  }
}

await main();
