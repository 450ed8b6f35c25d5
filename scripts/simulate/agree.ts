// The simulator checked against the real worker: one short scenario (an issuer registered, 8
// certificates pinned, each asked for three times by nginx-style GETs, a few made-up serials) run
// through the simulator's stand-ins and through the worker bundled as deployed on plain workerd
// (BENCH_MODE's operation counts, which the worker counts where each operation happens). The same
// CA answers both (over loopback for workerd). Every count must be equal.
//
//   npx tsx scripts/simulate/agree.ts      (also run by test/e2e/simulate.e2e.test.ts)

import { createServer, type Server } from "node:http";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { readFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import type { Bench } from "../bench/context.ts";
import { parseOptions } from "../bench/options.ts";
import { diffOps, type Ops } from "../bench/report.ts";
import { bundleWorker } from "../bench/setup.ts";
import { readOps, startWorkerd } from "../bench/workerd.ts";
import { parseWranglerToml } from "../bench/wrangler-toml.ts";
import { LOOPBACK, loopbackFetch } from "../support/loopback.ts";
import { stopAll } from "../support/processes.ts";
import { loadWorker } from "./bundle.ts";
import { simCa, type SimCa } from "./ca.ts";
import { Clock, seeded, takeOverTime } from "./clock.ts";
import { START } from "./simulate.ts";
import { World } from "./world.ts";

const TOKEN = "agree-admin-token";
const CERTS = 8;
const ASKS = 3;
const GUESSES = 3;
const VARS = {
  BENCH_MODE: "true",
  ALLOW_PRIVATE_RESPONDERS: "true",
  ADMIN_TOKEN: TOKEN,
  METRICS_SAMPLE: "1",
};

/** What both runs count, by name. */
export type Counts = Record<string, number>;

type Send = (request: Request) => Promise<Response>;

/** The scenario, against either relay. */
async function scenario(send: Send, ca: SimCa, responder: string, origin: string): Promise<void> {
  const admin = async (path: string, body: string) => {
    const res = await send(
      new Request(origin + path, {
        method: "POST",
        headers: { Authorization: `Bearer ${TOKEN}`, "Content-Type": "application/x-pem-file" },
        body,
      }),
    );
    if (res.status >= 300) throw new Error(`POST ${path}: ${res.status} ${await res.text()}`);
    await res.arrayBuffer();
  };
  await admin(`/admin/issuers?responder=${encodeURIComponent(responder)}`, ca.pem);
  const serials = Array.from({ length: CERTS }, (_, i) => 0x5000 + i);
  const now = ca.now();
  const leaves = await Promise.all(
    serials.map((s) => ca.leaf(s, now - 86_400_000, now + 90 * 86_400_000)),
  );
  await admin("/admin/certificates", leaves.join(""));
  for (let round = 0; round < ASKS; round++)
    for (const serial of serials) {
      const res = await send(new Request(origin + (await ca.getPath(serial))));
      if (res.status !== 200) throw new Error(`GET for ${serial}: ${res.status}`);
      await res.arrayBuffer();
    }
  for (let i = 0; i < GUESSES; i++)
    await (await send(new Request(origin + (await ca.getPath(0x7777_0000 + i))))).arrayBuffer();
}

/** The counts the simulator's stand-ins make of the scenario. */
export async function simulated(src = "."): Promise<Counts> {
  const clock = new Clock(START);
  const random = seeded(7);
  const restore = takeOverTime(clock, random);
  try {
    const mod = await loadWorker(join(src, "src"));
    const ca = await simCa({ windowMs: 7 * 86_400_000, now: () => clock.now });
    const restorePlatform = mod.useDurableObjectPlatform({
      now: () => clock.now,
      random,
      fetch: ca.fetch,
    });
    try {
      const wrangler = parseWranglerToml(readFileSync(join(src, "wrangler.toml"), "utf8"));
      const world = new World(mod, clock, random, {
        locations: 1,
        isolatesPerLocation: 1,
        isolateIdleMs: Infinity,
        isolateLifeMs: Infinity,
        cacheApi: "noop", // plain workerd has no cache service: calls made, nothing kept
        vars: { ...wrangler.vars, ...VARS },
        durableObjects: wrangler.durableObjects,
      });
      const quiet = console.log;
      console.log = () => undefined;
      try {
        await scenario(
          async (r) => {
            const res = await world.request(0, r);
            await clock.settle();
            return res;
          },
          ca,
          "http://127.0.0.1:9/",
          "http://relay.sim.example",
        );
        await clock.settle();
      } finally {
        console.log = quiet;
      }
      const b = world.bill;
      return {
        caRequests: ca.requests,
        kvReads: b.kvReads,
        kvWrites: b.kvWrites,
        cacheReads: b.cacheReads,
        cacheWrites: b.cacheWrites,
        touches: b.doCalls["CertOwner.touch"] ?? 0,
        ledgerFlushes: b.doCalls["FleetLedger.addCounters"] ?? 0,
        ownerWrites: b.rowsWritten.CertOwner ?? 0,
      };
    } finally {
      restorePlatform();
    }
  } finally {
    restore();
  }
}

/** The same scenario on the worker bundled as deployed, on plain workerd. */
export async function onWorkerd(src = "."): Promise<Counts> {
  const tmp = await mkdtemp(join(os.tmpdir(), "ocsp-relay-agree-"));
  const logDir = join(tmp, "logs");
  await mkdir(logDir, { recursive: true });
  const b: Bench = {
    o: { ...parseOptions([]), workerDir: src, nginxWorkers: 1, maxSeconds: 300 },
    tmp,
    logDir,
    notes: new Set(),
    deadline: Date.now() + 300_000,
  };
  const ca = await simCa({ windowMs: 7 * 86_400_000, now: () => Date.now() });
  let server: Server | undefined;
  try {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const body = chunks.length ? Buffer.concat(chunks) : undefined;
        void ca
          .fetch(`http://${LOOPBACK}${req.url}`, { method: req.method, ...(body ? { body } : {}) })
          .then(async (answer) => {
            res.writeHead(answer.status, { "Content-Type": "application/ocsp-response" });
            res.end(Buffer.from(await answer.arrayBuffer()));
          });
      });
    });
    await new Promise<void>((ok) => server!.listen(0, LOOPBACK, ok));
    const port = (server.address() as { port: number }).port;
    const bundle = await bundleWorker(src, tmp);
    const w = await startWorkerd(b, "agree", bundle, VARS, false);
    const before = await readOps(w.url, b.notes);
    await scenario(
      (r) =>
        loopbackFetch(
          r.url.replace("http://relay.sim.example", w.url),
          {
            method: r.method,
            headers: r.headers,
            ...(r.method === "POST" ? { body: r.body, duplex: "half" } : {}),
          } as RequestInit,
          10_000,
        ),
      ca,
      `http://${LOOPBACK}:${port}/`,
      "http://relay.sim.example",
    );
    // Work after the responses (KV writes, touches, the flush) lands within a moment.
    await new Promise((r) => setTimeout(r, 1500));
    const after = await readOps(w.url, b.notes);
    if (!before || !after) throw new Error(`no operation counts: ${[...b.notes].join(" ")}`);
    const d: Ops = diffOps(before, after);
    return {
      caRequests: ca.requests,
      kvReads: d.kvReads,
      kvWrites: d.kvWrites,
      cacheReads: d.cacheReads,
      cacheWrites: d.cacheWrites,
      touches: d.touches,
      ledgerFlushes: d.ledgerFlushes,
      ownerWrites: d.ownerWrites,
    };
  } finally {
    server?.close();
    await stopAll().catch(() => undefined);
    await rm(tmp, { recursive: true, force: true });
  }
}

/** Both runs side by side: a markdown table, and whether every count agrees. */
export async function agree(
  src = ".",
): Promise<{ table: string; agree: boolean; sim: Counts; workerd: Counts }> {
  const sim = await simulated(src);
  const workerd = await onWorkerd(src);
  const rows = ["| count | simulator | workerd | |", "| --- | ---: | ---: | --- |"];
  let all = true;
  for (const k of Object.keys(sim)) {
    const same = sim[k] === workerd[k];
    all &&= same;
    rows.push(`| ${k} | ${sim[k]} | ${workerd[k]} | ${same ? "=" : "DIFFERENT"} |`);
  }
  return { table: rows.join("\n"), agree: all, sim, workerd };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = await agree(process.argv[2] ?? ".");
  console.log(r.table);
  console.log(JSON.stringify({ agree: r.agree, simulator: r.sim, workerd: r.workerd }));
  process.exit(r.agree ? 0 : 1);
}
