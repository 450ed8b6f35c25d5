// `ocsp-relay chain` and where roots come from: Node's bundled store and the system store
// (/etc/ssl/certs, as OpenSSL and curl read it), and what it says about certificates that have no
// OCSP responder (CRL-only, or neither). The seed's DigiCert chain (test/fixtures/seed) and the
// CRLDP fixtures (scripts/fixtures/crldp.sh), run through the CLI as an operator would.

import { existsSync, readFileSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { once } from "node:events";
import { join } from "node:path";
import * as tls from "node:tls";
import { beforeAll, describe, expect, test } from "vitest";
import {
  childEnv,
  cli,
  LOOPBACK,
  REPO_ROOT,
  runOk,
  type RunResult,
} from "../../scripts/support/index.ts";
import { E2eFiles } from "./files.ts";

const SEED = join(REPO_ROOT, "test/fixtures/seed");
const CRLDP = join(REPO_ROOT, "test/fixtures/crldp");
const SYSTEM_BUNDLE = "/etc/ssl/certs/ca-certificates.crt";
const CRL_URL = "http://127.0.0.1:8889/crldp-ca.crl";

const pemBodies = (text: string) =>
  [...text.matchAll(/-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g)].map((m) =>
    m[1]!.replace(/\s+/g, ""),
  );
const show = (title: string, r: RunResult) =>
  console.log(`e2e: ${title} -> exit ${r.code}\n--- stdout\n${r.stdout}--- stderr\n${r.stderr}`);

/**
 * The environment of a fresh machine: no SSL_CERT_FILE / SSL_CERT_DIR / NODE_EXTRA_CA_CERTS from
 * the developer's shell, so the system store is found where Debian puts it. `extra` sets them.
 */
function storeEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = childEnv();
  delete env.SSL_CERT_FILE;
  delete env.SSL_CERT_DIR;
  delete env.NODE_EXTRA_CA_CERTS;
  return { ...env, ...extra };
}

describe("ocsp-relay chain: roots from Node's and the system store; certificates without OCSP", () => {
  const files = new E2eFiles("e2e cli-roots");
  let tmp: string;
  let seedChain: string;
  /** An empty directory, for SSL_CERT_DIR: the system store is then exactly SSL_CERT_FILE. */
  let noDir: string;

  beforeAll(async () => {
    try {
      tmp = await files.tempDir("ocsp-relay-cli-roots-e2e-");
      seedChain = join(tmp, "site-and-intermediate.pem");
      await writeFile(
        seedChain,
        (await readFile(join(SEED, "site.pem"), "utf8")) +
          (await readFile(join(SEED, "intermediate.pem"), "utf8")),
      );
      noDir = join(tmp, "no-certs");
      await mkdir(noDir);
    } catch (e) {
      await files.setupFailed(e);
    }
  });

  test("the seed's DigiCert chain gets its root from the system store, without --ca-file", async () => {
    // The premise: Node's bundled store lacks the root, Debian's ca-certificates has it. `.ci/run`
    // installs ca-certificates when the bundle is missing.
    expect(
      existsSync(SYSTEM_BUNDLE),
      `${SYSTEM_BUNDLE} is missing: apt-get install ca-certificates (.ci/run does)`,
    ).toBe(true);
    const systemRoots = pemBodies(readFileSync(SYSTEM_BUNDLE, "latin1"));
    const nodeRoots = new Set(tls.rootCertificates.flatMap(pemBodies));

    const out = join(tmp, "seed-chain.pem");
    const r = await cli(["chain", seedChain, "--out", out], { env: storeEnv() });
    show("chain site-and-intermediate.pem --out seed-chain.pem", r);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/\[0\] leaf\s+CN=www\.ilovenancy1314\.com/);
    expect(r.stderr).toContain("EXPIRED on 2020-07-17T12:00:00.000Z: renew it");
    expect(r.stderr).toMatch(/\[2\] root\s+C=US, O=DigiCert Inc, .*CN=DigiCert Global Root CA\n/);
    expect(r.stderr).toContain("leaf OCSP responder (AIA): http://ocsp.digicert.com");
    expect(r.stderr).toContain(
      "wrote the ssl_trusted_certificate bundle: 1 intermediate(s) + root",
    );

    // Intermediate first, then the root, and the root is the system store's copy.
    const bundle = pemBodies(await readFile(out, "utf8"));
    expect(bundle).toHaveLength(2);
    expect(bundle[0]).toBe(pemBodies(await readFile(join(SEED, "intermediate.pem"), "utf8"))[0]);
    expect(systemRoots).toContain(bundle[1]);
    if (nodeRoots.has(bundle[1]!)) {
      expect(r.stderr).toMatch(/\[2\] root[\s\S]*from Node's root store\n/);
    } else {
      expect(r.stderr).toMatch(
        /\[2\] root[\s\S]*from system store \/etc\/ssl\/certs\/ca-certificates\.crt\n/,
      );
    }

    // To stdout as well, same two certificates.
    const printed = await cli(["chain", seedChain], { env: storeEnv() });
    expect(printed.code).toBe(0);
    expect(pemBodies(printed.stdout)).toEqual(bundle);
  });

  test("SSL_CERT_FILE names the system store, and the root's source says so; no root anywhere: exit 1", async () => {
    const roots = join(tmp, "roots.pem");
    await writeFile(roots, await readFile(join(CRLDP, "root.pem"), "utf8"));
    const env = storeEnv({ SSL_CERT_FILE: roots, SSL_CERT_DIR: noDir });
    const r = await cli(["chain", join(CRLDP, "leaf-crl-fullchain.pem")], { env });
    show("SSL_CERT_FILE=roots.pem chain leaf-crl-fullchain.pem", r);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`from system store ${roots}\n`);
    expect(pemBodies(r.stdout)).toEqual(
      pemBodies(await readFile(join(CRLDP, "chain.pem"), "utf8")),
    );

    const empty = join(tmp, "empty.pem");
    await writeFile(empty, "");
    const out = join(tmp, "never.pem");
    const none = await cli(["chain", join(CRLDP, "leaf-crl-fullchain.pem"), "--out", out], {
      env: storeEnv({ SSL_CERT_FILE: empty, SSL_CERT_DIR: noDir }),
    });
    show("SSL_CERT_FILE=empty.pem chain leaf-crl-fullchain.pem", none);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain(
      'no root found for "C=XX, O=ocsp-relay test PKI, CN=ocsp-relay crldp Root"',
    );
    expect(none.stderr).toContain(`not in Node's root store, the system store (${empty})`);
    expect(none.stderr).toContain("--ca-file roots.pem");
    expect(existsSync(out)).toBe(false);
  });

  test("a CRL-only leaf: no OCSP responder, cannot be stapled, its CRL, ssl_stapling off", async () => {
    const r = await cli(
      ["chain", join(CRLDP, "leaf-crl-fullchain.pem"), "--ca-file", join(CRLDP, "root.pem")],
      {
        env: storeEnv(),
      },
    );
    show("chain leaf-crl-fullchain.pem --ca-file root.pem", r);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(
      "leaf OCSP responder: NONE: the certificate has no OCSP URL in its AIA extension, so it cannot be stapled",
    );
    expect(r.stderr).toContain(
      `leaf revocation: by CRL only: its CA publishes revocation at ${CRL_URL} (also ldap://`,
    );
    expect(r.stderr).toMatch(/nginx: +ssl_stapling off;/);
    expect(r.stderr).toMatch(/HAProxy: no \.ocsp file/);
    expect(r.stderr).toContain("note: nginx needs the bundle for ssl_stapling_verify only");
    // Not the old advice: there is no responder to register.
    expect(r.stderr).not.toContain("--responder");
    expect(pemBodies(r.stdout)).toEqual(
      pemBodies(await readFile(join(CRLDP, "chain.pem"), "utf8")),
    );

    // Only http(s)/ldap URIs of a fullName count.
    const odd = await cli(
      ["chain", join(CRLDP, "leaf-crl-odd-fullchain.pem"), "--ca-file", join(CRLDP, "root.pem")],
      {
        env: storeEnv(),
      },
    );
    expect(odd.code).toBe(0);
    expect(odd.stderr).toContain(
      "leaf revocation: by CRL only: its CA publishes revocation at HTTPS://127.0.0.1:8890/crldp-ca.crl\n",
    );
  });

  test("a leaf with neither OCSP nor CRLDP says so; a leaf with both staples from OCSP", async () => {
    const none = await cli(
      ["chain", join(CRLDP, "leaf-none-fullchain.pem"), "--ca-file", join(CRLDP, "root.pem")],
      {
        env: storeEnv(),
      },
    );
    show("chain leaf-none-fullchain.pem --ca-file root.pem", none);
    expect(none.code).toBe(0);
    expect(none.stderr).toContain("leaf OCSP responder: NONE");
    expect(none.stderr).toContain("no CRL distribution point either");
    expect(none.stderr).toMatch(/nginx: +ssl_stapling off;/);
    expect(none.stderr).toContain("register the issuer with --responder URL");

    const both = await cli(
      ["chain", join(CRLDP, "leaf-both-fullchain.pem"), "--ca-file", join(CRLDP, "root.pem")],
      {
        env: storeEnv(),
      },
    );
    show("chain leaf-both-fullchain.pem --ca-file root.pem", both);
    expect(both.code).toBe(0);
    expect(both.stderr).toContain("leaf OCSP responder (AIA): http://127.0.0.1:8888/");
    expect(both.stderr).toContain(`leaf CRL distribution point: ${CRL_URL} (stapling uses OCSP)`);
    expect(both.stderr).not.toContain("ssl_stapling off");
    expect(both.stderr).not.toContain("cannot be stapled");
  });

  test("a server serving a CRL-only certificate: verified against the system store, and the same advice", async () => {
    // A fresh CA and leaf (the committed fixtures keep no keys), served by a Node TLS server.
    const dir = join(tmp, "served");
    await mkdir(dir);
    const ext = join(dir, "ext.cnf");
    await writeFile(
      ext,
      [
        "[ca]",
        "basicConstraints = critical, CA:TRUE",
        "keyUsage = critical, keyCertSign, cRLSign",
        "[leaf]",
        "basicConstraints = critical, CA:FALSE",
        "subjectAltName = DNS:crl-only.test",
        `crlDistributionPoints = URI:${CRL_URL}`,
        "",
      ].join("\n"),
    );
    const ossl = (args: string[]) =>
      runOk("openssl", args, { env: storeEnv({ OPENSSL_CONF: ext }) });
    const p = (name: string) => join(dir, name);
    await ossl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
      "-keyout", p("ca.key"), "-subj", "/CN=ocsp-relay cli-roots CA", "-days", "2",
      "-extensions", "ca", "-config", ext, "-out", p("ca.pem")]); // prettier-ignore
    await ossl(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
      "-keyout", p("leaf.key"), "-subj", "/CN=crl-only.test", "-config", ext, "-out", p("leaf.csr")]); // prettier-ignore
    await ossl(["x509", "-req", "-in", p("leaf.csr"), "-CA", p("ca.pem"), "-CAkey", p("ca.key"),
      "-set_serial", "0x6001", "-days", "2", "-extfile", ext, "-extensions", "leaf", "-out", p("leaf.pem")]); // prettier-ignore

    const server = tls.createServer({
      key: await readFile(p("leaf.key")),
      cert: await readFile(p("leaf.pem")),
    });
    server.on("secureConnection", (socket) => socket.end());
    server.on("tlsClientError", () => {});
    server.listen(0, LOOPBACK);
    await once(server, "listening");
    files.cleanup.add(
      "TLS server",
      () => new Promise<void>((resolve) => server.close(() => resolve())),
    );
    const { port } = server.address() as { port: number };

    const r = await cli(["chain", `${LOOPBACK}:${port}`, "--servername", "crl-only.test"], {
      env: storeEnv({ SSL_CERT_FILE: p("ca.pem"), SSL_CERT_DIR: noDir }),
    });
    show(`SSL_CERT_FILE=ca.pem chain 127.0.0.1:${port} --servername crl-only.test`, r);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(
      `chain verified: yes (against Node's root store, the system store (${p("ca.pem")}), name matches)`,
    );
    expect(r.stderr).toContain(`from system store ${p("ca.pem")}\n`);
    expect(r.stderr).toContain("cannot be stapled");
    expect(r.stderr).toContain(`by CRL only: its CA publishes revocation at ${CRL_URL}\n`);
    expect(r.stderr).toMatch(/nginx: +ssl_stapling off;/);
    expect(pemBodies(r.stdout)).toEqual(pemBodies(await readFile(p("ca.pem"), "utf8")));
  });
});
