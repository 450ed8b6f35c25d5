// `npx tsx scripts/control-plane/time.ts [--sizes 1000,10000,100000] [--old-sizes 1000,10000]
// [--runs 3]`: how long /metrics and /status take at N certificates, in workerd (plain
// `workerd serve` on loopback, as the benchmark runs it; the bundle made with esbuild, which comes
// with wrangler). The worker's own FleetLedger Durable Object holds N CertSummary rows in its
// SQLite storage (rows.ts fleetRow); the calls are made as the routes make them (metricsView / statusView over RPC,
// then the renderer), and, for comparison, the code of d8aa7cf (`git show`): its
// FleetLedger.snapshot() (prune, then every row, all sent back) and its renderers. Prints a table:
// the median of --runs of each, the ledger call and the render apart, and the size of what was
// sent. It only prints: nothing here judges a time (no timed tests).

import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import { dirname, join, resolve } from "node:path";
import { build } from "esbuild";
import { workerdBinary } from "../bench/setup.ts";
import { freePort, LOOPBACK, loopbackFetch, waitForPort } from "../support/loopback.ts";
import { startProcess, type Managed } from "../support/processes.ts";

const REPO = resolve(import.meta.dirname, "../..");
const BASELINE = "d8aa7cf";

const arg = (name: string, fallback: string) => {
  const at = process.argv.indexOf(name);
  return at >= 0 && process.argv[at + 1] !== undefined ? process.argv[at + 1]! : fallback;
};
const list = (s: string) => s.split(",").filter(Boolean).map(Number);
const sizes = list(arg("--sizes", "1000,10000,100000"));
const oldSizes = new Set(list(arg("--old-sizes", "1000,10000")));
const runs = Number(arg("--runs", "3"));

/** What the timing worker is asked for: one route's work, or the bare pass over the rows. */
const KINDS = {
  "ledger listing (one pass, no digest)": "listing",
  "new /metrics": "new-metrics",
  "new /metrics?certificates=all": "new-metrics-all",
  "new /status (page 1)": "new-status",
  "new /status?page=<last>": "new-status-last",
  "new /status?q=host-4242": "new-status-q",
  [`old /metrics (${BASELINE})`]: "old-metrics",
  [`old /status (${BASELINE})`]: "old-status",
} as const;

interface Timing {
  ledgerMs: number;
  renderMs: number;
  bytes: number;
}

/** d8aa7cf's ledger and renderers, their relative imports pointed at this checkout (or each other). */
async function baseline(dir: string): Promise<void> {
  const files = ["src/fleet/ledger.ts", "src/metrics/prometheus.ts", "src/status/page.ts"];
  for (const file of files) {
    const source = execFileSync("git", ["show", `${BASELINE}:${file}`], {
      cwd: REPO,
      encoding: "utf8",
    });
    const rewritten = source.replace(/from "(\.\.?\/[^"]+)"/g, (_, rel: string) => {
      const target = join(dirname(file), rel);
      const path = files.includes(target) ? join(dir, target) : join(REPO, target);
      return `from ${JSON.stringify(path)}`;
    });
    await mkdir(dirname(join(dir, file)), { recursive: true });
    await writeFile(join(dir, file), rewritten);
  }
}

/** The timing worker: FleetLedger with a way to fill it, and one route per kind. */
function entry(old: string): string {
  const src = (p: string) => JSON.stringify(join(REPO, p));
  const was = (p: string) => JSON.stringify(join(old, p));
  return `
import { FleetLedger } from ${src("src/fleet/ledger-do.ts")};
import { LedgerLogic } from ${src("src/fleet/ledger.ts")};
import { renderMetrics } from ${src("src/metrics/prometheus.ts")};
import { renderStatusPage } from ${src("src/status/page.ts")};
import { LedgerLogic as OldLedgerLogic } from ${was("src/fleet/ledger.ts")};
import { fillLedger } from ${src("scripts/control-plane/rows.ts")};
import { renderMetrics as oldRenderMetrics } from ${was("src/metrics/prometheus.ts")};
import { renderStatusPage as oldRenderStatusPage } from ${was("src/status/page.ts")};

const HOUR = 3_600_000;
const MARGIN = 24 * HOUR;
const alerts = { mustStapleMarginMs: MARGIN, responderFailures: 3 };

export class TimedLedger extends FleetLedger {
  // Two issuers, one in 997 failing, one in 4001 Must-Staple at risk (rows.ts fleetRow).
  fill(n, now) {
    return fillLedger(this.ctx.storage, n, now);
  }
  async listing() {
    let n = 0;
    const logic = new LedgerLogic({ storage: this.ctx.storage, now: () => Date.now(), sendAlert: undefined, alerts });
    await logic.eachCertificate({ add: () => void n++ });
    return n;
  }
  // ${BASELINE}'s FleetLedger.snapshot(): prune (a listing of every row), then every row.
  async oldSnapshot() {
    const logic = new OldLedgerLogic({ storage: this.ctx.storage, now: () => Date.now(), sendAlert: undefined, alerts });
    await logic.prune(7 * 24 * HOUR);
    return logic.snapshot();
  }
}

// workerd moves Date.now() on I/O only: a zero timer after the work reads the time it took.
const tick = () => new Promise((done) => setTimeout(done, 0));
const bytes = (s) => new TextEncoder().encode(s).length;

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const n = Number(url.searchParams.get("n"));
    const ledger = env.FLEET_LEDGER.get(env.FLEET_LEDGER.idFromName("ledger"));
    const kind = url.pathname.slice(1);
    if (kind === "fill") return Response.json(await ledger.fill(n, Date.now()));
    await tick();
    const now = Date.now();
    const metrics = { now, mustStapleMarginMs: MARGIN, certificates: "troubled" };
    const status = { now, mustStapleMarginMs: MARGIN, q: "", page: 1 };
    const isolate = { memoryEntries: 0 };
    let render;
    const t0 = Date.now();
    try {
    switch (kind) {
      case "listing": { await ledger.listing(); render = () => ""; break; }
      case "new-metrics": { const m = await ledger.metricsView(metrics); render = () => renderMetrics(m, now, isolate); break; }
      case "new-metrics-all": { const m = await ledger.metricsView({ ...metrics, certificates: "all" }); render = () => renderMetrics(m, now, isolate); break; }
      case "new-status":
      case "new-status-last":
      case "new-status-q": {
        const query = kind === "new-status-q" ? { ...status, q: "host-4242" } : kind === "new-status-last" ? { ...status, page: Math.ceil(n / 100) } : status;
        const s = await ledger.statusView(query);
        render = () => renderStatusPage({ ledger: s, issuers: [], now });
        break;
      }
      case "old-metrics": { const s = await ledger.oldSnapshot(); render = () => oldRenderMetrics(s, now, isolate); break; }
      case "old-status": { const s = await ledger.oldSnapshot(); render = () => oldRenderStatusPage({ snapshot: s, issuers: [], now, mustStapleMarginMs: MARGIN }); break; }
      default: return new Response("no such kind", { status: 404 });
    }
    } catch (e) {
      return Response.json({ error: "the ledger call threw " + String(e) });
    }
    const t1 = Date.now();
    let text;
    try {
      text = render();
    } catch (e) {
      return Response.json({ error: "the renderer threw " + String(e) });
    }
    await tick();
    const t2 = Date.now();
    return Response.json({ ledgerMs: t1 - t0, renderMs: t2 - t1, bytes: bytes(text) });
  },
};
`;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

const fmtMs = (ms: number) => (ms < 10 ? ms.toFixed(1) : Math.round(ms).toLocaleString("en-US"));
const fmtBytes = (b: number) =>
  b >= 1_000_000
    ? `${(b / 1_000_000).toFixed(1)} MB`
    : b >= 1000
      ? `${(b / 1000).toFixed(1)} kB`
      : `${b} B`;

async function main(): Promise<void> {
  const tmp = await mkdtemp(join(os.tmpdir(), "control-plane-"));
  let workerd: Managed | undefined;
  try {
    await baseline(join(tmp, "old"));
    const entryPath = join(tmp, "entry.js");
    await writeFile(entryPath, entry(join(tmp, "old")));
    await build({
      entryPoints: [entryPath],
      outfile: join(tmp, "worker.js"),
      bundle: true,
      format: "esm",
      platform: "neutral",
      target: "es2022",
      external: ["cloudflare:*"],
      logLevel: "error",
    });
    const toml = readFileSync(join(REPO, "wrangler.toml"), "utf8");
    const compatibilityDate = toml.match(/^compatibility_date = "([^"]+)"/m)?.[1] ?? "2026-11-01";
    const port = await freePort();
    await writeFile(join(tmp, "config.capnp"), capnp(compatibilityDate, port));
    workerd = startProcess("control-plane-workerd", workerdBinary(), ["serve", "config.capnp"], {
      cwd: tmp,
      logDir: tmp,
    });
    await waitForPort(port, { timeoutMs: 30_000, intervalMs: 100, process: workerd });
    const call = async (path: string) => {
      const started = performance.now();
      const res = await loopbackFetch(`http://${LOOPBACK}:${port}${path}`, {}, 600_000);
      const text = await res.text();
      let body: Timing & { error?: string };
      try {
        body = JSON.parse(text) as Timing & { error?: string };
      } catch {
        body = { ledgerMs: NaN, renderMs: NaN, bytes: 0, error: `HTTP ${res.status}: ${text}` };
      }
      return { ...body, httpMs: performance.now() - started };
    };

    const header = [
      "certificates",
      "what",
      "ledger call (ms)",
      "render (ms)",
      "HTTP total (ms)",
      "size",
    ];
    const table: string[][] = [];
    for (const n of sizes) {
      const filled = Date.now();
      await call(`/fill?n=${n}`);
      console.error(`filled the ledger with ${n} rows in ${Date.now() - filled} ms`);
      for (const [label, kind] of Object.entries(KINDS)) {
        if (kind.startsWith("old-") && !oldSizes.has(n)) continue;
        const results = [];
        for (let r = 0; r < runs; r++) results.push(await call(`/${kind}?n=${n}`));
        const failed = results.find((x) => x.error);
        const row = failed
          ? [n.toLocaleString("en-US"), label, "", "", "", `threw: ${failed.error}`]
          : [
              n.toLocaleString("en-US"),
              label,
              fmtMs(median(results.map((x) => x.ledgerMs))),
              kind === "listing" ? "" : fmtMs(median(results.map((x) => x.renderMs))),
              fmtMs(median(results.map((x) => x.httpMs))),
              kind === "listing" ? "" : fmtBytes(results[0]!.bytes),
            ];
        table.push(row);
        console.error(row.join(" | "));
      }
    }
    const cpu = os.cpus()[0]?.model ?? "unknown CPU";
    console.log(
      `\nworkerd (plain workerd serve) on ${cpu}, Node ${process.version}; median of ${runs} runs; ` +
        `ledger call = the Durable Object's work and the RPC, render = the renderer in the worker.\n`,
    );
    console.log(`| ${header.join(" | ")} |`);
    console.log(`|${header.map((_, i) => (i < 2 ? " --- " : " ---: ")).join("|")}|`);
    for (const row of table) console.log(`| ${row.join(" | ")} |`);
  } finally {
    await workerd?.stop();
    await rm(tmp, { recursive: true, force: true });
  }
}

/** One worker with the FleetLedger namespace (SQLite, in memory), on a loopback socket. */
function capnp(compatibilityDate: string, port: number): string {
  return `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [
    (name = "timing", worker = (
      modules = [(name = "worker.js", esModule = embed "worker.js")],
      compatibilityDate = ${JSON.stringify(compatibilityDate)},
      bindings = [(name = "FLEET_LEDGER", durableObjectNamespace = "TimedLedger")],
      durableObjectNamespaces = [(className = "TimedLedger", uniqueKey = "control-plane-timing", enableSql = true)],
      durableObjectStorage = (inMemory = void),
      globalOutbound = "none",
    )),
    (name = "none", network = (allow = [])),
  ],
  sockets = [(name = "http", address = ${JSON.stringify(`${LOOPBACK}:${port}`)}, http = (), service = "timing")],
);
`;
}

await main();
