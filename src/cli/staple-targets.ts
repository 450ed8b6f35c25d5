// Which certificates `ocsp-relay staple` keeps stapled and where each staple goes: certificate
// files, directories of them, HAProxy crt-lists (the staple of `<crt>` is `<crt>.ocsp` beside it,
// HAProxy's convention), each leaf paired with its issuer (the CertID needs the issuer's name and
// key, RFC 6960 §4.1.1).

import { readdirSync, realpathSync, statSync } from "node:fs";
import { basename, dirname, isAbsolute, join, resolve } from "node:path";
import type { CertificateFacts } from "../ocsp/certificate.ts";
import { readBytes, readCertificates, UsageError } from "./args.ts";
import { findIssuer, leafOf, type Sourced } from "./pki.ts";

/** A certificate whose staple is kept fresh. */
export interface Target {
  /** The certificate file, as HAProxy or nginx loads it. */
  cert: string;
  /** The staple file. */
  out: string;
  leaf: CertificateFacts;
  issuer: CertificateFacts;
}

/** A certificate that was listed but cannot be stapled as it is (counted as failed). */
export interface Problem {
  cert: string;
  out: string;
  why: string;
}

export interface CrtListEntry {
  /** The certificate path, resolved against `crtBase`. */
  path: string;
  line: number;
}

/**
 * The certificate paths of a HAProxy crt-list, as HAProxy reads it (ssl_crtlist.c): one entry a
 * line, `<crtfile> [[ssl options]] [sni filters]`; a line starting with `#` and an empty line are
 * skipped; the path ends at the first blank or `[`. A relative path is resolved against
 * `crtBase` (HAProxy's `crt-base`). Paths starting with `@` name a crt-store entry, not a file:
 * they are returned in `skipped`.
 */
export function parseCrtList(
  text: string,
  crtBase: string,
): { entries: CrtListEntry[]; skipped: { line: number; path: string }[] } {
  const entries: CrtListEntry[] = [];
  const skipped: { line: number; path: string }[] = [];
  text.split("\n").forEach((raw, i) => {
    const line = raw.replace(/\r$/, "");
    if (line.startsWith("#")) return;
    const path = line.trimStart().match(/^[^\s[]+/)?.[0];
    if (!path) return;
    if (path.startsWith("@")) skipped.push({ line: i + 1, path });
    else entries.push({ path: isAbsolute(path) ? path : join(crtBase, path), line: i + 1 });
  });
  return { entries, skipped };
}

/** Files in a certificate directory that are not certificates (HAProxy skips the same ones). */
const NOT_A_CERTIFICATE = /(^\.)|\.(ocsp|key|issuer|sctl|reload-pending)$|\.tmp-[0-9a-f]+$/;

export interface Inputs {
  /** Positional arguments: certificate files or directories. */
  paths: readonly string[];
  crtLists: readonly string[];
  crtBase: string | undefined;
  /** --issuer: searched first for every certificate. */
  issuerFile: string | undefined;
  /** --out: the staple file when there is exactly one certificate. */
  out: string | undefined;
}

/**
 * Every certificate to staple, deduplicated by path. A certificate file named on the command line
 * that cannot be used is a usage error (exit 2); one found in a directory or crt-list is a
 * `Problem`, so one bad entry does not stop the others. The issuer is looked for in --issuer,
 * then after the leaf in the same file (fullchain, HAProxy's bundle), then in `<crt>.issuer`
 * (HAProxy's convention), then, for a directory, in its other files.
 */
export async function collectTargets(
  o: Inputs,
): Promise<{ targets: Target[]; problems: Problem[]; notes: string[] }> {
  const issuers: Sourced[] = o.issuerFile
    ? readCertificates(o.issuerFile, "--issuer").map((cert) => ({ cert, source: o.issuerFile! }))
    : [];
  const found: { cert: string; named: boolean; dirPool?: Sourced[] }[] = [];
  const notes: string[] = [];
  for (const path of o.paths) {
    if (isDirectory(path)) found.push(...scanDirectory(path, notes));
    else found.push({ cert: path, named: true });
  }
  for (const list of o.crtLists) {
    const text = new TextDecoder().decode(readBytes(list, "crt-list"));
    const { entries, skipped } = parseCrtList(text, o.crtBase ?? dirname(resolve(list)));
    for (const s of skipped)
      notes.push(`${list}:${s.line}: ${s.path} is a crt-store entry, not a file: skipped`);
    found.push(...entries.map((e) => ({ cert: e.path, named: false })));
  }
  const seen = new Set<string>();
  const unique = found.filter((f) => !seen.has(resolve(f.cert)) && seen.add(resolve(f.cert)));
  if (unique.length === 0)
    throw new UsageError(
      "no certificate to staple: give certificate files, a directory, or --crt-list FILE",
    );
  if (o.out && unique.length > 1)
    throw new UsageError(
      `--out names the staple of one certificate, and there are ${unique.length}: leave it out to write <certificate>.ocsp beside each`,
    );

  if (o.out) {
    const out = canonical(o.out);
    const inputs = [
      ...unique.flatMap((f) => [f.cert, `${f.cert}.issuer`]),
      ...(o.issuerFile ? [o.issuerFile] : []),
      ...o.crtLists,
    ];
    const clash = inputs.find((path) => canonical(path) === out);
    if (clash)
      throw new UsageError(
        `--out ${o.out} is ${clash}, an input: the staple goes to a file of its own (leave --out out to write ${unique[0]!.cert}.ocsp)`,
      );
  }
  const targets: Target[] = [];
  const problems: Problem[] = [];
  for (const f of unique) {
    const out = o.out ?? `${f.cert}.ocsp`;
    try {
      targets.push({ cert: f.cert, out, ...(await pair(f.cert, issuers, f.dirPool ?? [], o)) });
    } catch (e) {
      if (f.named || !(e instanceof UsageError)) throw e;
      problems.push({ cert: f.cert, out, why: e.message });
    }
  }
  return { targets, problems, notes };
}

/** The path with symlinks resolved where it exists, so two names of one file compare equal. */
function canonical(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return resolve(path);
  }
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false; // read as a file, which says what is wrong with it
  }
}

/**
 * A directory's certificates (not recursive): every regular file except dotfiles and HAProxy's
 * side files; a file holding only CA certificates is an issuer for the others, not a target; a
 * file with no certificate is skipped.
 */
function scanDirectory(
  dir: string,
  notes: string[],
): { cert: string; named: false; dirPool: Sourced[] }[] {
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch (e) {
    throw new UsageError(`cannot read directory ${dir}: ${(e as NodeJS.ErrnoException).code ?? e}`);
  }
  const pool: Sourced[] = [];
  const leaves: string[] = [];
  let skipped = 0;
  for (const name of names) {
    const path = join(dir, name);
    if (NOT_A_CERTIFICATE.test(name) || !isFile(path)) continue;
    let certs: CertificateFacts[];
    try {
      certs = readCertificates(path, "certificate file");
    } catch {
      skipped++;
      continue;
    }
    pool.push(...certs.filter((c) => c.isCA).map((cert) => ({ cert, source: path })));
    if (leafOf(certs)) leaves.push(path);
  }
  if (skipped > 0)
    notes.push(`${dir}: ${skipped} file${skipped === 1 ? "" : "s"} without a certificate skipped`);
  return leaves.map((cert) => ({ cert, named: false, dirPool: pool }));
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

async function pair(
  cert: string,
  issuers: readonly Sourced[],
  dirPool: readonly Sourced[],
  o: Inputs,
): Promise<{ leaf: CertificateFacts; issuer: CertificateFacts }> {
  const certs = readCertificates(cert, "certificate file");
  const leaf = leafOf(certs);
  if (!leaf)
    throw new UsageError(
      `${cert} holds only CA certificates: give the leaf (followed by its issuer, as in a fullchain file)`,
    );
  const own = certs.map((c) => ({ cert: c, source: cert }));
  const beside = isFile(`${cert}.issuer`)
    ? readCertificates(`${cert}.issuer`, "issuer file").map((c) => ({
        cert: c,
        source: `${cert}.issuer`,
      }))
    : [];
  const issuer = await findIssuer(leaf, [...issuers, ...own, ...beside, ...dirPool]);
  if (issuer) return { leaf, issuer: issuer.cert };
  throw new UsageError(
    o.issuerFile
      ? `${o.issuerFile} did not issue "${leaf.subjectText}" of ${basename(cert)} (its issuer is "${leaf.issuerText}"): give the right --issuer`
      : `the issuer of "${leaf.subjectText}" is not in ${cert}${dirPool.length > 0 ? " nor in its directory" : ""}: give --issuer issuer.pem, use the fullchain file, or put the issuer in ${basename(cert)}.issuer`,
  );
}
