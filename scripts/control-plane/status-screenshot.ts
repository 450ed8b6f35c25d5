// `npx tsx scripts/control-plane/status-screenshot.ts [--n 100000] [--out bench-results/status]`:
// /status at N certificates, looked at in Chromium. The real worker (src/index.ts, bundled with
// esbuild) on plain `workerd serve` over loopback, as the benchmark runs it (bench/configs.ts: an
// in-memory KV service, the Durable Objects of wrangler.toml); two fixture CAs registered through
// the admin API; its FleetLedger filled with N rows as time.ts fills it (rows.ts fleetRow); then
// headless Chromium (support/chromium.ts) loads /status with the admin token, takes full-page
// screenshots, searches for a serial with the page's own search box and follows its "next" link.
// Prints each PNG's path on stderr and one JSON line of what it checked on stdout; exits 1 if a
// check failed.

import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import { join, resolve } from "node:path";
import { build } from "esbuild";
import { floorWorkerSource, kvWorkerSource, workerdConfig } from "../bench/configs.ts";
import { workerdBinary } from "../bench/setup.ts";
import { parseWranglerToml } from "../bench/wrangler-toml.ts";
import { launchChromium } from "../support/chromium.ts";
import { freePort, LOOPBACK, loopbackFetch, waitFor, waitForPort } from "../support/loopback.ts";
import { startProcess, type Managed } from "../support/processes.ts";
import { registerIssuer } from "../support/relay.ts";
import { fleetRow, fleetSerial } from "./rows.ts";

const REPO = resolve(import.meta.dirname, "../..");
const arg = (name: string, fallback: string) => {
  const at = process.argv.indexOf(name);
  return at >= 0 && process.argv[at + 1] !== undefined ? process.argv[at + 1]! : fallback;
};
const n = Number(arg("--n", "100000"));
const outDir = resolve(REPO, arg("--out", "bench-results/status"));
const MARGIN_SECONDS = 24 * 3600;
/** Never asked: the rows are the ledger's own, no owner fetches. */
const RESPONDER = `http://${LOOPBACK}:9/`;
const CAS = ["test/fixtures/pki/rsa-ca.pem", "test/fixtures/pki/ec-ca.pem"];

/** The worker as deployed, but for a FleetLedger that can be filled (GET /__fill). */
function entry(): string {
  const index = JSON.stringify(join(REPO, "src/index.ts"));
  const rows = JSON.stringify(join(REPO, "scripts/control-plane/rows.ts"));
  return `
export * from ${index};
import worker, { FleetLedger as Ledger } from ${index};
import { fillLedger } from ${rows};

export class FleetLedger extends Ledger {
  fill(n, now, issuers) {
    return fillLedger(this.ctx.storage, n, now, issuers);
  }
}

export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    if (url.pathname !== "/__fill") return worker.fetch(request, env, ctx);
    const ledger = env.FLEET_LEDGER.get(env.FLEET_LEDGER.idFromName("ledger"));
    const issuers = url.searchParams.get("issuers").split(",");
    return Response.json(await ledger.fill(Number(url.searchParams.get("n")), Date.now(), issuers));
  },
};
`;
}

/** What the page shows, read in Chromium from its DOM. */
interface Seen {
  rows: number;
  firstRow: string | undefined;
  shown: Record<string, string>;
  summary: { issuers: number; all: Record<string, string> | undefined };
  atRisk: { listed: string[]; beforeTable: boolean; leadsTable: boolean };
  search: boolean;
  pageLinks: string[];
}

function seen(): Seen {
  const attrs = (el: Element | null) =>
    el ? Object.fromEntries(Array.from(el.attributes).map((a) => [a.name, a.value])) : undefined;
  const rows = Array.from(document.querySelectorAll("tr[data-cert]")).map((tr) =>
    tr.getAttribute("data-cert"),
  );
  const listed = Array.from(document.querySelectorAll("#at-risk li")).map(
    (li) => li.getAttribute("data-risk") ?? "",
  );
  const risk = document.querySelector("#at-risk");
  const table = document.querySelector("#certificates");
  const summaries = Array.from(document.querySelectorAll("#summary tr[data-summary]"));
  return {
    rows: rows.length,
    firstRow: rows[0] ?? undefined,
    shown: attrs(document.querySelector("#shown")) ?? {},
    summary: {
      issuers: summaries.filter((tr) => tr.getAttribute("data-summary") !== "all").length,
      all: attrs(document.querySelector('#summary tr[data-summary="all"]')),
    },
    atRisk: {
      listed,
      beforeTable:
        risk !== null &&
        table !== null &&
        (risk.compareDocumentPosition(table) & Node.DOCUMENT_POSITION_FOLLOWING) !== 0,
      leadsTable:
        listed.length > 0 && rows.slice(0, listed.length).every((k) => listed.includes(k ?? "")),
    },
    search: document.querySelector('form#search input[type="search"][name="q"]') !== null,
    // The links above the table (the same ones follow it).
    pageLinks: Array.from(document.querySelectorAll("nav.pages:first-of-type a[data-page]")).map(
      (a) => a.getAttribute("href") ?? "",
    ),
  };
}

async function main(): Promise<void> {
  const tmp = await mkdtemp(join(os.tmpdir(), "status-screenshot-"));
  let workerd: Managed | undefined;
  let browser: import("playwright-core").BrowserContext | undefined;
  try {
    await mkdir(outDir, { recursive: true });
    await writeFile(join(tmp, "entry.js"), entry());
    await build({
      entryPoints: [join(tmp, "entry.js")],
      outfile: join(tmp, "relay.js"),
      bundle: true,
      format: "esm",
      platform: "browser",
      conditions: ["workerd", "worker", "browser"],
      target: "es2022",
      external: ["cloudflare:*"],
      logLevel: "error",
    });
    await writeFile(join(tmp, "kv.js"), kvWorkerSource());
    await writeFile(join(tmp, "floor.js"), floorWorkerSource());
    const token = randomBytes(16).toString("hex");
    const [port, floorPort] = [await freePort(), await freePort()];
    const wrangler = parseWranglerToml(readFileSync(join(REPO, "wrangler.toml"), "utf8"));
    await writeFile(
      join(tmp, "config.capnp"),
      workerdConfig({
        wrangler,
        relayModule: "relay.js",
        kvModule: "kv.js",
        floorModule: "floor.js",
        vars: {
          ADMIN_TOKEN: token,
          ALLOW_PRIVATE_RESPONDERS: "true",
          ALERT_MUST_STAPLE_MARGIN_SECONDS: String(MARGIN_SECONDS),
        },
        relayPort: port,
        floorPort,
        durableObjectStorage: { inMemory: true },
      }),
    );
    workerd = startProcess("status-workerd", workerdBinary(), ["serve", "config.capnp"], {
      cwd: tmp,
      logDir: tmp,
    });
    const url = `http://${LOOPBACK}:${port}`;
    await waitForPort(port, { timeoutMs: 30_000, intervalMs: 100, process: workerd });
    await waitFor(
      "GET /healthz",
      async () => ((await loopbackFetch(`${url}/healthz`)).status === 200 ? true : undefined),
      { timeoutMs: 30_000, intervalMs: 200 },
    );

    const issuers: string[] = [];
    for (const ca of CAS)
      issuers.push((await registerIssuer(url, join(REPO, ca), RESPONDER, { token })).body.id);
    const filling = Date.now();
    const fill = await loopbackFetch(
      `${url}/__fill?n=${n}&issuers=${issuers.join(",")}`,
      {},
      600_000,
    );
    if (!fill.ok) throw new Error(`filling the ledger: HTTP ${fill.status} ${await fill.text()}`);
    const fillMs = Date.now() - filling;
    console.error(`filled the ledger with ${await fill.text()} rows in ${fillMs} ms`);

    // What the summary must count: the same rows, counted here.
    const expected = { total: n, atRisk: 0, failing: 0, revoked: 0 };
    for (let i = 0; i < n; i++) {
      const c = fleetRow(i, 0, issuers);
      if (c.mustStaple) expected.atRisk += 1;
      if (c.failures > 0) expected.failing += 1;
      if (c.status === "revoked") expected.revoked += 1;
    }

    browser = await launchChromium(join(tmp, "chromium"));
    await browser.setExtraHTTPHeaders({ Authorization: `Bearer ${token}` });
    // tsx compiles `seen` with esbuild's keepNames, whose __name helper the page lacks.
    await browser.addInitScript({ content: "globalThis.__name = (f) => f;" });
    const page = browser.pages()[0] ?? (await browser.newPage());
    const userAgent = await page.evaluate(() => navigator.userAgent);
    const shot = async (name: string) => {
      const path = join(outDir, `status-${n}${name}.png`);
      await page.screenshot({ path, fullPage: true });
      console.error(`screenshot: ${path}`);
      return path;
    };

    const started = Date.now();
    const res = await page.goto(`${url}/status`, { waitUntil: "load", timeout: 120_000 });
    const loadMs = Date.now() - started;
    if (!res || res.status() !== 200) throw new Error(`/status answered HTTP ${res?.status()}`);
    const bytes = (await res.body()).byteLength;
    const first = await page.evaluate(seen);
    const screenshot = await shot("");

    // Search as a person would: the serial typed into the page's search box, Enter.
    const serial = fleetSerial(Math.min(4242, n - 1));
    await page.fill('form#search input[name="q"]', serial);
    await Promise.all([
      page.waitForURL(/[?&]q=/),
      page.press('form#search input[name="q"]', "Enter"),
    ]);
    const searched = await page.evaluate(seen);
    const searchUrl = page.url().slice(url.length);
    const searchShot = await shot("-q");

    // Back to everything, then the "next ›" link.
    await page.goto(`${url}/status`, { waitUntil: "load", timeout: 120_000 });
    await Promise.all([page.waitForURL(/[?&]page=2/), page.click('nav.pages a[rel="next"]')]);
    const second = await page.evaluate(seen);
    const secondUrl = page.url().slice(url.length);
    const secondShot = await shot("-page2");

    const all = first.summary.all ?? {};
    const checks: Record<string, boolean> = {
      "page 1 has 100 rows": first.rows === 100,
      "summary per issuer and for all": first.summary.issuers === 2 && all["data-total"] === String(n),
      "summary counts at risk and failing": all["data-at-risk"] === String(expected.atRisk) &&
        all["data-failing"] === String(expected.failing),
      "at-risk list before the table": first.atRisk.beforeTable,
      "at-risk certificates lead the table": first.atRisk.leadsTable,
      "every at-risk certificate listed": first.atRisk.listed.length === Math.min(expected.atRisk, 50),
      "search box": first.search,
      "paging links": first.pageLinks.includes("?page=2") && first.shown["data-pages"] === String(Math.ceil(n / 100)),
      "?q=<serial>: one row": searched.rows === 1 && searched.firstRow?.endsWith(serial) === true,
      "?page=2: 100 rows, page 2": second.rows === 100 && second.shown["data-page"] === "2" &&
        second.firstRow !== first.firstRow,
    }; // prettier-ignore
    const failed = Object.entries(checks)
      .filter(([, ok]) => !ok)
      .map(([name]) => name);
    console.log(
      JSON.stringify({
        certificates: n,
        fillMs,
        chromium: userAgent.match(/HeadlessChrome\/[\d.]+|Chrome\/[\d.]+/)?.[0] ?? userAgent,
        status: {
          bytes,
          loadMs,
          rows: first.rows,
          shown: first.shown,
          summary: { issuers: first.summary.issuers, all },
          expected,
          atRisk: {
            listed: first.atRisk.listed.length,
            beforeTable: first.atRisk.beforeTable,
            leadsTable: first.atRisk.leadsTable,
          },
          searchBox: first.search,
          pageLinks: first.pageLinks,
        },
        search: { url: searchUrl, rows: searched.rows, shown: searched.shown },
        page2: { url: secondUrl, rows: second.rows, shown: second.shown },
        screenshots: [screenshot, searchShot, secondShot],
        ok: failed.length === 0,
        failed,
      }),
    );
    if (failed.length > 0) process.exitCode = 1;
  } finally {
    await browser?.close();
    await workerd?.stop();
    await rm(tmp, { recursive: true, force: true });
  }
}

await main();
