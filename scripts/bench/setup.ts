// What the benchmark prepares before it measures: the worker bundled as `wrangler deploy` would
// upload it, a throwaway CA (scripts/support/pki.ts, EC P-256: an index of many serials, no
// certificates issued), the OCSP requests built with the project's own protocol core, and the
// machine's facts.

import { existsSync, readFileSync, statSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import os from "node:os";
import { join } from "node:path";
import { toBase64 } from "../../src/ocsp/bytes.ts";
import { parsePemCertificates } from "../../src/ocsp/certificate.ts";
import { certIdFor, encodeRequest } from "../../src/ocsp/request.ts";
import { listSerials, makePki, serialOctets, type Pki } from "../support/pki.ts";
import { REPO_ROOT, run, runOk, which } from "../support/processes.ts";
import { snapshotWorker, wranglerEnv } from "../support/relay.ts";
import { log, type Bench } from "./context.ts";
import { parseWranglerToml, type WranglerConfig } from "./wrangler-toml.ts";

const requireHere = createRequire(import.meta.url);

/** The native workerd binary of the `workerd` package (not a Node shim: its pid is workerd's). */
export function workerdBinary(): string {
  const mod = requireHere("workerd") as { default: string };
  return mod.default;
}

export interface Bundle {
  path: string;
  wrangler: WranglerConfig;
  ms: number;
}

/**
 * `wrangler deploy --dry-run --outdir` on a snapshot of the worker (scripts/support/relay.ts
 * snapshotWorker), so edits made meanwhile do not mix into the bundle, with wrangler kept off the
 * network (wranglerEnv: a dry run needs no account). `env`: the wrangler.toml environment to build
 * (default: the top level, which the benchmark runs).
 */
export async function bundleWorker(
  workerDir: string,
  tmp: string,
  { env: wranglerEnvName = "" }: { env?: string } = {},
): Promise<Bundle> {
  const started = Date.now();
  const snap = await snapshotWorker(join(tmp, "worker"), workerDir);
  const wtmp = join(tmp, "wrangler-tmp");
  const env = await wranglerEnv(wtmp, { XDG_CONFIG_HOME: join(wtmp, "config"), CI: "true" });
  const outdir = join(tmp, "bundle");
  const wranglerJs = join(REPO_ROOT, "node_modules", "wrangler", "bin", "wrangler.js");
  const args = ["deploy", "--dry-run", "--outdir", outdir, `--env=${wranglerEnvName}`];
  await runOk(process.execPath, [wranglerJs, ...args], {
    cwd: snap,
    timeoutMs: 120_000,
    env,
  });
  const path = join(outdir, "index.js");
  if (!existsSync(path)) throw new Error(`wrangler wrote no ${path}`);
  const wrangler = parseWranglerToml(await readFile(join(snap, "wrangler.toml"), "utf8"));
  const exported = readFileSync(path, "utf8").slice(-200_000);
  for (const d of wrangler.durableObjects) {
    if (!new RegExp(`\\b${d.className}\\b`).test(exported)) {
      throw new Error(`the bundle does not export Durable Object class ${d.className}`);
    }
  }
  return { path, wrangler, ms: Date.now() - started };
}

/** The CA and its certificate's PEM text. */
export type Ca = Pki & { pem: string };

/**
 * An EC P-256 PKI whose CA signs its own OCSP answers (the cheapest signature for openssl to
 * make), with `serials` listed as valid in its index: `openssl ocsp` answers `good` for each.
 */
export async function makeCa(dir: string, serials: number[]): Promise<Ca> {
  const pki = await makePki(dir, [], { key: "ec", org: "ocsp-relay bench", cnOnly: true });
  await listSerials(pki, serials, Date.now() + 30 * 86_400_000);
  return { ...pki, pem: await readFile(pki.caPem, "utf8") };
}

export interface CertRequest {
  serial: number;
  /** GET path: `/` + URL-encoded base64 of the DER request (RFC 6960 A.1), as the relay sends it. */
  path: string;
  /** DER OCSPRequest, for POST. */
  der: Uint8Array;
}

/** OCSP requests (SHA-1 CertID, no nonce: what nginx, HAProxy and openssl send) for `serials`. */
export async function buildRequests(caPem: string, serials: number[]): Promise<CertRequest[]> {
  const certs = parsePemCertificates(caPem);
  if (!certs.ok) throw new Error(`CA PEM: ${certs.error.detail}`);
  const base = await certIdFor(certs.value[0]!, { serialNumber: new Uint8Array([1]) }, "SHA-1");
  return serials.map((serial) => {
    const der = encodeRequest({ ...base, serialNumber: serialOctets(serial) });
    return { serial, der, path: `/${encodeURIComponent(toBase64(der))}` };
  });
}

/** nproc, CPU, kernel and the versions of everything measured. */
export async function machineFacts(extra: Record<string, string>): Promise<Record<string, string>> {
  const first = async (cmd: string, args: string[], pick: (text: string) => string | undefined) => {
    const r = await run(cmd, args, { timeoutMs: 10_000 }).catch(() => undefined);
    const text = r ? `${r.stdout}\n${r.stderr}` : "";
    return pick(text)?.trim() || "unknown";
  };
  const cpuinfo = existsSync("/proc/cpuinfo") ? readFileSync("/proc/cpuinfo", "utf8") : "";
  const pkgVersion = (name: string) => {
    try {
      return (
        JSON.parse(readFileSync(join(REPO_ROOT, "node_modules", name, "package.json"), "utf8")) as {
          version: string;
        }
      ).version;
    } catch {
      return "unknown";
    }
  };
  const [workerd, nginx, wrk, openssl] = await Promise.all([
    first(workerdBinary(), ["--version"], (t) => t.split("\n")[0]),
    first("/usr/sbin/nginx", ["-v"], (t) => /nginx version: (\S+)/.exec(t)?.[1]),
    first("wrk", ["--version"], (t) => /^(wrk \S+)/m.exec(t)?.[1]),
    first("openssl", ["version"], (t) => t.split("\n")[0]),
  ]);
  return {
    nproc: String(os.availableParallelism()),
    cpu: /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1] ?? os.cpus()[0]?.model ?? "unknown",
    memory: `${Math.round(os.totalmem() / 1024 ** 3)} GiB`,
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    workerd: `${workerd} (npm workerd ${pkgVersion("workerd")})`,
    wrangler: pkgVersion("wrangler"),
    nginx,
    wrk,
    openssl,
    ...extra,
  };
}

/** What the measures share: the bundle, the CA, the requests for both sets of serials. */
export interface Prepared {
  bundle: Bundle;
  ca: Ca;
  /** Cached for the hit runs (the first), warming, memory and scaling: --certs of them. */
  reqs: CertRequest[];
  /** The fan-in's certificates (--fanin-certs), never asked before the fan-in. */
  faninReqs: CertRequest[];
  machine: Record<string, string>;
}

/** Checks the tools, then bundles the worker, makes the CA and builds the requests. */
export async function prepare(b: Bench): Promise<Prepared> {
  const missing = [
    ["wrk", "wrk"],
    ["/usr/sbin/nginx", "nginx-light"],
    ["openssl", "openssl"],
  ].filter(([cmd]) => !which(cmd!));
  if (missing.length > 0) {
    throw new Error(
      `missing ${missing.map(([c]) => c).join(", ")}: apt-get install ${missing.map(([, p]) => p).join(" ")}`,
    );
  }
  const loadStart = os.loadavg();
  log(`temporary directory ${b.tmp}${b.o.keep ? " (kept)" : ""}`);
  const hitSerials = Array.from({ length: b.o.certs }, (_, i) => 0x100001 + i);
  const faninSerials = Array.from({ length: b.o.faninCerts }, (_, i) => 0x200001 + i);
  const [bundle, ca] = await Promise.all([
    bundleWorker(b.o.workerDir, b.tmp),
    makeCa(join(b.tmp, "ca"), [...hitSerials, ...faninSerials]),
  ]);
  log(
    `bundled the worker with wrangler deploy --dry-run in ${bundle.ms} ms (${Math.round(statSync(bundle.path).size / 1024)} KiB)`,
  );
  const [reqs, faninReqs] = await Promise.all([
    buildRequests(ca.pem, hitSerials),
    buildRequests(ca.pem, faninSerials),
  ]);
  log(`CA ready: ${hitSerials.length + faninSerials.length} serials in its index; requests built`);
  const machine = await machineFacts({
    "load average at start": loadStart.map((l) => l.toFixed(2)).join(" "),
  });
  return { bundle, ca, reqs, faninReqs, machine };
}
