// Certificates without OCSP, end to end (issue 13): leaves whose only revocation pointer is a CRL
// distribution point, a CA publishing CRLs made by `openssl ca -gencrl` on a loopback HTTP server
// that counts fetches, the relay under `wrangler dev`, curl on /check, openssl's OCSP client, nginx
// serving a CRL-only certificate and the operator commands (chain, check, register, config,
// staple). What an operator sees: good and revoked from the verified CRL, one CRL fetch for many
// checks, a forged CRL never believed, no invented OCSP answer, and exit codes that say so.

import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, describe, expect, test } from "vitest";
import {
  ADMIN_TOKEN,
  cli,
  curl,
  freePort,
  HAPROXY,
  issueLeaf,
  loopbackFetch,
  makeCrl,
  makePki,
  opensslOcspClient,
  runOk,
  snapshotWorker,
  startCrlServer,
  startNginxServer,
  startRelay,
  waitFor,
  type CrlServer,
  type Leaf,
  type Pki,
  type Relay,
  type RunResult,
} from "../../scripts/support/index.ts";
import { E2eFiles } from "./files.ts";

/** What /check answers for a certificate whose status comes from a CRL. */
interface CrlCheck {
  revocationSource: string;
  status: string;
  revocationTime?: string;
  revocationReason?: string | null;
  crl: { url: string | null; thisUpdate?: string; nextUpdate?: string; number?: string | null };
  source: string | null;
  problem?: string;
  issuer: { id: string };
  [field: string]: unknown;
}

const show = (title: string, r: RunResult) =>
  console.log(
    `e2e crl: ${title} -> exit ${r.code}\n--- stdout\n${r.stdout}--- stderr\n${r.stderr}`,
  );
const lastJson = (r: RunResult) =>
  JSON.parse(r.stdout.trim().split("\n").at(-1) ?? "") as Record<string, unknown>;

describe("CRL status for certificates without OCSP: the relay, curl, openssl, nginx and the CLI", () => {
  const files = new E2eFiles("e2e crl");
  const cleanup = files.cleanup;
  let tmp: string;
  let crls: CrlServer;
  let relay: Relay;
  /** CA "A": registered with a CRL-only leaf followed by its issuer (the relay learns the CRL). */
  let a: Pki;
  let good: Leaf;
  let revoked: Leaf;
  let goodFull: string;
  let revokedFull: string;
  /** CA "C": registered alone with ?crl=, so that its first CRL fetch is made by /check. */
  let c: Pki;
  /** CA "B": its CRL is later replaced by forgeries. */
  let b: Pki;

  const fullchain = async (pki: Pki, leaf: Leaf) => {
    const path = join(tmp, `${leaf.name}-fullchain.pem`);
    await writeFile(path, (await readFile(leaf.pem, "utf8")) + (await readFile(pki.caPem, "utf8")));
    return path;
  };
  /** POST /check with a PEM file, as curl --data-binary @file sends it; the JSON answer. */
  const check = async (pem: string): Promise<CrlCheck> => {
    const res = await loopbackFetch(`${relay.url}/check`, {
      method: "POST",
      body: await readFile(pem, "utf8"),
    });
    expect(res.status, pem).toBe(200);
    return (await res.json()) as CrlCheck;
  };
  const register = async (body: string, query = "") => {
    const res = await loopbackFetch(`${relay.url}/admin/issuers${query}`, {
      method: "POST",
      headers: { Authorization: `Bearer ${ADMIN_TOKEN}` },
      body,
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  beforeAll(async () => {
    try {
      tmp = await files.tempDir("ocsp-relay-crl-e2e-");
      crls = await startCrlServer();
      cleanup.add("CRL server", () => crls.close());
      const ca = (name: string) =>
        makePki(join(tmp, `pki-${name}`), [], { key: "ec", org: `ocsp-relay crl ${name}` });
      [a, b, c] = await Promise.all([ca("A"), ca("B"), ca("C")]);
      [good, revoked] = await Promise.all([
        issueLeaf(a, { name: "crl-good", serial: "3001", crlUrl: crls.url("/a.crl") }),
        issueLeaf(a, {
          name: "crl-revoked",
          serial: "3002",
          crlUrl: crls.url("/a.crl"),
          state: "revoked",
        }),
        issueLeaf(b, { name: "b-site", serial: "4001", crlUrl: crls.url("/b.crl") }),
        issueLeaf(c, { name: "c-good", serial: "5001", crlUrl: crls.url("/c.crl") }),
        issueLeaf(c, {
          name: "c-revoked",
          serial: "5002",
          crlUrl: crls.url("/c.crl"),
          state: "revoked",
        }),
      ]);
      [goodFull, revokedFull] = await Promise.all([fullchain(a, good), fullchain(a, revoked)]);
      crls.serve("/a.crl", await makeCrl(a, { out: join(tmp, "a.crl") }));
      crls.serve("/c.crl", await makeCrl(c, { out: join(tmp, "c.crl") }));
      relay = await startRelay({
        workerDir: await snapshotWorker(join(tmp, "worker")),
        persistTo: join(tmp, "kv"),
        logDir: join(tmp, "logs"),
        // After a failed CRL fetch the relay waits for its planned retry (clients do not make it
        // download the CRL again before); short retries keep this test within seconds.
        vars: { REFRESH_BACKOFF_SECONDS: "2", REFRESH_BACKOFF_CAP_SECONDS: "4" },
      });
      cleanup.add("relay", () => relay.stop());
    } catch (e) {
      await files.setupFailed(e);
    }
  });

  test("a CRL-only leaf and its issuer register the CRL; curl /check says good, and revoked with keyCompromise", async () => {
    expect(good.pem).toBeTruthy();
    const leafAndIssuer = (await readFile(good.pem, "utf8")) + (await readFile(a.caPem, "utf8"));
    const registered = await register(leafAndIssuer);
    expect(registered.status).toBe(201);
    expect(registered.body).toMatchObject({ responderUrl: null, crlUrls: [crls.url("/a.crl")] });
    expect(registered.body.warmed).toEqual([
      expect.objectContaining({
        serial: "3001",
        revocationSource: "crl",
        status: "good",
        crl: expect.objectContaining({ url: crls.url("/a.crl"), number: "4096" }),
      }),
    ]);
    expect(crls.fetchesOf("/a.crl")).toHaveLength(1);

    for (const leaf of [good, revoked]) {
      const r = await curl(`${relay.url}/check`, ["--data-binary", `@${leaf.pem}`], tmp);
      const text = r.body.toString();
      console.log(`$ curl -s --data-binary @${leaf.name}.pem ${relay.url}/check\n${text}\n`);
      expect(r.status).toBe(200);
      const body = JSON.parse(text) as CrlCheck;
      expect(body).toMatchObject({
        revocationSource: "crl",
        status: leaf === good ? "good" : "revoked",
        crl: { url: crls.url("/a.crl"), number: "4096" },
        certificate: { serial: leaf.serial.toLowerCase(), ocspUrls: [] },
      });
      expect(Date.parse(body.crl.nextUpdate!) - Date.parse(body.crl.thisUpdate!)).toBe(86_400_000);
      if (leaf === revoked) {
        expect(body.revocationReason).toBe("keyCompromise");
        // The index says a minute before the leaf was issued; the CRL carries it to the second.
        const at = Date.parse(body.revocationTime!);
        expect(Math.abs(Date.now() - 60_000 - at)).toBeLessThan(10 * 60_000);
      } else {
        expect(body).not.toHaveProperty("revocationTime");
      }
    }

    // The held state, nothing fetched.
    const id = (registered.body as { id: string }).id;
    const held = await loopbackFetch(`${relay.url}/check/${id}/${revoked.serial}`, {
      headers: { Authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    expect(await held.json()).toMatchObject({
      revocationSource: "crl",
      status: "revoked",
      revocationReason: "keyCompromise",
      crl: { url: crls.url("/a.crl"), number: "4096" },
    });
    expect(crls.fetchesOf("/a.crl")).toHaveLength(1);
  });

  test("20 checks of two leaves, some at once, cost the CA one CRL fetch", async () => {
    const registered = await register(
      await readFile(c.caPem, "utf8"),
      `?crl=${encodeURIComponent(crls.url("/c.crl"))}`,
    );
    expect(registered.status).toBe(201);
    expect(registered.body).toMatchObject({ crlUrls: [crls.url("/c.crl")], warmed: [] });
    expect(crls.fetchesOf("/c.crl")).toHaveLength(0);
    const leaves = [c.leaf("c-good"), c.leaf("c-revoked")];
    const statuses: string[] = [];
    const once = async (i: number) => {
      const body = await check(leaves[i % 2]!.pem);
      statuses[i] = body.status;
      expect(body.revocationSource).toBe("crl");
    };
    // 10 at once (the first CRL fetch among them), then 10 in pairs.
    await Promise.all(Array.from({ length: 10 }, (_, i) => once(i)));
    for (let i = 10; i < 20; i += 2) await Promise.all([once(i), once(i + 1)]);
    const fetches = crls.fetchesOf("/c.crl").length;
    console.log(`CA-side CRL fetches for 20 checks: ${fetches}`);
    expect(fetches).toBe(1);
    expect(statuses).toEqual(Array.from({ length: 20 }, (_, i) => (i % 2 ? "revoked" : "good")));
    expect(crls.fetchesOf("/c.crl")[0]!.userAgent).toMatch(/^ocsp-relay\//);
  });

  test("a forged CRL is never believed: the held CRL stays until it expires, then the status is unknown and says why", async () => {
    const site = b.leaf("b-site");
    const bFull = await fullchain(b, site);
    const caName = `/C=XX/O=ocsp-relay crl B/CN=ocsp-relay crl B EC CA`;
    // An impostor: a key of its own under the CA's exact name. And the CA's own key under another name.
    const impostorKey = join(tmp, "impostor.key");
    await runOk("openssl", [
      "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", impostorKey,
    ]); // prettier-ignore
    const selfSigned = (key: string, subject: string, out: string) =>
      runOk("openssl", [
        "req", "-new", "-x509", "-key", key, "-subj", subject, "-days", "30", "-out", out,
        "-config", join(b.dir, "openssl.cnf"), "-extensions", "ca_ext",
      ]); // prettier-ignore
    await selfSigned(impostorKey, caName, join(tmp, "impostor.pem"));
    await selfSigned(b.caKey, "/C=XX/O=ocsp-relay crl B/CN=someone else", join(tmp, "renamed.pem"));

    // The genuine CRL, valid 30 s, then forgeries from the moment the issuer is registered.
    const genuine = await makeCrl(b, { out: join(tmp, "b-genuine.crl"), validSeconds: 30 });
    crls.serve("/b.crl", genuine);
    const registered = await register(await readFile(bFull, "utf8"));
    expect(registered.status).toBe(201);
    expect(registered.body.warmed).toEqual([
      expect.objectContaining({ revocationSource: "crl", status: "good" }),
    ]);
    const heldUntil = Date.parse((await check(site.pem)).crl.nextUpdate!);
    crls.serve(
      "/b.crl",
      await makeCrl(b, {
        out: join(tmp, "b-forged.crl"),
        signerPem: join(tmp, "impostor.pem"),
        signerKey: impostorKey,
      }),
    );

    // The relay refreshes ahead of nextUpdate, gets the forgery, refuses it, keeps the genuine one.
    await waitFor(
      "the relay to refresh B's CRL",
      async () => (crls.fetchesOf("/b.crl").length >= 2 ? true : undefined),
      { timeoutMs: 30_000, intervalMs: 250 },
    );
    const during = await check(site.pem);
    // The refresh comes near the middle of the 30 s window: the genuine CRL is still current.
    expect(Date.now()).toBeLessThan(heldUntil - 1_000);
    expect(during).toMatchObject({ status: "good", crl: { number: "4096" } });
    expect(String(during.lastUpstreamError)).toContain("badSignature");

    // Once the genuine CRL has expired, nothing is believed: unknown, and the reason.
    const forged = await waitFor(
      "B's genuine CRL to expire",
      async () => {
        const body = await check(site.pem);
        return body.status !== "good" ? body : undefined;
      },
      { timeoutMs: 45_000, intervalMs: 500 },
    );
    console.log(
      `a forged CRL (impostor key, same issuer name):\n${JSON.stringify(forged, null, 2)}`,
    );
    expect(Date.now()).toBeGreaterThanOrEqual(heldUntil);
    expect(forged).toMatchObject({ revocationSource: "crl", status: "unknown" });
    expect(forged.problem).toContain("badSignature");
    expect(forged).not.toHaveProperty("revocationTime");

    // The CA's key under another name: wrongIssuer.
    crls.serve(
      "/b.crl",
      await makeCrl(b, {
        out: join(tmp, "b-renamed.crl"),
        signerPem: join(tmp, "renamed.pem"),
        signerKey: b.caKey,
      }),
    );
    const renamed = await waitFor(
      "the relay to judge the renamed CRL",
      async () => {
        const body = await check(site.pem);
        return body.problem?.includes("wrongIssuer") ? body : undefined;
      },
      { timeoutMs: 20_000, intervalMs: 500 },
    );
    expect(renamed.status).toBe("unknown");

    // register says the same, exit 1.
    const reg = await cli(["register", "--relay", relay.url, "--token", ADMIN_TOKEN, bFull]);
    show("register (B, forged CRL)", reg);
    expect(reg.code).toBe(1);
    expect(reg.stdout).toMatch(/CRL status unknown: .*(wrongIssuer|badSignature)/);

    // A genuine CRL again: believed at the next planned retry.
    crls.serve("/b.crl", await makeCrl(b, { out: join(tmp, "b-genuine-2.crl") }));
    const back = await waitFor(
      "the genuine CRL to be believed again",
      async () => {
        const body = await check(site.pem);
        return body.status === "good" ? body : undefined;
      },
      { timeoutMs: 20_000, intervalMs: 500 },
    );
    expect(Number(back.crl.number)).toBeGreaterThan(4096);
  });

  test("OCSP through the relay for a CRL-only leaf: unauthorized, the relay never invents an answer", async () => {
    const before = crls.log.length;
    const r = await opensslOcspClient({
      url: `${relay.url}/`,
      issuer: a.caPem,
      cert: good.pem,
      caFile: a.chainPem,
    });
    console.log(`$ openssl ocsp -issuer ca.pem -cert crl-good.pem -url ${relay.url}/\n${r.output}`);
    expect(r.output).toContain("Responder Error: unauthorized (6)");
    expect(r.output).not.toMatch(/: good|: revoked/);
    expect(crls.log.length).toBe(before);

    const staple = await cli([
      "staple", "--relay", relay.url, goodFull, "--out", join(tmp, "never.ocsp"),
    ]); // prettier-ignore
    // Exit 3: the file it should keep does not exist (staple's exit codes, README "Staple files").
    expect(staple.code).toBe(3);
    expect(staple.stderr).toContain("cannot be stapled");
    expect(staple.stderr).toContain(crls.url("/a.crl"));
  });

  test("the CLI on a CRL-only chain: config nginx turns stapling off; chain and check against that nginx say why and what the CRL says", async () => {
    const port = await freePort();
    const config = await cli([
      "config", "nginx", "--relay", relay.url, "--cert", goodFull, "--key", good.key,
      "--server-name", "localhost", "--listen", `127.0.0.1:${port}`,
    ]); // prettier-ignore
    show("config nginx (CRL-only certificate)", config);
    expect(config.code).toBe(0);
    expect(config.stdout).toMatch(/^\s+ssl_stapling\s+off;/m);
    expect(config.stdout).not.toMatch(/^\s+ssl_stapling_responder/m);
    expect(config.stdout).not.toMatch(/^\s+ssl_trusted_certificate/m);
    expect(config.stdout).toContain(`publishes revocation by CRL at ${crls.url("/a.crl")}`);
    const nginx = await startNginxServer({
      dir: join(tmp, "nginx"),
      serverBlock: config.stdout,
      port,
    });
    cleanup.add("nginx", () => nginx.stop());

    const target = `127.0.0.1:${port}`;
    const chain = await cli([
      "chain", target, "--servername", "localhost", "--ca-file", a.rootPem, "--relay", relay.url,
    ]); // prettier-ignore
    show(`chain ${target} --relay`, chain);
    expect(chain.code).toBe(0);
    expect(chain.stderr).toContain("chain verified: yes");
    expect(chain.stderr).toContain("so it cannot be stapled");
    expect(chain.stderr).toContain(`its CA publishes revocation at ${crls.url("/a.crl")}`);
    expect(chain.stderr).toMatch(/leaf CRL status \(from the relay \S+\): good/);
    expect(chain.stderr).toMatch(
      /CRL number 4096, thisUpdate \S+, nextUpdate \S+ \(23h \d+m left\)/,
    );

    const args = ["check", target, "--servername", "localhost", "--ca-file", a.rootPem];
    const checked = await cli([...args, "--relay", relay.url]);
    show(`check ${target} --relay`, checked);
    expect(checked.code).toBe(0);
    expect(checked.stdout).toMatch(/OCSP\s+none: .* cannot be stapled/);
    expect(checked.stdout).toContain(`CRL          ${crls.url("/a.crl")}`);
    expect(checked.stdout).toMatch(/stapled\s+no \(none expected\)/);
    expect(checked.stdout).toMatch(/CRL status\s+good/);
    expect(checked.stdout).toMatch(
      /^OK: cannot be stapled \(no OCSP responder\); the CRL says good$/m,
    );

    const json = await cli([...args, "--relay", relay.url, "--json"]);
    expect(json.code).toBe(0);
    expect(lastJson(json)).toMatchObject({
      ok: true,
      revocationSource: "crl",
      stapleExpected: false,
      stapled: false,
      status: "good",
      crl: { url: crls.url("/a.crl"), number: "4096" },
    });

    // Without --relay nothing says whether it is revoked: exit 1, and how to find out.
    const unchecked = await cli(args);
    expect(unchecked.code).toBe(1);
    expect(unchecked.stdout).toContain(
      "FAIL: cannot be stapled (no OCSP responder); revocation by CRL not checked",
    );
    expect(unchecked.stdout).toContain("give --relay URL");
    // A relay that is not there: exit 1.
    const nowhere = await cli([...args, "--relay", `http://127.0.0.1:${await freePort()}`]);
    expect(nowhere.code).toBe(1);
    expect(nowhere.stdout).toMatch(/CRL status\s+not known: cannot reach the relay/);
  });

  test("register and chain on the CRL-only chains: good exits 0, revoked exits 1; config haproxy has no staple job", async () => {
    const again = await cli(["register", "--relay", relay.url, "--token", ADMIN_TOKEN, goodFull]);
    show("register crl-good-fullchain.pem", again);
    expect(again.code).toBe(0);
    expect(again.stderr).toContain(
      "has no OCSP responder in its AIA extension: it cannot be stapled",
    );
    expect(again.stderr).toContain(`publishes revocation by CRL at ${crls.url("/a.crl")}`);
    expect(again.stdout).toContain("HTTP 200");
    expect(again.stdout).toContain(`crl        ${crls.url("/a.crl")}`);
    expect(again.stdout).toMatch(/CRL status good/);
    expect(again.stdout).not.toMatch(/responder\s+none/);

    const rev = await cli([
      "register",
      "--relay",
      relay.url,
      "--token",
      ADMIN_TOKEN,
      revokedFull,
      "--json",
    ]);
    expect(rev.code).toBe(1);
    expect(rev.stderr).toMatch(/CRL status REVOKED/);
    const body = lastJson(rev);
    expect(body).toMatchObject({ status: 200, revocationSource: "crl" });
    expect(body.warmed).toEqual([
      expect.objectContaining({ revocationSource: "crl", status: "revoked" }),
    ]);

    const chain = await cli(["chain", revokedFull, "--ca-file", a.rootPem, "--relay", relay.url]);
    show("chain crl-revoked-fullchain.pem --relay", chain);
    expect(chain.code).toBe(1);
    expect(chain.stderr).toMatch(
      /leaf CRL status \(from the relay \S+\): REVOKED at \S+ \(keyCompromise\)/,
    );
    expect(chain.stdout).toContain("BEGIN CERTIFICATE"); // the bundle is still written

    const plain = await cli(["chain", goodFull, "--ca-file", a.rootPem]);
    expect(plain.code).toBe(0);
    expect(plain.stderr).toContain("add --relay URL to see the leaf's CRL status");

    const haproxyCert = join(tmp, "haproxy-site.pem");
    await writeFile(
      haproxyCert,
      (await readFile(goodFull, "utf8")) + (await readFile(good.key, "utf8")),
    );
    const haproxyPort = await freePort();
    const haproxy = await cli([
      "config", "haproxy", "--relay", relay.url, "--cert", haproxyCert, "--listen", `127.0.0.1:${haproxyPort}`,
    ]); // prettier-ignore
    show("config haproxy (CRL-only certificate)", haproxy);
    expect(haproxy.code).toBe(0);
    expect(haproxy.stdout).toContain("So: no staple job.");
    expect(haproxy.stdout).not.toContain("staple --relay");
    expect(haproxy.stdout).not.toContain("ocsp-update on\n");
    const cfg = join(tmp, "haproxy.cfg");
    await writeFile(cfg, haproxy.stdout);
    // HAProxy accepts it as printed.
    const valid = await runOk(HAPROXY, ["-c", "-f", cfg], { timeoutMs: 10_000 });
    expect(valid.output).toMatch(/Configuration file is valid/);
  });

  test("a leaf naming neither OCSP nor CRL: register says so (exit 2) unless --crl names the CA's CRL", async () => {
    const bare = await issueLeaf(a, { name: "bare", serial: "3003" });
    const bareFull = await fullchain(a, bare);
    const refused = await cli(["register", "--relay", relay.url, "--token", ADMIN_TOKEN, bareFull]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(
      "names neither an OCSP responder (AIA) nor an http(s) CRL distribution point",
    );
    expect(refused.stderr).toMatch(/--responder URL .* --crl URL/);

    const before = crls.fetchesOf("/a.crl").length;
    const withCrl = await cli([
      "register", "--relay", relay.url, "--token", ADMIN_TOKEN, bareFull, "--crl", crls.url("/a.crl"),
    ]); // prettier-ignore
    show("register bare-fullchain.pem --crl", withCrl);
    expect(withCrl.code).toBe(0);
    expect(withCrl.stderr).toContain(
      `publishes revocation by CRL at ${crls.url("/a.crl")} (--crl)`,
    );
    expect(withCrl.stdout).toMatch(/CRL status good/);
    // The CRL held for that issuer and URL answers; the CA is not asked again.
    expect(crls.fetchesOf("/a.crl").length).toBe(before);
  });
});
