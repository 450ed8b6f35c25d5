// The relay as the e2e tests and the benchmark run it: a snapshot of the worker, wrangler kept
// off the network, the relay under `wrangler dev`, and the one way to register an issuer.

import { existsSync } from "node:fs";
import { cp, mkdir, readFile, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { assertLoopbackUrl, freePort, LOOPBACK, waitFor } from "./loopback.ts";
import { childEnv, REPO_ROOT, startProcess, type Managed } from "./processes.ts";

/** The admin token the relays started here get (`startRelay`) and `registerIssuer` sends. */
export const ADMIN_TOKEN = "secret";

/**
 * A copy of the worker as it is now (src/, wrangler.toml, package.json, tsconfig.json, the
 * `npm start` script, with node_modules linked) for `startRelay({ workerDir })` and the
 * benchmark's bundle. wrangler dev rebuilds and reloads on every source change, dropping in-flight
 * requests; a snapshot keeps a run on one version of the code even while the working tree is being
 * edited, and a restart runs the same code again.
 */
export async function snapshotWorker(dir: string, from = REPO_ROOT): Promise<string> {
  await mkdir(dir, { recursive: true });
  await cp(join(from, "src"), join(dir, "src"), { recursive: true });
  for (const file of ["wrangler.toml", "package.json", "tsconfig.json", "scripts/start.sh"]) {
    if (existsSync(join(from, file))) await cp(join(from, file), join(dir, file));
  }
  await symlink(join(REPO_ROOT, "node_modules"), join(dir, "node_modules"), "dir");
  return dir;
}

/**
 * The environment for wrangler with nothing leaving the machine: its npm update check reads a
 * cache in `home` first (TTL 1 h), and a fresh "nothing newer" entry there means it never asks the
 * registry; telemetry and the cf.json fetch are off.
 */
export async function wranglerEnv(
  home: string,
  extra: Record<string, string> = {},
): Promise<NodeJS.ProcessEnv> {
  await mkdir(join(home, "update-check"), { recursive: true });
  await writeFile(
    join(home, "update-check", "wrangler-latest.json"),
    JSON.stringify({ latest: null, lastUpdate: Date.now() }),
  );
  return childEnv({
    TMPDIR: home,
    WRANGLER_SEND_METRICS: "false",
    CLOUDFLARE_CF_FETCH_ENABLED: "false",
    WRANGLER_REGISTRY_PATH: join(home, "registry"),
    WRANGLER_LOG_PATH: join(home, "logs"),
    npm_config_update_notifier: "false",
    FORCE_COLOR: "0",
    ...extra,
  });
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
 */
export async function startRelay(options: RelayOptions): Promise<Relay> {
  const port = await freePort();
  const inspectorPort = await freePort();
  const env = await wranglerEnv(join(options.logDir, "wrangler-home"), {
    WRANGLER_HIDE_BANNER: "true",
  });
  const vars = {
    ADMIN_TOKEN,
    ALLOW_PRIVATE_RESPONDERS: "true",
    // Every request counted: the tests read exact counts in /metrics.
    METRICS_SAMPLE: "1",
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
 * POST /admin/issuers?responder=URL with the CA's PEM (a file); returns the JSON (expects
 * 200/201). With `leafPem` the body is the leaf followed by the CA: the relay pins the leaf and
 * fetches its answer at once (the JSON's `warmed`). `token` defaults to ADMIN_TOKEN.
 */
export async function registerIssuer(
  relayUrl: string,
  caPem: string,
  responderUrl: string,
  { leafPem, token = ADMIN_TOKEN }: { leafPem?: string; token?: string } = {},
): Promise<{ status: number; body: { id: string } & Record<string, unknown> }> {
  const url = `${relayUrl}/admin/issuers?responder=${encodeURIComponent(responderUrl)}`;
  assertLoopbackUrl(url);
  const res = await fetch(url, {
    method: "POST",
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/x-pem-file" },
    body: (leafPem ? await readFile(leafPem, "utf8") : "") + (await readFile(caPem, "utf8")),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  let body: { id: string } & Record<string, unknown>;
  try {
    body = JSON.parse(text) as { id: string } & Record<string, unknown>;
  } catch {
    throw new Error(`registering ${caPem}: HTTP ${res.status}, not JSON: ${text.slice(0, 500)}`);
  }
  if (res.status !== 201 && res.status !== 200) {
    throw new Error(`registering ${caPem} failed: HTTP ${res.status} ${JSON.stringify(body)}`);
  }
  return { status: res.status, body };
}
