// Telling the servers that a staple changed: HAProxy's runtime API (`set ssl ocsp-response
// <base64>` on its stats socket, HAProxy 2.x: the answer replaces the one of the certificate whose
// CertID it carries, no reload) and an operator's reload command (nginx reads
// ssl_stapling_file only when it starts or reloads).

import { spawn } from "node:child_process";
import { existsSync, rmSync } from "node:fs";
import net from "node:net";
import { toBase64 } from "../ocsp/bytes.ts";
import { parseHostPort, say, writeFileAtomic } from "./args.ts";

/**
 * Beside a staple file whose change the servers may not have taken (its push to HAProxy or the
 * reload command failed): the next run pushes and reloads for it again, even if nothing changed,
 * until that succeeds.
 */
export const pendingMarker = (out: string) => `${out}.reload-pending`;

export const isPending = (out: string) => existsSync(pendingMarker(out));

/** Sets or clears the marker; a failure to do so is said, not thrown. */
export function setPending(out: string, pending: boolean, why = ""): void {
  const marker = pendingMarker(out);
  try {
    if (pending)
      writeFileAtomic(
        marker,
        `${new Date().toISOString()} ${why}\nocsp-relay staple pushes/reloads for ${out} again on its next run\n`,
      );
    else rmSync(marker, { force: true });
  } catch (e) {
    say(
      `ocsp-relay staple: cannot ${pending ? "write" : "remove"} ${marker}: ${e instanceof Error ? e.message : e}`,
    );
  }
}

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
 * its output is passed on to stderr. It is done when the shell exits, even if something it started
 * in the background still holds its output (`nginx -s reload & …`, a daemon it restarts): that
 * output is no longer waited for. It runs in its own process group, which is killed on timeout.
 */
export function runReloadCommand(
  command: string,
  timeoutMs = 60_000,
): Promise<{ code: number | null }> {
  return new Promise((done) => {
    const child = spawn("/bin/sh", ["-c", command], {
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    child.stdout.on("data", (b: Buffer) => process.stderr.write(b));
    child.stderr.on("data", (b: Buffer) => process.stderr.write(b));
    let settled = false;
    const settle = (code: number | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(drain);
      // Whatever still holds the pipes (a background process) must not keep this process alive.
      child.stdout.destroy();
      child.stderr.destroy();
      done({ code });
    };
    const timer = setTimeout(() => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL");
      } catch {
        child.kill("SIGKILL");
      }
    }, timeoutMs);
    let drain: NodeJS.Timeout | undefined;
    child.on("error", () => settle(null));
    // 'close' follows 'exit' once every holder of the pipes closed them; the shell's own last
    // output is read within a moment of its exit.
    child.on("exit", (code) => {
      drain = setTimeout(() => settle(code), 200);
    });
    child.on("close", (code) => settle(code));
  });
}
