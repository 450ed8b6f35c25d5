// CPU instructions per request (README "Performance", full runs): valgrind's callgrind counts them
// for the relay and both floors on a workerd of their own; a figure that does not move with the
// machine's load, where requests/s drift by +-20 % from one run to the next.

import { readdir, readFile, rm, mkdir } from "node:fs/promises";
import { Agent, get as httpGet } from "node:http";
import { join } from "node:path";
import { assertLoopbackUrl } from "../../support/loopback.ts";
import { runOk, which } from "../../support/processes.ts";
import { registerIssuer } from "../../support/relay.ts";
import { log, type Bench } from "../context.ts";
import { pool } from "../load.ts";
import { parseCallgrindTotal, type BenchResults } from "../report.ts";
import type { Prepared } from "../setup.ts";
import { prepareHit, startWorkerd, type RelayVars } from "../workerd.ts";

/** The counts, or null (with a note) when not asked for or valgrind is missing. */
export async function measureInstructions(
  b: Bench,
  prep: Prepared,
  relay: RelayVars,
  caFront: string,
  path: string,
): Promise<BenchResults["instructions"]> {
  if (!b.o.instructions) return null;
  if (!which("valgrind") || !which("callgrind_control")) {
    b.notes.add("instruction counts skipped: valgrind is not installed (apt-get install valgrind)");
    return null;
  }
  return countInstructions(b, prep, relay, caFront, path);
}

/**
 * CPU instructions per hit for the relay and both floors, counted by valgrind's callgrind on a
 * workerd of their own (the same config). Unlike requests/s, the count does not depend on what
 * else the machine is doing, so it shows the relay's cost against the floor's to a few percent.
 * V8 compiles on the main thread there (--no-concurrent-recompilation): under valgrind its
 * background compile threads would leave hot code interpreted for longer.
 */
async function countInstructions(
  b: Bench,
  prep: Prepared,
  relay: RelayVars,
  caFront: string,
  path: string,
): Promise<NonNullable<BenchResults["instructions"]>> {
  const dumps = join(b.tmp, "callgrind");
  await mkdir(dumps, { recursive: true });
  log("instructions: workerd under valgrind --tool=callgrind (it takes a minute to start)");
  const started = Date.now();
  const vw = await startWorkerd(b, "workerd-callgrind", prep.bundle, relay.vars, false, {
    wrap: {
        cmd: "valgrind",
        args: ["--tool=callgrind", "--smc-check=all-non-file", `--callgrind-out-file=${join(dumps, "out")}`],
      }, // prettier-ignore
    v8Flags: ["--no-concurrent-recompilation"],
    startTimeoutMs: 300_000,
  });
  await registerIssuer(vw.url, prep.ca.caPem, caFront, { token: relay.token });
  await prepareHit(vw, path);
  const n = b.o.instructionRequests;
  // node:http with keep-alive sends Host and Connection only, as wrk and nginx's stapling requests
  // do (fetch would add six more headers, which the relay's If-None-Match check copies).
  const agent = new Agent({ keepAlive: true, maxSockets: 8 });
  const get = (url: string) =>
    new Promise<void>((resolve, reject) => {
      assertLoopbackUrl(url);
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
    relay: `${vw.url}${path}`,
    floor: `${vw.floorUrl}${path}`,
    floorHeaders: `${vw.floorHeadersUrl}${path}`,
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
