// Trust anchors for the operator commands: Node's bundled root store, then the operating system's
// store (the CA bundle file and certificate directories OpenSSL and curl read), each root labelled
// with where it was found, so `chain` can say which store vouched for a path (RFC 5280 §6.1.1 (d)).
// Node's bundled store is Mozilla's list at Node's release; distributions keep roots longer (Node
// 22.23 no longer carries "DigiCert Global Root CA"; Debian's ca-certificates still does).

import { existsSync, readdirSync, readFileSync, realpathSync, statSync } from "node:fs";
import { join } from "node:path";
import * as tls from "node:tls";
import {
  parsePemCertificates,
  pemCertificateBodies,
  type CertificateFacts,
} from "../ocsp/certificate.ts";

/** A certificate together with where it was found ("served", "--ca-file roots.pem", ...). */
export interface Sourced {
  cert: CertificateFacts;
  source: string;
}

export const NODE_STORE = "Node's root store";

/**
 * CA bundle files, one per family of systems (Debian/Ubuntu, Fedora/RHEL, openSUSE, Alpine/BSD/
 * macOS). `SSL_CERT_FILE` replaces them, as it does for OpenSSL.
 */
export const SYSTEM_BUNDLE_FILES = [
  "/etc/ssl/certs/ca-certificates.crt",
  "/etc/pki/tls/certs/ca-bundle.crt",
  "/etc/ssl/ca-bundle.pem",
  "/etc/ssl/cert.pem",
];

/**
 * Directories of one-root-per-file certificates: OpenSSL's hashed directory, and the Mozilla set
 * ca-certificates installs. `SSL_CERT_DIR` (colon-separated) replaces them, as it does for OpenSSL.
 */
export const SYSTEM_CERT_DIRS = ["/etc/ssl/certs", "/usr/share/ca-certificates/mozilla"];

export interface RootStoreOptions {
  /** Environment read for SSL_CERT_FILE, SSL_CERT_DIR, NODE_EXTRA_CA_CERTS (default: process.env). */
  env?: Env;
  /** Include Node's bundled store (default true). */
  node?: boolean;
  /** Include the system store: files, directories and Node's view of it (default true). */
  system?: boolean;
}

export interface RootStore {
  /** Every root, once (the first place it was found wins), in the order searched. */
  roots: Sourced[];
  /** What was searched, for messages: "Node's root store", "system store /etc/ssl/certs/...". */
  searched: string[];
}

/** One PEM body per certificate, whitespace removed: the key that finds the same root twice. */
const pemBlocks = pemCertificateBodies;

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, "latin1");
  } catch {
    return undefined;
  }
}

/** The certificate files of a directory (the hashed links `abcd1234.0` resolve to the same files). */
function certFiles(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch {
    return [];
  }
  const seen = new Set<string>();
  const files: string[] = [];
  for (const name of names) {
    if (!/\.(pem|crt|cer|\d+)$/i.test(name)) continue;
    const path = join(dir, name);
    let real: string;
    try {
      real = realpathSync(path);
      if (!statSync(real).isFile()) continue;
    } catch {
      continue;
    }
    if (seen.has(real)) continue;
    seen.add(real);
    files.push(path);
  }
  return files;
}

type Add = (pems: string[], source: string) => void;
type Env = Readonly<Record<string, string | undefined>>;

/**
 * Node's bundled roots, the system's, then NODE_EXTRA_CA_CERTS, deduplicated by their bytes (a
 * root in several stores is reported from the first). Unreadable files and certificates are
 * skipped: a store is a hint for building paths, and every link of a path is still checked by
 * signature.
 */
export function loadRoots(options: RootStoreOptions = {}): RootStore {
  const env = options.env ?? process.env;
  const seen = new Set<string>();
  const roots: Sourced[] = [];
  const searched: string[] = [];
  const add: Add = (pems, source) => {
    for (const body of pems) {
      if (seen.has(body)) continue;
      seen.add(body);
      const certs = parsePemCertificates(
        `-----BEGIN CERTIFICATE-----\n${body}\n-----END CERTIFICATE-----\n`,
      );
      if (certs.ok) for (const cert of certs.value) roots.push({ cert, source });
    }
  };

  if (options.node ?? true) {
    add(tls.rootCertificates.flatMap(pemBlocks), NODE_STORE);
    searched.push(NODE_STORE);
  }
  if (options.system ?? true) searched.push(...searchSystem(env, add));
  // Roots the operator gave Node itself: Node's TLS trusts them on every connection.
  const extra = env.NODE_EXTRA_CA_CERTS;
  const extraText = extra ? readText(extra) : undefined;
  if (extra && extraText !== undefined) {
    add(pemBlocks(extraText), `NODE_EXTRA_CA_CERTS ${extra}`);
    searched.push(`NODE_EXTRA_CA_CERTS ${extra}`);
  }
  return { roots, searched };
}

/** The system store's bundle files, then its directories, then Node's view of the platform store. */
function searchSystem(env: Env, add: Add): string[] {
  const searched: string[] = [];
  const bundles = env.SSL_CERT_FILE ? [env.SSL_CERT_FILE] : SYSTEM_BUNDLE_FILES;
  for (const file of bundles) {
    const text = existsSync(file) ? readText(file) : undefined;
    if (text === undefined) continue;
    add(pemBlocks(text), `system store ${file}`);
    searched.push(`system store ${file}`);
  }
  const dirs = env.SSL_CERT_DIR ? env.SSL_CERT_DIR.split(":").filter(Boolean) : SYSTEM_CERT_DIRS;
  for (const dir of dirs) {
    const files = certFiles(dir);
    if (files.length === 0) continue;
    for (const file of files) add(pemBlocks(readText(file) ?? ""), `system store ${file}`);
    searched.push(`system store ${dir}/`);
  }
  // Node >= 22.15 reads the platform's store itself (the keychain on macOS, the Windows store);
  // on Linux it reads the files above, so it adds nothing there. Skipped when SSL_CERT_FILE or
  // SSL_CERT_DIR say exactly where the system store is.
  if (typeof tls.getCACertificates === "function" && !env.SSL_CERT_FILE && !env.SSL_CERT_DIR) {
    let pems: string[] = [];
    try {
      pems = tls.getCACertificates("system");
    } catch {
      // an unreadable platform store is an empty one
    }
    add(pems.flatMap(pemBlocks), "system store (Node's tls.getCACertificates)");
    searched.push("system store (Node's tls.getCACertificates)");
  }
  return searched;
}

/**
 * What was searched, for messages: "Node's root store, the system store
 * (/etc/ssl/certs/ca-certificates.crt, /etc/ssl/certs/)".
 */
export function describeSearched(store: RootStore): string {
  const system = store.searched
    .filter((s) => s.startsWith("system store "))
    .map((s) => s.slice("system store ".length).replace(/^\((.*)\)$/, "$1"));
  const parts = store.searched.filter((s) => !s.startsWith("system store "));
  if (system.length > 0)
    parts.splice(parts[0] === NODE_STORE ? 1 : 0, 0, `the system store (${system.join(", ")})`);
  return parts.length > 0 ? parts.join(", ") : "no root store";
}
