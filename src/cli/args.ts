// Argument parsing and file reading shared by the CLI commands.

import { randomBytes } from "node:crypto";
import {
  closeSync,
  constants,
  fchmodSync,
  fsyncSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from "node:fs";
import { dirname, resolve } from "node:path";
import { parseArgs, type ParseArgsConfig } from "node:util";
import {
  parseCertificateFile,
  parsePemCertificates,
  type CertificateFacts,
} from "../ocsp/certificate.ts";

/** A mistake in how the command was called, or a file that cannot be read: exit code 2. */
export class UsageError extends Error {}

export function parse<T extends NonNullable<ParseArgsConfig["options"]>>(
  args: string[],
  options: T,
) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError(e instanceof Error ? e.message : String(e));
  }
}

export function readBytes(path: string, what: string): Uint8Array {
  try {
    return new Uint8Array(readFileSync(path));
  } catch (e) {
    throw new UsageError(`cannot read ${what} ${path}: ${(e as NodeJS.ErrnoException).code ?? e}`);
  }
}

export function readCertificate(path: string, what: string): CertificateFacts {
  const cert = parseCertificateFile(readBytes(path, what));
  if (!cert.ok) throw new UsageError(`${what} ${path} is not a certificate: ${cert.error.detail}`);
  return cert.value;
}

export function required(value: string | boolean | undefined, flag: string): string {
  if (typeof value !== "string" || value === "") throw new UsageError(`${flag} is required`);
  return value;
}

/** Every certificate in a PEM file (in file order), or the one certificate of a DER file. */
export function readCertificates(path: string, what: string): CertificateFacts[] {
  const bytes = readBytes(path, what);
  if (new TextDecoder().decode(bytes.subarray(0, 4096)).includes("-----BEGIN")) {
    const certs = parsePemCertificates(new TextDecoder().decode(bytes));
    if (!certs.ok)
      throw new UsageError(`${what} ${path} holds no readable certificate: ${certs.error.detail}`);
    return certs.value;
  }
  return [readCertificate(path, what)];
}

/** A relay base URL (http or https), without trailing slashes. */
export function relayUrl(value: string | boolean | undefined): string {
  const raw = required(value, "--relay");
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UsageError(
      `--relay ${raw} is not a URL (give the relay's base URL, e.g. http://relay.example.net)`,
    );
  }
  if (url.protocol !== "http:" && url.protocol !== "https:")
    throw new UsageError(`--relay must be an http:// or https:// URL, not ${url.protocol}`);
  if (url.search || url.hash)
    throw new UsageError("--relay is the relay's base URL: no query string or fragment");
  return url.toString().replace(/\/+$/, "");
}

/**
 * The relay's fleet key (`--fleet-key`, else $OCSP_RELAY_KEY), when its OCSP endpoint is closed
 * with OCSP_KEYS: OCSP requests then go under `/k/<key>/`. (`--key` is the TLS key in `config`.)
 */
export function fleetKey(value: string | boolean | undefined): string | undefined {
  const key = typeof value === "string" ? value : process.env.OCSP_RELAY_KEY;
  if (key === undefined || key === "") return undefined;
  if (!/^[A-Za-z0-9._~-]{16,256}$/.test(key))
    throw new UsageError(
      "the fleet key (--fleet-key or $OCSP_RELAY_KEY) must be 16 to 256 characters of A-Z a-z 0-9 . _ ~ -, as in the relay's OCSP_KEYS",
    );
  return key;
}

/** Where OCSP requests go: the relay's base URL, under `/k/<key>` when there is a fleet key. */
export function ocspBase(relay: string, key: string | undefined): string {
  return key ? `${relay}/k/${key}` : relay;
}

const UNIT_MS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `90s`, `30m`, `1h`, `1h30m`, `2d`; a bare number is seconds. */
export function parseDuration(value: string, flag: string): number {
  const text = value.trim().toLowerCase();
  if (/^\d+$/.test(text)) return Number(text) * 1_000;
  const parts = [...text.matchAll(/(\d+)([smhd])/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join("") !== text)
    throw new UsageError(`${flag} ${value} is not a duration (use e.g. 90s, 30m, 1h, 1h30m, 2d)`);
  return parts.reduce((ms, p) => ms + Number(p[1]) * UNIT_MS[p[2]!]!, 0);
}

/** A time span for people: the two largest units, e.g. "6d 23h", "9m 58s", "45s". */
export function formatDuration(ms: number): string {
  if (ms <= 0) return "0s";
  let rest = Math.floor(ms / 1_000);
  const units: [string, number][] = [
    ["d", 86_400],
    ["h", 3_600],
    ["m", 60],
    ["s", 1],
  ];
  const parts: string[] = [];
  for (const [unit, size] of units) {
    const n = Math.floor(rest / size);
    rest -= n * size;
    if (parts.length > 0 || n > 0) parts.push(`${n}${unit}`);
    if (parts.length === 2) break;
  }
  if (parts.length === 2 && parts[1]!.startsWith("0")) parts.pop();
  return parts.join(" ") || "0s";
}

/** `host:port`, `[v6]:port`: undefined when `text` has another form. */
export function parseHostPort(text: string): { host: string; port: number } | undefined {
  const m =
    text.match(/^\[([0-9a-fA-F:.]+)\]:(\d{1,5})$/) ?? text.match(/^([^\s:/[\]]+):(\d{1,5})$/);
  if (!m) return undefined;
  const port = Number(m[2]);
  return port > 0 && port < 65_536 ? { host: m[1]!, port } : undefined;
}

/** Progress and diagnostics go to stderr, so stdout stays the command's result. */
export function say(line: string): void {
  process.stderr.write(`${maskKey(line)}\n`);
}

/** A message with every fleet key in a URL (`/k/<key>`) masked, for logs and terminals. */
export function maskKey(text: string): string {
  return text.replace(/\/k\/[A-Za-z0-9._~%-]+/g, "/k/…");
}

/**
 * An HTTP body read from its stream, stopping (and cancelling the stream) as soon as it is over
 * `max` bytes: a hostile or broken peer cannot make the CLI buffer more than that.
 */
export async function readBodyCapped(
  res: Response,
  max: number,
): Promise<{ ok: true; bytes: Uint8Array } | { ok: false; over: number }> {
  const declared = Number(res.headers.get("content-length") ?? NaN);
  if (declared > max) {
    await res.body?.cancel().catch(() => {});
    return { ok: false, over: declared };
  }
  if (!res.body) return { ok: true, bytes: new Uint8Array(0) };
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > max) {
      await reader.cancel().catch(() => {});
      return { ok: false, over: total };
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    bytes.set(c, at);
    at += c.length;
  }
  return { ok: true, bytes };
}

/** A network failure for people: the error code and message, without a stack. */
export function networkError(e: unknown): string {
  if (e instanceof Error) {
    const cause = (e as Error & { cause?: unknown }).cause;
    if (e.name === "TimeoutError" || e.name === "AbortError") return "timed out";
    if (cause instanceof Error) return `${e.message} (${cause.message})`;
    return e.message;
  }
  return String(e);
}

/** Flags for a new temporary file: never an existing file, never through a symlink. */
const CREATE_NEW =
  constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY | (constants.O_NOFOLLOW ?? 0);

/**
 * Writes `data` so that readers see the old file or the new one, never a part: a new temporary
 * file in the same directory (a random name, created exclusively and never through a symlink, so
 * nothing planted there can redirect the write), fsync, rename over the target, then fsync of the
 * directory (best effort). The new file keeps the target's permissions (else 0644).
 */
export function writeFileAtomic(path: string, data: Uint8Array | string): void {
  const target = resolve(path);
  let mode = 0o644;
  try {
    const st = statSync(target);
    if (st.isFile()) mode = st.mode & 0o777;
  } catch {
    // No file yet: 0644.
  }
  let tmp: string | undefined;
  let fd: number | undefined;
  try {
    for (let attempt = 0; fd === undefined; attempt++) {
      const name = `${target}.tmp-${randomBytes(8).toString("hex")}`;
      try {
        fd = openSync(name, CREATE_NEW, mode);
        tmp = name;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EEXIST" || attempt >= 4) throw e;
      }
    }
    fchmodSync(fd, mode); // the umask does not narrow what the target had
    const bytes = typeof data === "string" ? Buffer.from(data) : data;
    for (let at = 0; at < bytes.length;) at += writeSync(fd, bytes, at, bytes.length - at);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp!, target);
  } catch (e) {
    if (fd !== undefined) closeSync(fd);
    if (tmp !== undefined) rmSync(tmp, { force: true });
    throw new UsageError(
      `cannot write ${path}: ${(e as NodeJS.ErrnoException).code ?? e} (check that the directory exists and is writable)`,
    );
  }
  try {
    const dir = openSync(dirname(target), "r");
    try {
      fsyncSync(dir);
    } finally {
      closeSync(dir);
    }
  } catch {
    // Some filesystems refuse fsync on a directory; the rename itself is still atomic.
  }
}

/** The relay's ADMIN_TOKEN, from --token or $OCSP_RELAY_TOKEN (kept out of the process list). */
export function adminToken(given: string | undefined): string {
  const token = given ?? process.env.OCSP_RELAY_TOKEN;
  if (!token)
    throw new UsageError(
      "--token is required (the relay's ADMIN_TOKEN; or set OCSP_RELAY_TOKEN to keep it out of the process list)",
    );
  return token;
}
