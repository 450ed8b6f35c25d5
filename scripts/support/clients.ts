// The clients the tests drive against the relay and its peers: openssl's OCSP client and
// s_client, curl (never through a proxy), and the project's own CLI (bin/ocsp-relay.js).

import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { assertLoopbackUrl, LOOPBACK } from "./loopback.ts";
import { openssl, REPO_ROOT, run, runOk, type RunOptions, type RunResult } from "./processes.ts";

/**
 * `openssl ocsp -issuer -cert -url -CAfile` (openssl 3.0's client always POSTs). The verdict line
 * is `<cert path>: good|revoked|unknown`; "Response verify OK" goes to stderr, both are in `output`.
 */
export async function opensslOcspClient(o: {
  url: string;
  issuer: string;
  cert: string;
  caFile: string;
  nonce?: boolean;
  extra?: string[];
}): Promise<RunResult> {
  assertLoopbackUrl(o.url);
  return openssl(
    [
      "ocsp", "-issuer", o.issuer, "-cert", o.cert, "-url", o.url, "-CAfile", o.caFile,
      "-timeout", "15", ...(o.nonce === false ? ["-no_nonce"] : []), ...(o.extra ?? []),
    ], // prettier-ignore
    { timeoutMs: 20_000 },
  );
}

export interface CurlResult {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  ms: number;
}

/** One curl exchange (never through a proxy), bounded to 15 s; header names are lowercased. */
export async function curl(url: string, args: string[], scratchDir: string): Promise<CurlResult> {
  assertLoopbackUrl(url);
  const id = `${Date.now()}-${Math.random().toString(36).slice(2)}`;
  const headerFile = join(scratchDir, `curl-${id}.headers`);
  const bodyFile = join(scratchDir, `curl-${id}.body`);
  const result = await runOk(
    "curl",
    ["-sS", "--noproxy", "*", "--max-time", "15", "-D", headerFile, "-o", bodyFile, ...args, url],
    { timeoutMs: 20_000 },
  );
  const headerText = await readFile(headerFile, "utf8");
  const lines = headerText.split(/\r?\n/);
  const status = Number(lines[0]?.split(" ")[1]);
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const at = line.indexOf(":");
    if (at > 0) headers[line.slice(0, at).trim().toLowerCase()] = line.slice(at + 1).trim();
  }
  return { status, headers, body: await readFile(bodyFile), ms: result.ms };
}

const CLI = join(REPO_ROOT, "bin", "ocsp-relay.js");

/** `ocsp-relay request --issuer --cert --url BASE`: the RFC 6960 GET URL for the certificate. */
export async function relayGetUrl(base: string, issuer: string, cert: string): Promise<string> {
  const r = await runOk(process.execPath, [
    CLI,
    "request",
    "--issuer",
    issuer,
    "--cert",
    cert,
    "--url",
    base,
  ]);
  return assertLoopbackUrl(r.stdout.trim()).toString();
}

export interface CliVerdict {
  ok: boolean;
  status?: "good" | "revoked" | "unknown";
  reason?: string;
  [field: string]: unknown;
}

/** `ocsp-relay verify --response --issuer --cert --json`: the relay's own verdict on a response. */
export async function cliVerify(
  response: string,
  issuer: string,
  cert: string,
): Promise<CliVerdict> {
  const r = await run(process.execPath, [
    CLI, "verify", "--response", response, "--issuer", issuer, "--cert", cert, "--json",
  ]); // prettier-ignore
  const last = r.stdout.trim().split("\n").at(-1) ?? "";
  try {
    return JSON.parse(last) as CliVerdict;
  } catch {
    throw new Error(`ocsp-relay verify printed no JSON (exit ${r.code}):\n${r.output}`);
  }
}

/**
 * One `openssl s_client -status` handshake against 127.0.0.1:`port` (stdin closed at once); with
 * `caFile` the server's chain is verified too ("Verify return code: 0 (ok)").
 */
export function sClientStatus(port: number, caFile?: string): Promise<RunResult> {
  return openssl(
    [
      "s_client", "-connect", `${LOOPBACK}:${port}`, "-status", "-servername", "localhost",
      ...(caFile ? ["-CAfile", caFile] : []),
    ], // prettier-ignore
    { timeoutMs: 10_000 },
  );
}

/** `ocsp-relay <args>` on this Node, bounded in time (60 s); never throws for an exit code. */
export function cli(args: string[], options: RunOptions = {}): Promise<RunResult> {
  return run(process.execPath, [CLI, ...args], { timeoutMs: 60_000, ...options });
}
