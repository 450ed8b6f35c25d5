// `ocsp-relay staple` over many certificates against real peers on loopback: a HAProxy crt-list
// of 50 certificates stapled through the relay under `wrangler dev` (first run: 50 written; a
// second run: nothing written, files untouched; the relay down: failures counted, files kept, the
// exit code a monitor reads), at most 8 requests at once; a real HAProxy taking changed answers
// through its runtime API, the reload command run only when a file changed; --watch stopped by
// SIGTERM.

import { existsSync } from "node:fs";
import { mkdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import http from "node:http";
import { basename, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { beforeAll, describe, expect, test } from "vitest";
import { certIdFor } from "../../src/ocsp/request.ts";
import { verifyResponse } from "../../src/ocsp/verify.ts";
import { parsePemCertificates } from "../../src/ocsp/certificate.ts";
import {
  cli,
  fileThisUpdate,
  freePort,
  LOOPBACK,
  makePki,
  REPO_ROOT,
  registerIssuer,
  snapshotWorker,
  stapleHandshake,
  startHaproxy,
  startOcspCa,
  startProcess,
  startRelay,
  waitFor,
  writeHaproxyCerts,
  type OcspCa,
  type Pki,
  type Relay,
  type RunResult,
} from "../../scripts/support/index.ts";
import { E2eFiles } from "./files.ts";

const COUNT = 50;
/** Long-lived answers: nothing about them changes between the runs of a test. */
const NEXT_UPDATE_MINUTES = 600;
const SUMMARY = /^staple: .*$/m;

const show = (title: string, r: RunResult) =>
  console.log(
    `e2e: ${title} -> exit ${r.code}\n--- stdout (last lines)\n${r.stdout.trim().split("\n").slice(-3).join("\n")}\n--- stderr (first lines)\n${r.stderr.trim().split("\n").slice(0, 4).join("\n")}`,
  );
const summary = (r: RunResult) => r.stdout.match(SUMMARY)?.[0];

/**
 * A pass-through to the relay that counts requests in flight (each held 50 ms, so that
 * concurrent requests overlap): the most `staple` ever had open at once.
 */
async function countingProxy(target: string) {
  let inflight = 0;
  let max = 0;
  let total = 0;
  const server = http.createServer(async (req, res) => {
    inflight++;
    total++;
    max = Math.max(max, inflight);
    try {
      await sleep(50);
      const upstream = await fetch(`${target}${req.url}`, {
        headers: { accept: req.headers.accept ?? "*/*" },
        signal: AbortSignal.timeout(20_000),
      });
      const body = Buffer.from(await upstream.arrayBuffer());
      res.writeHead(upstream.status, { "content-type": "application/ocsp-response" });
      res.end(body);
    } catch {
      res.writeHead(502).end();
    } finally {
      inflight--;
    }
  });
  const port = await freePort();
  await new Promise<void>((done) => server.listen(port, LOOPBACK, done));
  return {
    url: `http://${LOOPBACK}:${port}`,
    stats: () => ({ max, total }),
    close: () => new Promise<void>((done) => server.close(() => done())),
  };
}

describe("ocsp-relay staple: many certificates, HAProxy's runtime API, --watch", () => {
  let relay: Relay | undefined;
  const files = new E2eFiles("e2e staple", () => relay?.process.stderrPath);
  const cleanup = files.cleanup;
  let tmp: string;
  let pki: Pki;
  let ca: OcspCa;
  /** The 50 certificate files of the crt-list, and the list. */
  let certs: string[];
  let crtList: string;

  beforeAll(async () => {
    try {
      tmp = await files.tempDir("ocsp-relay-staple-e2e-");
      const names = Array.from({ length: COUNT }, (_, i) => ({
        name: `site${String(i + 1).padStart(2, "0")}`,
      }));
      pki = await makePki(join(tmp, "pki"), names, { key: "ec" });
      ca = await startOcspCa({
        pki,
        workDir: join(tmp, "ca"),
        nextUpdateMinutes: NEXT_UPDATE_MINUTES,
      });
      cleanup.add("CA", () => ca.close());
      const certDir = join(tmp, "haproxy", "certs");
      await mkdir(certDir, { recursive: true });
      const leaves = Object.values(pki.leaves).sort((a, b) => a.name.localeCompare(b.name));
      certs = await writeHaproxyCerts(pki, certDir, leaves);
      // As HAProxy reads it: comments, options in brackets, SNI filters, relative paths (here
      // resolved against the list's directory), one absolute path, one certificate listed twice.
      crtList = join(tmp, "haproxy", "crt-list.txt");
      const lines = certs.map((path, i) =>
        i === 0 ? path : `certs/${basename(path)} [alpn h2,http/1.1] site${i + 1}.example !*.example.org`,
      ); // prettier-ignore
      await writeFile(
        crtList,
        `# ${COUNT} sites\n${lines.join("\n")}\n\ncerts/site02.pem www.site2.example\n`,
      );
      relay = await startRelay({
        workerDir: await snapshotWorker(join(tmp, "worker")),
        persistTo: join(tmp, "kv"),
        logDir: join(tmp, "logs"),
        // 50 certificates the relay was not told about, asked at once: above the default burst
        // of CA requests it allows for those (40), which would answer the rest tryLater. An
        // operator pins them (ocsp-relay pin) instead; this test is about staple.
        vars: { UPSTREAM_BUDGET_BURST: "100" },
      });
      cleanup.add("relay", () => relay!.stop());
      await registerIssuer(relay.url, pki.caPem, ca.url);
    } catch (e) {
      await files.setupFailed(e);
    }
  });

  const mtimes = () => Promise.all(certs.map(async (c) => (await stat(`${c}.ocsp`)).mtimeMs));

  test(`first run over a crt-list of ${COUNT}: every staple written and verified, 8 requests at a time`, async () => {
    const proxy = await countingProxy(relay!.url);
    cleanup.add("counting proxy", () => proxy.close());
    const r = await cli(["staple", "--relay", proxy.url, "--crt-list", crtList]);
    show("staple --crt-list (first run)", r);
    expect(r.code, r.output).toBe(0);
    expect(summary(r)).toMatch(
      new RegExp(
        `^staple: ${COUNT} certificates, 0 fresh, ${COUNT} updated, 0 failed; next refresh due in 4h 5\\dm`,
      ),
    );
    expect(r.stderr).toContain(`for ${COUNT} certificates, 8 at a time`);
    expect(r.stdout.match(/^wrote .*\.pem\.ocsp \(\d+ bytes\): good, /gm)).toHaveLength(COUNT);
    expect(proxy.stats()).toEqual({ max: 8, total: COUNT });

    // Each file is the answer for its own certificate, as a client checks it.
    for (const cert of certs) {
      const [leaf, issuer] = parseOrThrow(await readFile(cert, "utf8"));
      const response = new Uint8Array(await readFile(`${cert}.ocsp`));
      const certId = await certIdFor(issuer, leaf, "SHA-1");
      const v = await verifyResponse({ response, issuer, certId, now: new Date() });
      expect(v.ok && v.certStatus.status, cert).toBe("good");
    }
    const verify = await cli([
      "verify", "--response", `${certs[7]}.ocsp`, "--issuer", pki.caPem, "--cert", pki.leaf("site08").pem,
    ]); // prettier-ignore
    expect(verify.stdout).toContain("OK: good");
  });

  test("a second run changes nothing: 0 updated, no file touched", async () => {
    const before = await mtimes();
    await sleep(20); // a write now would show in the mtimes
    const r = await cli(["staple", "--relay", relay!.url, "--crt-list", crtList]);
    show("staple --crt-list (second run)", r);
    expect(r.code, r.output).toBe(0);
    expect(summary(r)).toMatch(
      new RegExp(`^staple: ${COUNT} certificates, ${COUNT} fresh, 0 updated, 0 failed;`),
    );
    expect(r.stdout).not.toContain("wrote");
    expect(await mtimes()).toEqual(before);
  });

  test("a directory (issuer in another file there), a file with <crt>.issuer beside it; a leaf without its issuer counts as failed", async () => {
    const dir = join(tmp, "dir");
    const other = join(tmp, "other");
    const orphans = join(tmp, "orphans");
    await Promise.all([dir, other, orphans].map((d) => mkdir(d)));
    const copy = async (from: string, to: string) => writeFile(to, await readFile(from));
    await copy(pki.leaf("site05").pem, join(dir, "site05.pem"));
    await copy(pki.leaf("site06").pem, join(dir, "site06.crt"));
    await copy(pki.leaf("site06").key, join(dir, "site06.key")); // skipped by its name
    await copy(pki.caPem, join(dir, "ca.pem")); // only a CA: the issuer, not a target
    await writeFile(join(dir, "README"), "not a certificate\n"); // skipped, counted in a note
    await copy(pki.leaf("site07").pem, join(other, "site07.pem"));
    await copy(pki.caPem, join(other, "site07.pem.issuer"));
    const r = await cli(["staple", "--relay", relay!.url, dir, join(other, "site07.pem")]);
    show("staple DIR FILE", r);
    expect(r.code, r.output).toBe(0);
    expect(summary(r)).toMatch(/^staple: 3 certificates, 0 fresh, 3 updated, 0 failed;/);
    expect(r.stderr).toContain(`note: ${dir}: 1 file without a certificate skipped`);
    for (const f of [join(dir, "site05.pem.ocsp"), join(dir, "site06.crt.ocsp"), join(other, "site07.pem.ocsp")])
      expect(existsSync(f), f).toBe(true); // prettier-ignore

    // Found in a directory, a leaf whose issuer is nowhere: failed, the others go on; exit 3.
    await copy(pki.leaf("site08").pem, join(orphans, "site08.pem"));
    const orphan = await cli(["staple", "--relay", relay!.url, orphans, join(other, "site07.pem")]);
    show("staple DIR-without-issuer FILE", orphan);
    expect(orphan.code).toBe(3);
    expect(summary(orphan)).toMatch(
      /^staple: 2 certificates, 1 fresh, 0 updated, 1 failed, 1 without a usable staple;/,
    );
    expect(orphan.stderr).toMatch(
      /site08\.pem: the issuer of .* is not in .*site08\.pem: give --issuer/,
    );
    // Named on the command line, the same file is a usage error.
    const named = await cli(["staple", "--relay", relay!.url, join(orphans, "site08.pem")]);
    expect(named.code).toBe(2);
  });

  test("HAProxy takes changed answers through its runtime API; the reload command runs only when a file changed", async () => {
    const dir = join(tmp, "haproxy-live");
    await mkdir(dir);
    const [a, b] = await writeHaproxyCerts(pki, dir, [pki.leaf("site03"), pki.leaf("site04")]);
    const list = join(dir, "crt-list.txt");
    await writeFile(list, `${a} site03.e2e.test\n${b} site04.e2e.test\n`);
    const socket = join(dir, "admin.sock");
    const reloads = join(dir, "reloads.log");
    const reloadCmd = `echo reloaded >> ${reloads}`;
    // HAProxy 2.6 takes runtime updates only for certificates whose .ocsp existed at load.
    const first = await cli(["staple", "--relay", relay!.url, "--crt-list", list]);
    expect(first.code, first.output).toBe(0);
    const port = await freePort();
    const configFile = join(dir, "haproxy.cfg");
    await writeFile(
      configFile,
      `global
    stats socket ${socket} mode 600 level admin
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend https
    bind 127.0.0.1:${port} ssl crt-list ${list}
    http-request return status 200 content-type text/plain string ok
`,
    );
    const haproxy = await startHaproxy({ dir, configFile, port });
    cleanup.add("haproxy", () => haproxy.stop());
    const atStart = await stapleHandshake(port, "site04.e2e.test", pki.chainPem);
    expect(atStart.stapled, atStart.output).toBe(true);
    expect(atStart.thisUpdate).toBe(await fileThisUpdate(`${b}.ocsp`));

    // The CA's responder itself signs a new answer for every request: both files change.
    await sleep(1_100); // thisUpdate has one-second resolution
    const args = ["--crt-list", list, "--haproxy-socket", socket, "--reload-cmd", reloadCmd];
    const changed = await cli(["staple", "--relay", ca.url, ...args]);
    show("staple --haproxy-socket --reload-cmd (answers changed)", changed);
    expect(changed.code, changed.output).toBe(0);
    expect(summary(changed)).toMatch(
      /^staple: 2 certificates, 0 fresh, 2 updated, 0 failed; pushed 2 to HAProxy; reloaded; /,
    );
    expect(await readFile(reloads, "utf8")).toBe("reloaded\n");
    const pushed = await stapleHandshake(port, "site04.e2e.test", pki.chainPem);
    console.log(`e2e: HAProxy staples after the push:\n  ${pushed.lines.join("\n  ")}`);
    expect(pushed.thisUpdate).toBe(await fileThisUpdate(`${b}.ocsp`));
    expect(pushed.thisUpdate).not.toBe(atStart.thisUpdate);

    // The relay's copy is older than the files now: they stay, nothing is pushed, no reload.
    const older = await cli(["staple", "--relay", relay!.url, ...args]);
    show("staple --haproxy-socket --reload-cmd (nothing newer)", older);
    expect(older.code, older.output).toBe(0);
    expect(summary(older)).toMatch(/^staple: 2 certificates, 2 fresh, 0 updated, 0 failed; next /);
    expect(await readFile(reloads, "utf8")).toBe("reloaded\n");
  });

  test("--watch: one pass, a summary line, then SIGTERM stops it at once with exit 0", async () => {
    const logDir = join(tmp, "watch");
    await mkdir(logDir);
    const proc = startProcess(
      "staple-watch",
      process.execPath,
      [join(REPO_ROOT, "bin", "ocsp-relay.js"), "staple", "--watch", "--relay", relay!.url, "--crt-list", crtList],
      { logDir },
    ); // prettier-ignore
    cleanup.add("staple --watch", () => proc.stop(1_000));
    const line = await waitFor(
      "the watch's first summary line",
      async () => (await readFile(proc.stdoutPath, "utf8")).match(SUMMARY)?.[0],
      { timeoutMs: 60_000, intervalMs: 250 },
    );
    console.log(`e2e: staple --watch: ${line}`);
    expect(line).toBe(
      `staple: ${COUNT} certificates, ${COUNT} fresh, 0 updated, 0 failed; next run in 1h`,
    );
    const stoppedAt = Date.now();
    process.kill(proc.pid, "SIGTERM");
    await waitFor("the watch to exit", async () => proc.exited, {
      timeoutMs: 5_000,
      intervalMs: 50,
    });
    expect(proc.exited).toEqual({ code: 0, signal: null });
    expect(Date.now() - stoppedAt).toBeLessThan(3_000);
    expect(await readFile(proc.stderrPath, "utf8")).toContain("SIGTERM: stopping");
  });

  test("a failed reload is owed: the next run reloads though nothing changed, until it succeeds; a backgrounded reload does not hold the run", async () => {
    const dir = join(tmp, "pending");
    await mkdir(dir);
    const [cert] = await writeHaproxyCerts(pki, dir, [pki.leaf("site09")]);
    const marker = `${cert}.ocsp.reload-pending`;
    const log = join(dir, "reloads.log");
    const reloadCmd = (n: number, tail = "") => ["--reload-cmd", `${tail}echo r${n} >> ${log}`];
    // The CA signs a new answer on every request: the file changes, the reload fails.
    const failed = await cli(["staple", "--relay", ca.url, cert!, "--reload-cmd", `echo r1 >> ${log}; exit 1`]); // prettier-ignore
    show("staple --reload-cmd 'exit 1' (file changed)", failed);
    expect(failed.code).toBe(1);
    expect(summary(failed)).toMatch(/1 updated, 0 failed; reload FAILED \(exit 1\);/);
    expect(existsSync(marker)).toBe(true);
    // The relay's answer is older than the file: nothing changes, but the reload is owed. The
    // reload command leaves a process behind holding its output: the run does not wait for it.
    const started = Date.now();
    const retried = await cli(["staple", "--relay", relay!.url, cert!, ...reloadCmd(2, "sleep 15 & ")]); // prettier-ignore
    show("staple --reload-cmd (owed from the failed run)", retried);
    expect(retried.code, retried.output).toBe(0);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(summary(retried)).toMatch(
      /^staple: 1 certificate, 1 fresh, 0 updated, 0 failed; reloaded;/,
    );
    expect(retried.stderr).toContain("1 staple file not yet taken after an earlier failure");
    expect(existsSync(marker)).toBe(false);
    const third = await cli(["staple", "--relay", relay!.url, cert!, ...reloadCmd(3)]);
    expect(third.code, third.output).toBe(0);
    expect(summary(third)).not.toContain("reload");
    expect(await readFile(log, "utf8")).toBe("r1\nr2\n");
  });

  test("--out naming an input is a usage error; a file there that is not an OCSP response is not replaced", async () => {
    const dir = join(tmp, "out-guard");
    await mkdir(dir);
    const [cert] = await writeHaproxyCerts(pki, dir, [pki.leaf("site10")]);
    const issuer = join(dir, "ca.pem");
    await writeFile(issuer, await readFile(pki.caPem));
    const certBytes = await readFile(cert!);
    const intoCert = await cli(["staple", "--relay", relay!.url, "--out", join(dir, ".", "site10.pem"), cert!]); // prettier-ignore
    show("staple --out <the certificate>", intoCert);
    expect(intoCert.code).toBe(2);
    expect(intoCert.stderr).toMatch(/--out .* is .*site10\.pem, an input/);
    expect((await readFile(cert!)).equals(certBytes)).toBe(true);
    const intoIssuer = await cli(["staple", "--relay", relay!.url, "--issuer", issuer, "--out", issuer, cert!]); // prettier-ignore
    expect(intoIssuer.code).toBe(2);

    const notes = join(dir, "notes.txt");
    await writeFile(notes, "keep me\n");
    const refused = await cli(["staple", "--relay", relay!.url, "--out", notes, cert!]);
    show("staple --out <a file that is not a staple>", refused);
    expect(refused.code).toBe(3);
    expect(refused.stderr).toContain(`${notes} exists and is not an OCSP response`);
    expect(await readFile(notes, "utf8")).toBe("keep me\n");
    const empty = join(dir, "empty.ocsp");
    await writeFile(empty, "");
    const filled = await cli(["staple", "--relay", relay!.url, "--out", empty, cert!]);
    expect(filled.code, filled.output).toBe(0);
    expect((await stat(empty)).size).toBeGreaterThan(0);
  });

  test("an endless answer is refused past the size cap, nothing written (staple and fetch-ocsp-response)", async () => {
    const dir = join(tmp, "oversize");
    await mkdir(dir);
    const [cert] = await writeHaproxyCerts(pki, dir, [pki.leaf("site11")]);
    let sent = 0;
    const server = http.createServer((_req, res) => {
      res.writeHead(200, { "content-type": "application/ocsp-response" });
      const chunk = Buffer.alloc(65_536, 0x30);
      const pump = () => {
        while (!res.destroyed && sent < 1e9 && res.write(chunk)) sent += chunk.length;
        if (!res.destroyed) res.once("drain", pump);
      };
      pump();
    });
    const port = await freePort();
    await new Promise<void>((done) => server.listen(port, LOOPBACK, done));
    cleanup.add("endless server", async () => {
      server.closeAllConnections();
      await new Promise((done) => server.close(done));
    });
    const url = `http://${LOOPBACK}:${port}`;
    const out = join(dir, "site11.ocsp");
    const r = await cli(["staple", "--relay", url, "--out", out, cert!]);
    show("staple --relay <endless body>", r);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/the answer is over \d+ bytes \(refused after \d+\); nothing written/);
    expect(existsSync(out)).toBe(false);
    const h2o = await cli(["fetch-ocsp-response", "--relay", url, cert!]);
    expect(h2o.code).toBe(75);
    expect(h2o.stdout).toBe("");
    expect(h2o.stderr).toMatch(/the answer is over \d+ bytes/);
    expect(sent).toBeLessThan(100_000_000); // both stopped reading early
  });

  test("the relay down: every certificate failed, every file kept, exit 1; a file missing too: exit 3", async () => {
    await relay!.stop();
    const before = await Promise.all(certs.map((c) => readFile(`${c}.ocsp`)));
    const mtimesBefore = await mtimes();
    const args = ["staple", "--relay", relay!.url, "--crt-list", crtList, "--timeout", "5s"];
    const down = await cli(args);
    show("staple --crt-list (relay down)", down);
    expect(down.code).toBe(1);
    expect(summary(down)).toMatch(
      new RegExp(
        `^staple: ${COUNT} certificates, 0 fresh, 0 updated, ${COUNT} failed; next refresh due in 1m`,
      ),
    );
    expect(down.stderr).toMatch(
      /site01\.pem: cannot reach the relay at .*; nothing written; .*site01\.pem\.ocsp kept \(good, valid 9h \d+m more\)/,
    );
    expect(down.stderr.match(/  next: /g)).toHaveLength(1); // the advice once, not 50 times
    const after = await Promise.all(certs.map((c) => readFile(`${c}.ocsp`)));
    expect(after.every((bytes, i) => bytes.equals(before[i]!))).toBe(true);
    expect(await mtimes()).toEqual(mtimesBefore);

    await rm(`${certs[9]}.ocsp`);
    const missing = await cli(args);
    show("staple --crt-list (relay down, one file missing)", missing);
    expect(missing.code).toBe(3);
    expect(summary(missing)).toMatch(
      new RegExp(
        `^staple: ${COUNT} certificates, 0 fresh, 0 updated, ${COUNT} failed, 1 without a usable staple;`,
      ),
    );
    expect(missing.stderr).toContain("site10.pem.ocsp is MISSING: the server has no staple for it");
    expect(existsSync(`${certs[9]}.ocsp`)).toBe(false);
  });
});

function parseOrThrow(pem: string) {
  const certs = parsePemCertificates(pem);
  if (!certs.ok || certs.value.length < 2) throw new Error("expected the leaf and its issuer");
  return [certs.value[0]!, certs.value[1]!] as const;
}
