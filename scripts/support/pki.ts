// A throwaway PKI made with the openssl CLI at test time (the e2e tests and the benchmark), so
// nothing depends on how long ago the checked-in fixtures (scripts/fixtures/generate.sh) were made:
// root -> CA (signs its own OCSP answers) -> leaves, and the CA's database in `openssl ca` index
// format, which `openssl ocsp -index` answers from (a serial can be listed without a certificate).

import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { runOk } from "./processes.ts";

export type LeafState = "good" | "revoked" | "absent";

export interface LeafSpec {
  /** File stem: `<name>.pem`, `<name>.key`. */
  name: string;
  /** In the CA database as valid (default), revoked, or absent (the CA answers "unknown"). */
  state?: LeafState;
}

export interface Leaf {
  name: string;
  pem: string;
  key: string;
  /** Serial number as the openssl CLI prints it (uppercase hex). */
  serial: string;
  state: LeafState;
}

export interface PkiOptions {
  /** Validity of every certificate, from now (default 30). */
  days?: number;
  /** Key type of every certificate: RSA 2048 (default) or EC P-256 (the cheapest for openssl). */
  key?: "rsa" | "ec";
  /** The O= of every subject and the start of the CA names (default "ocsp-relay e2e"). */
  org?: string;
  /**
   * Subjects with the CN alone, no C= or O=: the smallest certificates and responder IDs (the
   * benchmark's answers carry the CA's certificate and name, and their size is measured).
   */
  cnOnly?: boolean;
}

export interface Pki {
  dir: string;
  rootPem: string;
  caPem: string;
  caKey: string;
  /** root + CA, for `openssl ocsp -CAfile` and nginx's ssl_trusted_certificate. */
  chainPem: string;
  /** The CA database (`openssl ca` index.txt format); edit it to change what the CA answers. */
  indexPath: string;
  key: "rsa" | "ec";
  /** The subject of a certificate with this CN, as every certificate here has it. */
  subject(cn: string): string;
  leaves: Record<string, Leaf>;
  leaf(name: string): Leaf;
}

const OPENSSL_CNF = `[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca_ext]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign,digitalSignature
subjectKeyIdentifier = hash
[leaf_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost,IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
`;

const newKeyArgs = (key: "rsa" | "ec") =>
  key === "rsa"
    ? ["-newkey", "rsa:2048"]
    : ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"];

/**
 * root -> CA -> one leaf per spec, valid `days` days from now; leaf serials are 0x1001, 0x1002, ...
 * in spec order. Keys are made in parallel.
 */
export async function makePki(
  dir: string,
  specs: LeafSpec[],
  { days = 30, key = "rsa", org = "ocsp-relay e2e", cnOnly = false }: PkiOptions = {},
): Promise<Pki> {
  await mkdir(dir, { recursive: true });
  const cnf = join(dir, "openssl.cnf");
  await writeFile(cnf, OPENSSL_CNF);
  const p = (f: string) => join(dir, f);
  const subj = (cn: string) => (cnOnly ? `/CN=${cn}` : `/C=XX/O=${org}/CN=${cn}`);
  const newKeyAndCsr = (stem: string, cn: string) =>
    runOk("openssl", [
      "req", "-new", ...newKeyArgs(key), "-nodes", "-config", cnf,
      "-keyout", p(`${stem}.key`), "-out", p(`${stem}.csr`), "-subj", subj(cn),
    ]); // prettier-ignore
  const sign = (stem: string, ca: string | null, serial: string, ext: string) =>
    runOk("openssl", [
      "x509", "-req", "-in", p(`${stem}.csr`), "-out", p(`${stem}.pem`), "-days", String(days),
      "-set_serial", `0x${serial}`, "-extfile", cnf, "-extensions", ext,
      ...(ca ? ["-CA", p(`${ca}.pem`), "-CAkey", p(`${ca}.key`)] : ["-signkey", p(`${stem}.key`)]),
    ]); // prettier-ignore

  await Promise.all([
    newKeyAndCsr("root", `${org} Root`),
    newKeyAndCsr("ca", `${org} ${key === "rsa" ? "RSA" : "EC"} CA`),
    ...specs.map((s) => newKeyAndCsr(s.name, `${s.name}.e2e.test`)),
  ]);
  await sign("root", null, "01", "ca_ext");
  await sign("ca", "root", "02", "ca_ext");
  const leaves: Record<string, Leaf> = {};
  await Promise.all(
    specs.map(async (s, i) => {
      const serial = (0x1001 + i).toString(16).toUpperCase();
      await sign(s.name, "ca", serial, "leaf_ext");
      leaves[s.name] = {
        name: s.name,
        pem: p(`${s.name}.pem`),
        key: p(`${s.name}.key`),
        serial,
        state: s.state ?? "good",
      };
    }),
  );
  const chainPem = p("chain.pem");
  await writeFile(
    chainPem,
    (await readFile(p("root.pem"), "utf8")) + (await readFile(p("ca.pem"), "utf8")),
  );

  const now = Date.now();
  const lines = Object.values(leaves)
    .sort((a, b) => a.serial.localeCompare(b.serial))
    .flatMap(({ state, serial, name }) =>
      state === "absent"
        ? []
        : [indexEntry(state, now + days * 86_400_000, serial, subj(`${name}.e2e.test`), now)],
    );
  const indexPath = p("index.txt");
  await writeFile(indexPath, lines.map((l) => `${l}\n`).join(""));
  await writeFile(p("index.txt.attr"), "unique_subject = no\n");

  return {
    dir,
    rootPem: p("root.pem"),
    caPem: p("ca.pem"),
    caKey: p("ca.key"),
    chainPem,
    indexPath,
    key,
    subject: subj,
    leaves,
    leaf(name) {
      const leaf = leaves[name];
      if (!leaf) throw new Error(`no leaf "${name}" in the test PKI`);
      return leaf;
    },
  };
}

export interface IssuedLeafSpec {
  /** File stem: `<name>.pem`, `<name>.key`. */
  name: string;
  /** Serial in uppercase hex; makePki uses 1001 upwards, so pick another range. */
  serial: string;
  state?: LeafState;
  /** The AIA id-ad-ocsp URL (RFC 5280 §4.2.2.1). */
  ocspUrl?: string;
  /**
   * A CRL distribution point (RFC 5280 §4.2.1.13). With no `ocspUrl`, a CRL-only certificate, as
   * Let's Encrypt has issued since 2025: its status is in `makeCrl`'s CRL, never in an OCSP answer.
   */
  crlUrl?: string;
  /** RFC 7633 TLS Feature status_request ("Must-Staple"). */
  mustStaple?: boolean;
  days?: number;
}

/** One more leaf from the PKI's CA, entered in the CA's index so its responder knows it. */
export async function issueLeaf(pki: Pki, spec: IssuedLeafSpec): Promise<Leaf> {
  const p = (f: string) => join(pki.dir, f);
  const days = spec.days ?? 30;
  const state = spec.state ?? "good";
  const ext = [
    "[ext]",
    "basicConstraints = critical,CA:FALSE",
    "keyUsage = critical,digitalSignature,keyEncipherment",
    "extendedKeyUsage = serverAuth",
    "subjectAltName = DNS:localhost,IP:127.0.0.1",
    "subjectKeyIdentifier = hash",
    "authorityKeyIdentifier = keyid",
    ...(spec.ocspUrl ? [`authorityInfoAccess = OCSP;URI:${spec.ocspUrl}`] : []),
    ...(spec.crlUrl ? [`crlDistributionPoints = URI:${spec.crlUrl}`] : []),
    ...(spec.mustStaple ? ["tlsfeature = status_request"] : []),
  ].join("\n");
  await writeFile(p(`${spec.name}.ext`), `${ext}\n`);
  const subject = pki.subject(`${spec.name}.e2e.test`);
  await runOk("openssl", [
    "req", "-new", ...newKeyArgs(pki.key), "-nodes", "-config", p("openssl.cnf"),
    "-keyout", p(`${spec.name}.key`), "-out", p(`${spec.name}.csr`), "-subj", subject,
  ]); // prettier-ignore
  await runOk("openssl", [
    "x509", "-req", "-in", p(`${spec.name}.csr`), "-out", p(`${spec.name}.pem`),
    "-days", String(days), "-set_serial", `0x${spec.serial}`,
    "-extfile", p(`${spec.name}.ext`), "-extensions", "ext",
    "-CA", pki.caPem, "-CAkey", pki.caKey,
  ]); // prettier-ignore
  if (state !== "absent") {
    const now = Date.now();
    const line = indexEntry(state, now + days * 86_400_000, spec.serial, subject, now);
    await writeFile(pki.indexPath, `${line}\n`, { flag: "a" });
  }
  const leaf: Leaf = {
    name: spec.name,
    pem: p(`${spec.name}.pem`),
    key: p(`${spec.name}.key`),
    serial: spec.serial,
    state,
  };
  pki.leaves[spec.name] = leaf;
  return leaf;
}

export interface CrlSpec {
  /** The DER CRL written (a PEM copy beside it, `<out>.pem`). */
  out: string;
  /** nextUpdate = thisUpdate + this many seconds (default a day). */
  validSeconds?: number;
  /** The signer: the CA (default), or an impostor's certificate and key, to forge a CRL. */
  signerPem?: string;
  signerKey?: string;
}

/**
 * A CRL over the CA's index (`openssl ca -gencrl`): every `R` entry with its revocation date and
 * reason, a cRLNumber from the PKI's `crlnumber` file (one more each time, whoever signs) and the
 * signer's authorityKeyIdentifier. Returns `out`.
 */
export async function makeCrl(pki: Pki, spec: CrlSpec): Promise<string> {
  const p = (f: string) => join(pki.dir, f);
  const cnf = p("ca-crl.cnf");
  if (!existsSync(cnf)) {
    await writeFile(
      cnf,
      [
        "[ca]", "default_ca = crl_ca", "[crl_ca]", `database = ${pki.indexPath}`,
        `crlnumber = ${p("crlnumber")}`, "default_md = sha256", "crl_extensions = crl_ext",
        "[crl_ext]", "authorityKeyIdentifier = keyid:always", "",
      ].join("\n"), // prettier-ignore
    );
    await writeFile(p("crlnumber"), "1000\n");
  }
  await runOk("openssl", [
    "ca", "-batch", "-gencrl", "-config", cnf, "-cert", spec.signerPem ?? pki.caPem,
    "-keyfile", spec.signerKey ?? pki.caKey, "-crlsec", String(spec.validSeconds ?? 86_400),
    "-out", `${spec.out}.pem`,
  ]); // prettier-ignore
  await runOk("openssl", ["crl", "-in", `${spec.out}.pem`, "-outform", "DER", "-out", spec.out]);
  return spec.out;
}

/**
 * Lists `serials` in the CA's index as valid until `expiresAt` without issuing certificates: its
 * responder answers `good` for each (the benchmark builds its requests from CertIDs).
 */
export async function listSerials(pki: Pki, serials: number[], expiresAt: number): Promise<void> {
  const sorted = [...new Set(serials)].sort((a, b) => a - b);
  await writeFile(pki.indexPath, sorted.map((n) => `${indexLine(n, expiresAt)}\n`).join(""), {
    flag: "a",
  });
}

// ---------------------------------------------------------------------------------------------
// The `openssl ca` index format

/** The content octets of a positive INTEGER (minimal, with a leading 0x00 if the top bit is set). */
export function serialOctets(n: number): Uint8Array {
  if (!Number.isSafeInteger(n) || n <= 0)
    throw new RangeError(`serial ${n} must be a positive integer`);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v % 256);
  if (bytes[0]! >= 0x80) bytes.unshift(0);
  return new Uint8Array(bytes);
}

/** The serial as `openssl ca`'s index has it (OpenSSL's BN_bn2hex: uppercase, even length). */
export function indexSerial(n: number): string {
  return [...serialOctets(n)]
    .map((b) => b.toString(16).padStart(2, "0"))
    .join("")
    .replace(/^00(?=[89A-Fa-f])/, "")
    .toUpperCase();
}

/** YYMMDDHHMMSSZ, the date format of an `openssl ca` index. */
export function indexDate(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace(/^\d\d(\d\d)-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d).*$/, "$1$2$3$4$5$6Z");
}

/** One index entry: V (valid) or R (revoked a minute before `now`, keyCompromise). */
export function indexEntry(
  state: "good" | "revoked",
  expiresAt: number,
  serialHex: string,
  subject: string,
  now = Date.now(),
): string {
  return [
    state === "revoked" ? "R" : "V",
    indexDate(expiresAt),
    state === "revoked" ? `${indexDate(now - 60_000)},keyCompromise` : "",
    serialHex,
    "unknown",
    subject,
  ].join("\t");
}

/** A valid (`V`) entry of the index for serial `n`, listed without a certificate. */
export function indexLine(n: number, expiresAt: number): string {
  return indexEntry("good", expiresAt, indexSerial(n), `/CN=bench-${n}`);
}
