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
// Every process is started in its own process group (scripts/support/processes.ts) and killed at
// the end, on failure, on Ctrl-C, and when the run exceeds its time limit.
//
// main() below is the order of the measures; each one is a file in measures/.

import { rmSync } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import { join } from "node:path";
import {
  abortOnSignalOrTimeout,
  killAllNow,
  stopAll,
  unexpectedExits,
} from "../support/processes.ts";
import { registerIssuer } from "../support/relay.ts";
import { log, T0, type Bench } from "./context.ts";
import { Load } from "./load.ts";
import { measureFanin } from "./measures/fanin.ts";
import { measureHits } from "./measures/hits.ts";
import { measureInstructions } from "./measures/instructions.ts";
import { MemoryProbe } from "./measures/memory.ts";
import { profileWhenSlow } from "./measures/cpu-profile.ts";
import { measureScaling } from "./measures/scaling.ts";
import { warmCertificates } from "./measures/warm.ts";
import { NETNS_ENV, reexecInNetns } from "./netns.ts";
import { parseOptions, type Options } from "./options.ts";
import { startPeers } from "./peers.ts";
import type { BenchResults, CostRow } from "./report.ts";
import { contention, methodNotes, settingsOf, writeResults } from "./results.ts";
import { prepare } from "./setup.ts";
import { relayVars, startWorkerd } from "./workerd.ts";

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const o = parseOptions(argv);
  if (o.netns && !process.env[NETNS_ENV]) {
    const code = await reexecInNetns();
    if (code !== undefined) process.exit(code);
  }
  const inNetns = process.env[NETNS_ENV];
  const { b, finish } = await begin(o);
  try {
    // --- Preparation: the bundle, the CA and its nginx front, the relay's variables ------------
    const prep = await prepare(b);
    const peers = await startPeers(b, prep.ca, prep.reqs[prep.reqs.length - 1]!.path);
    const relay = relayVars(b.notes);
    const load = new Load(o);

    // --- 2. Fan-in, on a fresh workerd with empty state ---------------------------------------
    const fanin = await measureFanin(b, prep, peers, relay);

    // --- 1. Cache hits: relay vs floor vs nginx, on the main workerd ----------------------------
    log("main workerd: relay + floor, with the inspector on loopback (attached only between runs)");
    const w = await startWorkerd(b, "workerd", prep.bundle, relay.vars, true);
    await registerIssuer(w.url, prep.ca.caPem, peers.caFront, { token: relay.token });
    const memory = new MemoryProbe(w, b.notes);
    const hitReq = prep.reqs[0]!;
    const hits = await measureHits(b, w, load, peers, hitReq, memory);

    // --- 5 (preparation). Warm N certificates: one miss each, then one hit each ----------------
    const warmed = await warmCertificates(b, w, prep.reqs, memory);

    // --- 5. Scaling, then where the time goes ----------------------------------------------------
    const scaling = await measureScaling(b, w, load, prep.reqs, hits.hasOps);
    const hitUrl = `${w.url}${hitReq.path}`;
    const profiles = await profileWhenSlow(b, w, load, prep.bundle, hitUrl, hits, scaling);

    // --- 4. Memory at the end --------------------------------------------------------------------
    await memory.end();
    await w.service.stop();

    // --- 1b. Instructions per hit (callgrind), on a workerd of their own -------------------------
    const instructions = await measureInstructions(b, prep, relay, peers.caFront, hitReq.path);

    // --- The report ------------------------------------------------------------------------------
    const { machine } = prep;
    machine["load average at end"] = os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(" ");
    const others = contention(load, machine, b.notes);
    methodNotes(b, inNetns, warmed.cpuMsEach);
    const rows = [hits.cost, warmed.cost, fanin.cost].filter((r): r is CostRow => r !== undefined);
    const results: BenchResults = {
      startedAt: new Date(T0).toISOString(),
      command: commandLine(argv),
      quick: o.quick,
      elapsedS: 0,
      machine,
      settings: settingsOf(b, scaling.sets, inNetns),
      hit: {
        answerBytes: hits.answer.length,
        nginxBytes: hits.nginxBytes,
        ...hits.series,
      },
      fanin: fanin.fanin,
      cost: { sharedIsolate: warmed.sharedIsolate, rows },
      memory: memory.results(prep.reqs.length, hits.answer.length),
      warm: warmed.warm,
      scaling: scaling.scaling,
      instructions,
      ...profiles,
      contention: others,
      notes: [...b.notes],
    };
    await stopAll();
    results.elapsedS = (Date.now() - T0) / 1000;
    finish();
    await writeResults(b, results);
    if (!o.keep) await rm(b.tmp, { recursive: true, force: true });
  } catch (e) {
    if (!finish()) return;
    const dead = unexpectedExits();
    const message =
      (dead.length ? `${dead.join(", ")} exited during the run; ` : "") +
      (e instanceof Error ? e.message : String(e));
    log(`failed: ${message}`);
    await stopAll().catch(() => undefined);
    killAllNow();
    if (o.keep) log(`logs kept in ${b.logDir}`);
    else await rm(b.tmp, { recursive: true, force: true }).catch(() => undefined);
    process.stdout.write(`${JSON.stringify({ ok: false, error: message.split("\n")[0] })}\n`);
    process.exitCode = 1;
  }
}

/** How this run was invoked, as the report shows it. */
function commandLine(argv: string[]): string {
  return process.env["npm_lifecycle_event"] === "bench"
    ? `npm run bench${argv.length ? ` -- ${argv.join(" ")}` : ""}`
    : `tsx scripts/bench/run.ts ${argv.join(" ")}`.trim();
}

/**
 * The run's scratch space, and its hard stops: Ctrl-C, SIGTERM, SIGHUP and --max-seconds kill
 * every process group at once and print a failed JSON line. `finish()` disarms them; it returns
 * false when the run had already ended.
 */
async function begin(o: Options): Promise<{ b: Bench; finish: () => boolean }> {
  const tmp = await mkdtemp(join(os.tmpdir(), "ocsp-relay-bench-"));
  const logDir = join(tmp, "logs");
  await mkdir(logDir, { recursive: true });
  const b: Bench = { o, tmp, logDir, notes: new Set(), deadline: T0 + o.maxSeconds * 1000 };
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
  const disarm = abortOnSignalOrTimeout(abort, o.maxSeconds);
  const finish = () => {
    if (finished) return false;
    finished = true;
    disarm();
    return true;
  };
  return { b, finish };
}

await main();
