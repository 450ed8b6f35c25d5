// What the staple-file tests (test/e2e/staple*.e2e.test.ts, first-handshake.e2e.test.ts) share:
// HAProxy certificate files and crt-lists made from a test PKI, what a handshake stapled (as
// `openssl s_client -status` prints it), what a staple file holds, and the ExecStart line of a
// systemd unit as systemd would split it.

import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { LOOPBACK } from "./loopback.ts";
import type { Leaf, Pki } from "./pki.ts";
import { openssl } from "./processes.ts";

/**
 * HAProxy's layout for each leaf: `<dir>/<name>.pem` (the leaf, then the CA, so the issuer is
 * found in the file) and `<dir>/<name>.pem.key` (HAProxy 2.2+ reads `<crt>.key`). Returns the
 * certificate paths, in order.
 */
export async function writeHaproxyCerts(pki: Pki, dir: string, leaves: Leaf[]): Promise<string[]> {
  const caPem = await readFile(pki.caPem, "utf8");
  return Promise.all(
    leaves.map(async (leaf) => {
      const path = join(dir, `${leaf.name}.pem`);
      await writeFile(path, (await readFile(leaf.pem, "utf8")) + caPem);
      await writeFile(`${path}.key`, await readFile(leaf.key, "utf8"));
      return path;
    }),
  );
}

export interface Handshake {
  /** The server sent a staple (`OCSP Response Status: successful`). */
  stapled: boolean;
  /** The lines about the staple, for a test's log: "OCSP response: no response sent", or the status lines. */
  lines: string[];
  /** The stapled answer's "This Update: ..." line, when there is one. */
  thisUpdate: string | undefined;
  output: string;
}

/** One `openssl s_client -status` handshake with 127.0.0.1:`port`, SNI `servername`. */
export async function stapleHandshake(
  port: number,
  servername: string,
  caFile?: string,
): Promise<Handshake> {
  const r = await openssl(
    [
      "s_client", "-connect", `${LOOPBACK}:${port}`, "-status", "-servername", servername,
      ...(caFile ? ["-CAfile", caFile] : []),
    ], // prettier-ignore
    { timeoutMs: 10_000 },
  );
  const lines = r.output
    .split("\n")
    .map((l) => l.trim())
    .filter((l) =>
      /^(OCSP response:|OCSP Response Status:|Cert Status:|This Update:|Next Update:)/.test(l),
    );
  return {
    stapled: r.output.includes("OCSP Response Status: successful"),
    lines,
    thisUpdate: lines.find((l) => l.startsWith("This Update:")),
    output: r.output,
  };
}

/** The "This Update: ..." line of a DER staple file, as s_client prints it for a staple. */
export async function fileThisUpdate(path: string): Promise<string | undefined> {
  const r = await openssl(["ocsp", "-respin", path, "-resp_text", "-noverify"], {
    timeoutMs: 10_000,
  });
  return r.output
    .split("\n")
    .map((l) => l.trim())
    .find((l) => l.startsWith("This Update:"));
}

/** The ExecStart= lines of a unit file (continuation lines joined). */
export function unitExecStarts(unit: string): string[] {
  return unit
    .replace(/\\\n/g, " ")
    .split("\n")
    .flatMap((l) => (l.startsWith("ExecStart=") ? [l.slice("ExecStart=".length)] : []));
}

/**
 * A command line split into words as systemd does (systemd.service(5), "Command lines"): blanks
 * separate words, double or single quotes keep a word together, `\` escapes; `$$` is a literal
 * `$`. Prefixes (`-`, `@`, `+`, `!`) and variable expansion are not supported (none are used).
 */
export function splitCommandLine(line: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  let quote: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === "\\" && i + 1 < line.length) {
      word = (word ?? "") + line[++i]!;
    } else if (quote) {
      if (c === quote) quote = undefined;
      else word = (word ?? "") + c;
    } else if (c === '"' || c === "'") {
      quote = c;
      word ??= "";
    } else if (/\s/.test(c)) {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else if (c === "$" && line[i + 1] === "$") {
      word = (word ?? "") + "$";
      i++;
    } else {
      word = (word ?? "") + c;
    }
  }
  if (quote) throw new Error(`unterminated quote in: ${line}`);
  if (word !== undefined) words.push(word);
  return words;
}
