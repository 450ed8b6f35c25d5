// Telling the servers that a staple changed: HAProxy's runtime API (`set ssl ocsp-response
// <base64>` on its stats socket, HAProxy 2.x: the answer replaces the one of the certificate whose
// CertID it carries, no reload) and an operator's reload command (nginx reads
// ssl_stapling_file only when it starts or reloads).

import { spawn } from "node:child_process";
import net from "node:net";
import { toBase64 } from "../ocsp/bytes.ts";
import { parseHostPort } from "./args.ts";

/** HAProxy's answer to one command, or why there was none. */
export interface PushResult {
  ok: boolean;
  message: string;
}

/**
 * `set ssl ocsp-response <base64 DER>` over the stats socket (a Unix socket path, or host:port for
 * a TCP one), one connection per command as in HAProxy's non-interactive mode, bounded in time.
 */
export function pushOcspResponse(
  socket: string,
  der: Uint8Array,
  timeoutMs = 10_000,
): Promise<PushResult> {
  const tcp = parseHostPort(socket);
  return new Promise((done) => {
    const conn = tcp ? net.connect({ host: tcp.host, port: tcp.port }) : net.connect(socket);
    const chunks: Buffer[] = [];
    let settled = false;
    const finish = (r: PushResult) => {
      if (settled) return;
      settled = true;
      conn.destroy();
      done(r);
    };
    conn.setTimeout(timeoutMs, () => finish({ ok: false, message: "no answer (timed out)" }));
    conn.on("error", (e: NodeJS.ErrnoException) =>
      finish({ ok: false, message: `cannot connect: ${e.code ?? e.message}` }),
    );
    conn.on("connect", () => conn.end(`set ssl ocsp-response ${toBase64(der)}\n`));
    conn.on("data", (b: Buffer) => chunks.push(b));
    conn.on("close", () => {
      const message = Buffer.concat(chunks).toString("utf8").trim();
      // HAProxy 2.x says "OCSP Response updated!"; anything else is its reason for refusing.
      finish({ ok: /OCSP Response updated/i.test(message), message: message || "(no answer)" });
    });
  });
}

/** Advice for HAProxy's refusals, by what it said. */
export function pushAdvice(message: string): string {
  if (/does not match any certificate|not found/i.test(message))
    return "HAProxy before 2.8 takes a runtime update only for a certificate whose .ocsp file existed when it loaded it: reload HAProxy once (the file is in place now)";
  if (/permission|level/i.test(message))
    return 'the stats socket needs "level admin" (stats socket PATH mode 600 level admin)';
  if (/cannot connect/.test(message))
    return "is HAProxy running, and --haproxy-socket its stats socket? The file is written; HAProxy reads it on its next reload";
  return "the file is written; HAProxy reads it on its next reload";
}

/**
 * The operator's reload command, through `/bin/sh -c` (so it may be a pipeline), bounded in time;
 * its output is passed on to stderr.
 */
export function runReloadCommand(
  command: string,
  timeoutMs = 60_000,
): Promise<{ code: number | null }> {
  return new Promise((done) => {
    const child = spawn("/bin/sh", ["-c", command], { stdio: ["ignore", "pipe", "pipe"] });
    child.stdout.on("data", (b: Buffer) => process.stderr.write(b));
    child.stderr.on("data", (b: Buffer) => process.stderr.write(b));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", () => {
      clearTimeout(timer);
      done({ code: null });
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      done({ code });
    });
  });
}
