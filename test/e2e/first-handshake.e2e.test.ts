// The first handshake after nginx (re)starts, for the README's comparison: with the snippet of
// `ocsp-relay config nginx --stapling-file` (nginx reads the file `ocsp-relay staple` wrote) the
// very first handshake carries the staple; with the lazy ssl_stapling_responder snippet it carries
// none ("OCSP response: no response sent"), and a later one does. A changed file reaches nginx
// through `staple --reload-cmd 'nginx -s reload'`, run only when the file changed.

import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { beforeAll, describe, expect, test } from "vitest";
import {
  cli,
  fileThisUpdate,
  freePort,
  issueLeaf,
  makePki,
  NGINX,
  registerIssuer,
  snapshotWorker,
  stapleHandshake,
  startNginxServer,
  startOcspCa,
  startRelay,
  waitFor,
  type Handshake,
  type Leaf,
  type OcspCa,
  type Pki,
  type Relay,
  type Server,
} from "../../scripts/support/index.ts";
import { E2eFiles } from "./files.ts";

const log = (title: string, h: Handshake) =>
  console.log(`e2e: ${title}:\n  ${h.lines.join("\n  ")}`);

describe("nginx's first handshake after a restart: stapling file vs. lazy responder", () => {
  let relay: Relay | undefined;
  const files = new E2eFiles("e2e first handshake", () => relay?.process.stderrPath);
  const cleanup = files.cleanup;
  let tmp: string;
  let pki: Pki;
  let ca: OcspCa;
  let site: Leaf;
  /** site.pem then ca.pem: what ssl_certificate serves, and where staple finds the issuer. */
  let siteFull: string;

  beforeAll(async () => {
    try {
      tmp = await files.tempDir("ocsp-relay-first-handshake-e2e-");
      pki = await makePki(join(tmp, "pki"), [], { key: "ec" });
      ca = await startOcspCa({ pki, workDir: join(tmp, "ca"), nextUpdateMinutes: 600 });
      cleanup.add("CA", () => ca.close());
      site = await issueLeaf(pki, { name: "site", serial: "3001", ocspUrl: ca.url });
      siteFull = join(tmp, "site-fullchain.pem");
      await writeFile(
        siteFull,
        (await readFile(site.pem, "utf8")) + (await readFile(pki.caPem, "utf8")),
      );
      relay = await startRelay({
        workerDir: await snapshotWorker(join(tmp, "worker")),
        persistTo: join(tmp, "kv"),
        logDir: join(tmp, "logs"),
      });
      cleanup.add("relay", () => relay!.stop());
      await registerIssuer(relay.url, pki.caPem, ca.url);
    } catch (e) {
      await files.setupFailed(e);
    }
  });

  /** nginx on `serverBlock` in `dir`, stopped at cleanup unless stopped before. */
  const nginx = async (dir: string, serverBlock: string, port: number): Promise<Server> => {
    const server = await startNginxServer({ dir, serverBlock, port });
    cleanup.add(`nginx ${dir}`, () => server.stop());
    return server;
  };

  test("--stapling-file: the very first handshake after a start and after a restart is stapled", async () => {
    const dir = join(tmp, "nginx-file");
    const staplingFile = join(tmp, "site.ocsp");
    const port = await freePort();
    const staple = await cli(["staple", "--relay", relay!.url, "--out", staplingFile, siteFull]);
    expect(staple.code, staple.output).toBe(0);
    const config = await cli([
      "config", "nginx", "--relay", relay!.url, "--cert", siteFull, "--key", site.key,
      "--server-name", "localhost", "--listen", `127.0.0.1:${port}`, "--stapling-file", staplingFile,
    ]); // prettier-ignore
    expect(config.code, config.output).toBe(0);
    expect(config.stdout).toContain(`ssl_stapling_file       ${staplingFile};`);
    expect(config.stdout).not.toMatch(/^\s*ssl_stapling_responder/m);
    expect(config.stdout).toContain("--reload-cmd 'nginx -s reload'");

    const first = await nginx(dir, config.stdout, port);
    const atStart = await stapleHandshake(port, "localhost", pki.chainPem);
    log("nginx --stapling-file, first handshake after start", atStart);
    expect(atStart.stapled, atStart.output).toBe(true);
    expect(atStart.lines).toContain("Cert Status: good");
    expect(atStart.output).toContain("Verify return code: 0 (ok)");

    await first.stop();
    await nginx(dir, config.stdout, port);
    const afterRestart = await stapleHandshake(port, "localhost", pki.chainPem);
    log("nginx --stapling-file, first handshake after restart", afterRestart);
    expect(afterRestart.stapled, afterRestart.output).toBe(true);
    expect(afterRestart.thisUpdate).toBe(await fileThisUpdate(staplingFile));

    // A newer answer (the CA's responder signs one per request) is written and nginx reloaded;
    // the relay's copy, older now, changes nothing and reloads nothing.
    await sleep(1_100); // thisUpdate has one-second resolution
    const reloadCmd = `${NGINX} -p ${dir} -c ${join(dir, "nginx.conf")} -e ${join(dir, "error.log")} -s reload && echo >> ${join(tmp, "reloads")}`;
    const args = ["--out", staplingFile, "--reload-cmd", reloadCmd, siteFull];
    const changed = await cli(["staple", "--relay", ca.url, ...args]);
    expect(changed.code, changed.output).toBe(0);
    expect(changed.stdout).toMatch(
      /^staple: 1 certificate, 0 fresh, 1 updated, 0 failed; reloaded; /m,
    );
    const newer = await fileThisUpdate(staplingFile);
    expect(newer).not.toBe(afterRestart.thisUpdate);
    await waitFor(
      "nginx to staple the new file after the reload",
      async () =>
        (await stapleHandshake(port, "localhost")).thisUpdate === newer ? true : undefined,
      { timeoutMs: 10_000, intervalMs: 250 },
    );
    const unchanged = await cli(["staple", "--relay", relay!.url, ...args]);
    expect(unchanged.code, unchanged.output).toBe(0);
    expect(unchanged.stdout).toMatch(
      /^staple: 1 certificate, 1 fresh, 0 updated, 0 failed; next /m,
    );
    expect(await readFile(join(tmp, "reloads"), "utf8")).toBe("\n");
  });

  test("--stapling-file is for nginx, and takes an https:// relay (staple fetches, not nginx)", async () => {
    const haproxy = await cli([
      "config",
      "haproxy",
      "--relay",
      relay!.url,
      "--stapling-file",
      "/x.ocsp",
    ]);
    expect(haproxy.code).toBe(2);
    expect(haproxy.stderr).toContain("--stapling-file is for nginx");
    const https = await cli([
      "config", "nginx", "--relay", "https://relay.example.net", "--stapling-file", "/etc/ssl/site.ocsp",
    ]); // prettier-ignore
    expect(https.code, https.output).toBe(0);
    expect(https.stdout).toContain(
      "staple --relay https://relay.example.net --out /etc/ssl/site.ocsp ",
    );
  });

  test("ssl_stapling_responder (lazy): the first handshake after a restart has no staple, a later one has", async () => {
    const dir = join(tmp, "nginx-lazy");
    const port = await freePort();
    const config = await cli([
      "config", "nginx", "--relay", relay!.url, "--cert", siteFull, "--key", site.key,
      "--trusted", pki.chainPem, "--server-name", "localhost", "--listen", `127.0.0.1:${port}`,
    ]); // prettier-ignore
    expect(config.code, config.output).toBe(0);
    expect(config.stdout).toContain("ssl_stapling_responder");

    const stapledSoon = () =>
      waitFor(
        "nginx to staple (it fetched after the first handshake)",
        async () => {
          const h = await stapleHandshake(port, "localhost", pki.chainPem);
          return h.stapled ? h : undefined;
        },
        { timeoutMs: 15_000, intervalMs: 250 },
      );
    const first = await nginx(dir, config.stdout, port);
    const atStart = await stapleHandshake(port, "localhost", pki.chainPem);
    log("nginx ssl_stapling_responder, first handshake after start", atStart);
    expect(atStart.stapled).toBe(false);
    expect(atStart.lines).toEqual(["OCSP response: no response sent"]);
    await stapledSoon();

    // nginx keeps no staple across a restart: the first handshake goes without again.
    await first.stop();
    await nginx(dir, config.stdout, port);
    const afterRestart = await stapleHandshake(port, "localhost", pki.chainPem);
    log("nginx ssl_stapling_responder, first handshake after restart", afterRestart);
    expect(afterRestart.stapled).toBe(false);
    expect(afterRestart.lines).toEqual(["OCSP response: no response sent"]);
    expect(afterRestart.output).toContain("Verify return code: 0 (ok)"); // the handshake itself is fine
    const later = await stapledSoon();
    log("nginx ssl_stapling_responder, a later handshake", later);
    expect(later.lines).toContain("Cert Status: good");
  });
});
