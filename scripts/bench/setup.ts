// What the benchmark prepares before it measures: the worker bundled as `wrangler deploy` would
// upload it, a throwaway CA made with the openssl CLI (an index of many serials, no certificates
// issued), the OCSP requests built with the project's own protocol core, and the machine's facts.

import { existsSync, readFileSync } from "node:fs";
import { cp, mkdir, readFile, symlink, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import os from "node:os";
import { join } from "node:path";
import { toBase64 } from "../../src/ocsp/bytes.ts";
import { parsePemCertificates } from "../../src/ocsp/certificate.ts";
import { certIdFor, encodeRequest } from "../../src/ocsp/request.ts";
import { indexLine, parseWranglerToml, serialOctets, type WranglerConfig } from "./configs.ts";
import { childEnv, run, runOk } from "./procs.ts";

export const REPO_ROOT = join(import.meta.dirname, "../..");
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
 * `wrangler deploy --dry-run --outdir` on a snapshot of the worker (src/, wrangler.toml,
 * package.json, tsconfig.json; node_modules linked), so edits made meanwhile do not mix into the
 * bundle. Wrangler is kept off the network: its update check is pre-answered in a private TMPDIR
 * and metrics are off (a dry run needs no account).
 */
export async function bundleWorker(workerDir: string, tmp: string): Promise<Bundle> {
  const started = Date.now();
  const snap = join(tmp, "worker");
  await mkdir(snap, { recursive: true });
  await cp(join(workerDir, "src"), join(snap, "src"), { recursive: true });
  for (const f of ["wrangler.toml", "package.json", "tsconfig.json"]) {
    if (existsSync(join(workerDir, f))) await cp(join(workerDir, f), join(snap, f));
  }
  await symlink(join(REPO_ROOT, "node_modules"), join(snap, "node_modules"), "dir");
  const wtmp = join(tmp, "wrangler-tmp");
  await mkdir(join(wtmp, "update-check"), { recursive: true });
  const cache = JSON.stringify({ latest: null, lastUpdate: Date.now() });
  await writeFile(join(wtmp, "update-check", "wrangler-latest.json"), cache);
  const outdir = join(tmp, "bundle");
  const wranglerJs = join(REPO_ROOT, "node_modules", "wrangler", "bin", "wrangler.js");
  await runOk(process.execPath, [wranglerJs, "deploy", "--dry-run", "--outdir", outdir], {
    cwd: snap,
    timeoutMs: 120_000,
    env: childEnv({
      TMPDIR: wtmp,
      WRANGLER_SEND_METRICS: "false",
      WRANGLER_LOG_PATH: join(wtmp, "logs"),
      WRANGLER_REGISTRY_PATH: join(wtmp, "registry"),
      XDG_CONFIG_HOME: join(wtmp, "config"),
      CLOUDFLARE_CF_FETCH_ENABLED: "false",
      npm_config_update_notifier: "false",
      FORCE_COLOR: "0",
      CI: "true",
    }),
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

export interface Ca {
  dir: string;
  certPem: string;
  keyPem: string;
  indexPath: string;
  pem: string;
}

/**
 * An EC P-256 CA that signs its own OCSP answers (the cheapest signature for openssl to make), and
 * an `openssl ca` index listing `serials` as valid: `openssl ocsp` answers `good` for each.
 */
export async function makeCa(dir: string, serials: number[]): Promise<Ca> {
  await mkdir(dir, { recursive: true });
  const p = (f: string) => join(dir, f);
  await writeFile(
    p("openssl.cnf"),
    "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = unused\n",
  );
  const env = childEnv({ OPENSSL_CONF: p("openssl.cnf") });
  await runOk(
    "openssl",
    ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", p("ca.key")],
    {
      env,
      timeoutMs: 20_000,
    },
  );
  await runOk(
    "openssl",
    [
      "req", "-new", "-x509", "-config", p("openssl.cnf"), "-key", p("ca.key"), "-out", p("ca.pem"),
      "-days", "30", "-subj", "/CN=ocsp-relay bench CA",
      "-addext", "basicConstraints=critical,CA:TRUE",
      "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
    ], // prettier-ignore
    { env, timeoutMs: 20_000 },
  );
  const expires = Date.now() + 30 * 86_400_000;
  const sorted = [...new Set(serials)].sort((a, b) => a - b);
  await writeFile(p("index.txt"), sorted.map((n) => `${indexLine(n, expires)}\n`).join(""));
  await writeFile(p("index.txt.attr"), "unique_subject = no\n");
  return {
    dir,
    certPem: p("ca.pem"),
    keyPem: p("ca.key"),
    indexPath: p("index.txt"),
    pem: await readFile(p("ca.pem"), "utf8"),
  };
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
