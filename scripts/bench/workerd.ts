// The relay as the benchmark measures it: the bundle on plain `workerd serve` (configs.ts
// workerdConfig) next to the two floors, a hit prepared on all three, the relay's own operation
// counts (BENCH_MODE's /__bench routes), and its isolate's JS heap through the inspector.

import { randomBytes } from "node:crypto";
import { copyFile, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  freePort,
  LOOPBACK,
  loopbackFetch as http,
  waitFor,
  waitForPort,
} from "../support/loopback.ts";
import { startProcess, type Managed } from "../support/processes.ts";
import { floorWorkerSource, kvWorkerSource, workerdConfig } from "./configs.ts";
import type { Bench } from "./context.ts";
import { Inspector } from "./inspector.ts";
import { bodyOf } from "./load.ts";
import { parseOps, type Ops } from "./report.ts";
import { workerdBinary, type Bundle } from "./setup.ts";

export interface Workerd {
  service: Managed;
  url: string;
  floorUrl: string;
  floorHeadersUrl: string;
  inspectorPort: number | undefined;
}

export interface WorkerdOptions {
  /** Run workerd under this command (valgrind for the instruction counts). */
  wrap?: { cmd: string; args: string[] };
  v8Flags?: string[];
  startTimeoutMs?: number;
}

export async function startWorkerd(
  b: Bench,
  name: string,
  bundle: Bundle,
  vars: Record<string, string>,
  withInspector: boolean,
  opts: WorkerdOptions = {},
): Promise<Workerd> {
  const dir = join(b.tmp, name);
  const logDir = b.logDir;
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
    ? startProcess(name, opts.wrap.cmd, [...opts.wrap.args, workerdBinary(), ...args], {
        cwd: dir,
        logDir,
      })
    : startProcess(name, workerdBinary(), args, { cwd: dir, logDir });
  const url = `http://${LOOPBACK}:${relayPort}`;
  const startTimeoutMs = opts.startTimeoutMs ?? 30_000;
  await waitForPort(relayPort, { timeoutMs: startTimeoutMs, intervalMs: 100, process: service });
  await waitFor(
    `${name}: GET /healthz`,
    async () => {
      if (service.exited) throw new Error(`workerd exited:\n${service.tail()}`);
      const res = await http(`${url}/healthz`, {}, 2000);
      await res.body?.cancel();
      return res.status === 200 ? true : undefined;
    },
    { timeoutMs: startTimeoutMs, intervalMs: 100 },
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
export async function prepareHit(w: Workerd, path: string): Promise<Uint8Array<ArrayBuffer>> {
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

/** The relay's operation counts, or undefined when GET /__bench/ops does not answer them. */
export async function readOps(relay: string, notes: Set<string>): Promise<Ops | undefined> {
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

export async function resetOps(relay: string): Promise<boolean> {
  const res = await http(`${relay}/__bench/reset`, { method: "POST" }, 5000);
  await res.body?.cancel();
  return res.status === 200;
}

export async function heapAfterGc(w: Workerd, notes: Set<string>): Promise<number | null> {
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

/** The upstream budget the benchmark sets: more first fetches at once than it ever makes. */
const BENCH_BUDGET_BURST = "1000000";

/** The relay's variables in every workerd the benchmark starts, and its admin token. */
export interface RelayVars {
  vars: Record<string, string>;
  token: string;
}

export function relayVars(notes: Set<string>): RelayVars {
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
  return { vars, token };
}
