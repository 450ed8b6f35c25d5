// The operator commands of `npx ocsp-relay` against real peers over loopback: a fresh PKI whose
// leaves name the recording CA in their AIA, the relay under `wrangler dev`, nginx started from the
// snippet `config nginx` prints, HAProxy (when installed) from `config haproxy`. What an operator
// sees: the bundle `chain` writes, `register`'s answer, `check`'s one screen, the file `staple`
// writes (or refuses to write), and exit codes 0 / 1 / 2.

import { existsSync } from "node:fs";
import { copyFile, mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, describe, expect, test } from "vitest";
import {
  childEnv,
  ADMIN_TOKEN,
  cli,
  freePort,
  HAPROXY,
  issueLeaf,
  makePki,
  sClientStatus,
  snapshotWorker,
  startHaproxy,
  startNginxServer,
  startOcspCa,
  startRelay,
  waitFor,
  type Leaf,
  type OcspCa,
  type Pki,
  type Relay,
  type RunResult,
} from "../../scripts/support/index.ts";
import { E2eFiles } from "./files.ts";

/** The CA's answers are valid this long: enough for the file, short enough to test --min-validity. */
const NEXT_UPDATE_MINUTES = 10;

/** The base64 bodies of the PEM blocks in `text`, in order (a comparison that ignores line breaks). */
const pemBodies = (text: string) =>
  [...text.matchAll(/-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g)].map((m) =>
    m[1]!.replace(/\s+/g, ""),
  );
const lastJson = (r: RunResult) =>
  JSON.parse(r.stdout.trim().split("\n").at(-1) ?? "") as Record<string, unknown>;
const show = (title: string, r: RunResult) =>
  console.log(`e2e: ${title} -> exit ${r.code}\n--- stdout\n${r.stdout}--- stderr\n${r.stderr}`);

describe("ocsp-relay operator commands: chain, register, config, check, staple", () => {
  const files = new E2eFiles("e2e");
  const cleanup = files.cleanup;
  let tmp: string;
  let pki: Pki;
  let ca: OcspCa;
  let relay: Relay;
  let site: Leaf;
  let must: Leaf;
  /** site.pem then ca.pem: what ssl_certificate serves. */
  let siteFull: string;
  let mustFull: string;
  /** Written by `chain`, used by nginx as ssl_trusted_certificate. */
  let bundle: string;

  beforeAll(async () => {
    try {
      tmp = await files.tempDir("ocsp-relay-cli-e2e-");
      pki = await makePki(join(tmp, "pki"), [
        { name: "leaf-revoked", state: "revoked" },
        { name: "leaf-unknown", state: "absent" },
      ]);
      ca = await startOcspCa({
        pki,
        workDir: join(tmp, "ca"),
        nextUpdateMinutes: NEXT_UPDATE_MINUTES,
      });
      cleanup.add("CA", () => ca.close());
      [site, must] = await Promise.all([
        issueLeaf(pki, { name: "site", serial: "2001", ocspUrl: ca.url }),
        issueLeaf(pki, { name: "must", serial: "2002", ocspUrl: ca.url, mustStaple: true }),
      ]);
      const caPem = await readFile(pki.caPem, "utf8");
      siteFull = join(tmp, "site-fullchain.pem");
      mustFull = join(tmp, "must-fullchain.pem");
      await writeFile(siteFull, (await readFile(site.pem, "utf8")) + caPem);
      await writeFile(mustFull, (await readFile(must.pem, "utf8")) + caPem);
      bundle = join(tmp, "site-chain.pem");
      relay = await startRelay({
        workerDir: await snapshotWorker(join(tmp, "worker")),
        persistTo: join(tmp, "kv"),
        logDir: join(tmp, "logs"),
      });
      cleanup.add("relay", () => relay.stop());
    } catch (e) {
      await files.setupFailed(e);
    }
  });

  test("usage errors and unreadable input exit 2, saying what to do", async () => {
    const cases: [string[], RegExp][] = [
      [[], /usage: ocsp-relay/],
      [["chain"], /host:port or one PEM file/],
      [["chain", join(tmp, "nope.pem")], /host:port or one PEM file|cannot read/],
      [["chain", siteFull, "--bogus"], /bogus/],
      [["register", "--token", "t", siteFull], /--relay is required/],
      [["register", "--relay", "ftp://x", "--token", "t", siteFull], /http:\/\/ or https:\/\//],
      [["check", "localhost"], /host:port/],
      [
        ["staple", "--relay", relay.url, siteFull, mustFull, "--out", join(tmp, "x.der")],
        /--out names the staple of one certificate/,
      ],
      [
        [
          "staple",
          "--relay",
          relay.url,
          siteFull,
          "--out",
          join(tmp, "x.der"),
          "--min-validity",
          "soon",
        ],
        /not a duration/,
      ],
      [["staple", "--relay", relay.url, site.pem, "--out", join(tmp, "x.der")], /--issuer/],
      [["config", "iis", "--relay", relay.url], /nginx\|haproxy\|caddy\|apache\|lighttpd\|h2o/],
      [["config", "nginx", "--relay", "https://relay.example.net"], /only http:\/\//],
      [["config", "nginx", "--relay", relay.url, "--fleet-key", "short"], /fleet key/],
    ];
    for (const [args, message] of cases) {
      const r = await cli(args);
      expect(r.code, `ocsp-relay ${args.join(" ")}\n${r.output}`).toBe(2);
      expect(r.output).toMatch(message);
    }
    expect(existsSync(join(tmp, "x.der"))).toBe(false);
  });

  test("config takes the fleet key (--fleet-key or OCSP_RELAY_KEY): OCSP requests go under /k/<key>/, admin commands to the base URL", async () => {
    const key = "cli-fleet-key-0123456789";
    const nginx = await cli([
      "config",
      "nginx",
      "--relay",
      "http://relay.example.net",
      "--fleet-key",
      key,
    ]);
    expect(nginx.code).toBe(0);
    expect(nginx.stdout).toContain(`ssl_stapling_responder  http://relay.example.net/k/${key}/;`);
    expect(nginx.stdout).toContain("register --relay http://relay.example.net --token");
    const haproxy = await cli(["config", "haproxy", "--relay", "http://relay.example.net"], {
      env: childEnv({ OCSP_RELAY_KEY: key }),
    });
    expect(haproxy.code).toBe(0);
    // The key stays off command lines: in an env file only root and HAProxy's group read.
    expect(haproxy.stdout).toContain("staple --relay http://relay.example.net --out");
    expect(haproxy.stdout).not.toContain(`/k/${key}`);
    expect(haproxy.stdout).toContain(`echo 'OCSP_RELAY_KEY=${key}' > /etc/ocsp-relay/staple.env`);
    expect(haproxy.stdout).toContain(
      "install -m 640 -g haproxy /dev/null /etc/ocsp-relay/staple.env",
    );
    expect(haproxy.stdout).toContain("EnvironmentFile=/etc/ocsp-relay/staple.env");
    const file = await cli(
      [
        "config",
        "nginx",
        "--relay",
        "http://relay.example.net",
        "--stapling-file",
        "/etc/ssl/s.ocsp",
      ],
      { env: childEnv({ OCSP_RELAY_KEY: key }) },
    );
    expect(file.stdout).toContain("ssl_stapling_file       /etc/ssl/s.ocsp;");
    expect(file.stdout).not.toContain(`/k/${key}`);
    expect(file.stdout).toContain(
      "set -a; . /etc/ocsp-relay/staple.env; set +a; npx ocsp-relay staple --relay http://relay.example.net --out /etc/ssl/s.ocsp",
    );
    // Messages mask the key in a URL.
    const bad = await cli(["staple", "--relay", `http://[relay/k/${key}`, "f.pem"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("/k/…");
    expect(bad.stderr).not.toContain(key);
    const open = await cli(["config", "nginx", "--relay", "http://relay.example.net"]);
    expect(open.stdout).toContain("ssl_stapling_responder  http://relay.example.net/;");
  });

  test("chain reads a PEM file: the bundle is the intermediate then the root, with the responder", async () => {
    const r = await cli(["chain", siteFull, "--ca-file", pki.rootPem, "--out", bundle]);
    show("chain site-fullchain.pem --ca-file root.pem --out site-chain.pem", r);
    expect(r.code).toBe(0);
    const expected = [
      ...pemBodies(await readFile(pki.caPem, "utf8")),
      ...pemBodies(await readFile(pki.rootPem, "utf8")),
    ];
    expect(pemBodies(await readFile(bundle, "utf8"))).toEqual(expected);
    expect(r.stderr).toContain(`leaf OCSP responder (AIA): ${ca.url}`);
    expect(r.stderr).toContain("leaf Must-Staple: no");
    expect(r.stderr).toMatch(/\[2\] root\s+C=XX, O=ocsp-relay e2e, CN=ocsp-relay e2e Root/);

    // The leaf alone, intermediates and root from --ca-file; the bundle goes to stdout.
    const fromCaFile = await cli(["chain", site.pem, "--ca-file", pki.chainPem]);
    expect(fromCaFile.code).toBe(0);
    expect(pemBodies(fromCaFile.stdout)).toEqual(expected);

    // The leaf alone and nothing else: exit 1, and the way out.
    const alone = await cli(["chain", site.pem]);
    expect(alone.code).toBe(1);
    expect(alone.stdout).toBe("");
    expect(alone.stderr).toMatch(/is not in .*site\.pem.*--ca-file/);

    // No root anywhere: exit 1, nothing written, --ca-file named.
    const noRoot = await cli(["chain", mustFull, "--out", join(tmp, "never.pem")]);
    expect(noRoot.code).toBe(1);
    expect(noRoot.stderr).toContain("no root found");
    expect(noRoot.stderr).toContain("--ca-file");
    expect(noRoot.stderr).toMatch(/Must-Staple \(TLS Feature status_request\): YES/);
    expect(existsSync(join(tmp, "never.pem"))).toBe(false);
  });

  test("register: 201 with the leaf warmed good, then 200; a wrong token gets 401 and the fix", async () => {
    const first = await cli(["register", "--relay", relay.url, "--token", ADMIN_TOKEN, siteFull]);
    show("register --relay ... --token ... site-fullchain.pem", first);
    expect(first.code).toBe(0);
    expect(first.stdout).toContain("HTTP 201");
    expect(first.stdout).toContain(`responder  ${ca.url}`);
    expect(first.stdout).toMatch(/leaf\s+serial 2001: good, nextUpdate \S+ \(\d+m( \d+s)? left\)/);

    const again = await cli(["register", "--relay", relay.url, "--json", siteFull], {
      env: { ...process.env, OCSP_RELAY_TOKEN: ADMIN_TOKEN },
    });
    expect(again.code).toBe(0);
    const body = lastJson(again);
    expect(body).toMatchObject({ status: 200, responderUrl: ca.url });
    expect(body.warmed).toEqual([expect.objectContaining({ status: "good" })]);

    const wrong = await cli(["register", "--relay", relay.url, "--token", "wrong", siteFull]);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain("HTTP 401");
    expect(wrong.stderr).toContain("ADMIN_TOKEN");
  });

  test("config nginx, used as printed, staples through the relay; chain and check read it", async () => {
    const port = await freePort();
    const config = await cli([
      "config", "nginx", "--relay", relay.url, "--cert", siteFull, "--key", site.key,
      "--trusted", bundle, "--server-name", "localhost", "--listen", `127.0.0.1:${port}`,
    ]); // prettier-ignore
    show("config nginx", config);
    expect(config.code).toBe(0);
    const nginx = await startNginxServer({
      dir: join(tmp, "nginx"),
      serverBlock: config.stdout,
      port,
    });
    cleanup.add("nginx", () => nginx.stop());

    // nginx asks the relay on the first handshake and staples on later ones.
    const stapled = await waitFor(
      "nginx to staple a good answer",
      async () => {
        const r = await sClientStatus(port, pki.chainPem);
        return r.output.includes("Cert Status: good") ? r.output : undefined;
      },
      { timeoutMs: 15_000, intervalMs: 500 },
    );
    expect(stapled).toContain("OCSP Response Status: successful");
    expect(stapled).toContain("Verify return code: 0 (ok)");

    const chain = await cli([
      "chain", `127.0.0.1:${port}`, "--servername", "localhost", "--ca-file", pki.rootPem,
    ]); // prettier-ignore
    show(`chain 127.0.0.1:${port}`, chain);
    expect(chain.code).toBe(0);
    expect(pemBodies(chain.stdout)).toEqual(pemBodies(await readFile(bundle, "utf8")));
    expect(chain.stderr).toContain("chain verified: yes");
    expect(chain.stderr).toContain(`leaf OCSP responder (AIA): ${ca.url}`);

    const args = [
      "check",
      `127.0.0.1:${port}`,
      "--servername",
      "localhost",
      "--ca-file",
      pki.rootPem,
    ];
    const check = await cli(args);
    show(`check 127.0.0.1:${port}`, check);
    expect(check.code).toBe(0);
    expect(check.stdout).toMatch(/stapled\s+yes \(\d+ bytes\)/);
    expect(check.stdout).toMatch(/staple\s+valid: good, signed by the issuing CA/);
    expect(check.stdout).toMatch(/nextUpdate\s+\S+ \(\d+m( \d+s)? left\)/);
    expect(check.stdout).toMatch(/must-staple\s+no/);
    expect(check.stdout).toMatch(/^OK: stapled, good, \d+m( \d+s)? left$/m);

    const json = await cli([...args, "--json"]);
    expect(json.code).toBe(0);
    expect(lastJson(json)).toMatchObject({
      ok: true,
      stapled: true,
      status: "good",
      mustStaple: false,
      chainVerified: true,
      verdict: { ok: true, status: "good", serial: "2001" },
    });
    expect(lastJson(json).secondsLeft).toBeGreaterThan(60);
  });

  test("check against nginx without stapling: exit 1, no staple, and a loud Must-Staple warning", async () => {
    const port = await freePort();
    const nginx = await startNginxServer({
      dir: join(tmp, "nginx-no-stapling"),
      port,
      serverBlock: `server {
    listen 127.0.0.1:${port} ssl;
    server_name localhost;
    ssl_certificate ${mustFull};
    ssl_certificate_key ${must.key};
    ssl_stapling off;
}`,
    });
    cleanup.add("nginx without stapling", () => nginx.stop());
    const args = [
      "check",
      `127.0.0.1:${port}`,
      "--servername",
      "localhost",
      "--ca-file",
      pki.rootPem,
    ];
    const check = await cli(args);
    show(`check (no stapling, Must-Staple leaf) 127.0.0.1:${port}`, check);
    expect(check.code).toBe(1);
    expect(check.stdout).toContain("stapled      NO");
    expect(check.stdout).toContain("FAIL: no staple");
    expect(check.stdout).toContain("MUST-STAPLE CERTIFICATE WITHOUT A VALID STAPLE");
    expect(check.stdout).toMatch(/next: nginx fetches its staple lazily/);
    const json = await cli([...args, "--json"]);
    expect(json.code).toBe(1);
    expect(lastJson(json)).toMatchObject({
      ok: false,
      stapled: false,
      mustStaple: true,
      problem: "no staple",
    });

    // Nothing listening: exit 1 with the reason.
    const closed = await cli(["check", `127.0.0.1:${await freePort()}`]);
    expect(closed.code).toBe(1);
    expect(closed.stdout).toContain("refused");
  });

  test("staple writes a verified answer atomically, refuses what is not valid long enough", async () => {
    const dir = join(tmp, "staples");
    await mkdir(dir);
    const out = join(dir, "site.pem.ocsp");
    const r = await cli([
      "staple",
      "--relay",
      relay.url,
      siteFull,
      "--out",
      out,
      "--min-validity",
      "5m",
    ]);
    show("staple --relay ... site-fullchain.pem --out site.pem.ocsp --min-validity 5m", r);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      /^wrote .*site\.pem\.ocsp \(\d+ bytes\): good, thisUpdate \S+, nextUpdate \S+ \(\d+m( \d+s)? left\)$/m,
    );
    const verify = await cli([
      "verify",
      "--response",
      out,
      "--issuer",
      pki.caPem,
      "--cert",
      site.pem,
    ]);
    expect(verify.code).toBe(0);
    expect(verify.stdout).toContain("OK: good");
    expect(await readdir(dir)).toEqual(["site.pem.ocsp"]);

    // Valid for 10 minutes at most: --min-validity 1h refuses, and leaves the old file alone.
    const before = await readFile(out);
    const tooShort = await cli([
      "staple",
      "--relay",
      relay.url,
      siteFull,
      "--out",
      out,
      "--min-validity",
      "1h",
    ]);
    // Exit 3: the file in place expires within --min-validity too (staple's exit codes).
    expect(tooShort.code).toBe(3);
    expect(tooShort.stderr).toMatch(
      /REFUSED, nothing written: the answer is valid .* less than --min-validity 1h/,
    );
    expect(tooShort.stderr).toMatch(/site\.pem\.ocsp EXPIRES in \d+m/);
    expect((await readFile(out)).equals(before)).toBe(true);

    // A revoked certificate: the valid answer is written (it is the truth to staple), exit 1.
    const revokedOut = join(dir, "revoked.ocsp");
    const revoked = await cli([
      "staple", "--relay", relay.url, pki.leaf("leaf-revoked").pem, "--issuer", pki.caPem, "--out", revokedOut,
    ]); // prettier-ignore
    show("staple (revoked leaf)", revoked);
    expect(revoked.code).toBe(1);
    expect(revoked.stdout).toMatch(/: revoked, /);
    expect(revoked.stderr).toContain("the certificate is REVOKED");
    const revokedVerdict = await cli([
      "verify", "--response", revokedOut, "--issuer", pki.caPem, "--cert", pki.leaf("leaf-revoked").pem, "--json",
    ]); // prettier-ignore
    expect(lastJson(revokedVerdict)).toMatchObject({ ok: true, status: "revoked" });

    // Unknown to the CA: refused, nothing written.
    const unknownOut = join(dir, "unknown.ocsp");
    const unknown = await cli([
      "staple", "--relay", relay.url, pki.leaf("leaf-unknown").pem, "--issuer", pki.caPem, "--out", unknownOut,
    ]); // prettier-ignore
    expect(unknown.code).toBe(3); // no file: the server has no staple for it
    expect(unknown.stderr).toContain('REFUSED, nothing written: the CA answers "unknown"');

    // No relay there: refused, nothing written.
    const nowhere = await cli([
      "staple", "--relay", `http://127.0.0.1:${await freePort()}`, siteFull, "--out", join(dir, "nowhere.ocsp"), "--timeout", "5s",
    ]); // prettier-ignore
    expect(nowhere.code).toBe(3);
    expect(nowhere.stderr).toContain("cannot reach the relay");

    expect((await readdir(dir)).sort()).toEqual(["revoked.ocsp", "site.pem.ocsp"]);
  });

  test("config haproxy, used as printed, staples the file staple wrote", async () => {
    const dir = join(tmp, "haproxy");
    await mkdir(dir);
    const cert = join(dir, "site.pem");
    await copyFile(siteFull, cert);
    await copyFile(site.key, `${cert}.key`);
    const port = await freePort();
    const config = await cli([
      "config", "haproxy", "--relay", relay.url, "--cert", cert, "--key", `${cert}.key`,
      "--listen", `127.0.0.1:${port}`, "--admin-socket", join(dir, "admin.sock"),
    ]); // prettier-ignore
    expect(config.code).toBe(0);
    expect(config.stdout).toContain(`set ssl ocsp-response`);
    const configFile = join(dir, "haproxy.cfg");
    await writeFile(configFile, config.stdout);
    // Step 1 of the snippet, with a --min-validity the test CA's 10-minute answers meet.
    const staple = await cli(["staple", "--relay", relay.url, cert, "--out", `${cert}.ocsp`]);
    expect(staple.code).toBe(0);
    const haproxy = await startHaproxy({ dir, configFile, port });
    cleanup.add("haproxy", () => haproxy.stop());
    const check = await cli(["check", `127.0.0.1:${port}`, "--ca-file", pki.rootPem]);
    show(`check (haproxy) 127.0.0.1:${port}`, check);
    expect(check.code).toBe(0);
    expect(check.stdout).toMatch(/^OK: stapled, good/m);
  });

  test("config caddy says plainly that the Caddyfile cannot point stapling at the relay", async () => {
    const r = await cli([
      "config",
      "caddy",
      "--relay",
      relay.url,
      "--cert",
      siteFull,
      "--key",
      site.key,
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("The Caddyfile has no responder override");
    expect(r.stdout).toContain(`"ocsp_overrides": { "${ca.url}": "${relay.url}/" }`);
    expect(r.stdout).toMatch(/\n\S+ \{\n\ttls \S+ \S+\n/);
  });
});
