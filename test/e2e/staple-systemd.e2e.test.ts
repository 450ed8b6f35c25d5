// The systemd units of packaging/systemd/ as an operator installs them: `systemd-analyze verify`
// on each (systemd is not PID 1 here, so they are not started by systemd), then their ExecStart
// lines run by hand, as systemd would run them, against a real HAProxy on loopback. The paths
// are substituted (node, the checkout, the crt-list, the stats socket), and --relay points at the
// CA's own responder, which answers GET as the relay does and signs a new answer per request, so
// every run changes the files and pushes them (`staple` against the relay itself:
// staple.e2e.test.ts).

import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, describe, expect, test } from "vitest";
import {
  cli,
  fileThisUpdate,
  freePort,
  makePki,
  REPO_ROOT,
  run,
  splitCommandLine,
  stapleHandshake,
  startHaproxy,
  startOcspCa,
  startProcess,
  unitExecStarts,
  waitFor,
  which,
  writeHaproxyCerts,
  type OcspCa,
  type Pki,
} from "../../scripts/support/index.ts";
import { E2eFiles } from "./files.ts";

const UNITS = [
  "ocsp-relay-staple.service",
  "ocsp-relay-staple.timer",
  "ocsp-relay-staple-watch.service",
];
const SYSTEMD_ANALYZE = which("systemd-analyze");

describe("packaging/systemd: the staple units verify, and their ExecStart lines work", () => {
  const files = new E2eFiles("e2e staple systemd");
  const cleanup = files.cleanup;
  let tmp: string;
  let pki: Pki;
  let ca: OcspCa;
  let certs: string[];
  let socket: string;
  let port: number;
  /** Unit file name -> its text with this machine's paths. */
  const units = new Map<string, string>();

  beforeAll(async () => {
    try {
      tmp = await files.tempDir("ocsp-relay-staple-systemd-e2e-");
      pki = await makePki(join(tmp, "pki"), [{ name: "a" }, { name: "b" }, { name: "c" }], {
        key: "ec",
      });
      ca = await startOcspCa({ pki, workDir: join(tmp, "ca"), nextUpdateMinutes: 600 });
      cleanup.add("CA", () => ca.close());
      const certDir = join(tmp, "haproxy", "certs");
      await mkdir(certDir, { recursive: true });
      certs = await writeHaproxyCerts(pki, certDir, [pki.leaf("a"), pki.leaf("b"), pki.leaf("c")]);
      const crtList = join(tmp, "haproxy", "crt-list.txt");
      await writeFile(crtList, certs.map((c, i) => `${c} ${"abc"[i]}.e2e.test\n`).join(""));
      socket = join(tmp, "haproxy", "admin.sock");
      const substitutions: [string, string][] = [
        ["/usr/bin/node", process.execPath],
        ["/opt/ocsp-relay", REPO_ROOT],
        ["http://relay.example.net", ca.url],
        ["/etc/haproxy/crt-list.txt", crtList],
        ["/etc/haproxy/certs", certDir],
        ["/run/haproxy/admin.sock", socket],
      ];
      await mkdir(join(tmp, "units"));
      for (const name of UNITS) {
        let text = await readFile(join(REPO_ROOT, "packaging", "systemd", name), "utf8");
        for (const [from, to] of substitutions) text = text.replaceAll(from, to);
        units.set(name, text);
        await writeFile(join(tmp, "units", name), text);
      }

      // Before HAProxy starts, the first answers (HAProxy 2.6 takes runtime updates only for
      // certificates whose .ocsp it loaded), then HAProxy with its stats socket.
      const first = await cli(["staple", "--relay", ca.url, "--crt-list", crtList]);
      if (first.code !== 0) throw new Error(`first staple run failed:\n${first.output}`);
      port = await freePort();
      const configFile = join(tmp, "haproxy", "haproxy.cfg");
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
    bind 127.0.0.1:${port} ssl crt-list ${crtList}
    http-request return status 200 content-type text/plain string ok
`,
      );
      const haproxy = await startHaproxy({ dir: join(tmp, "haproxy"), configFile, port });
      cleanup.add("haproxy", () => haproxy.stop());
    } catch (e) {
      await files.setupFailed(e);
    }
  });

  test.skipIf(!SYSTEMD_ANALYZE)(
    `systemd-analyze verify accepts the units without a warning${SYSTEMD_ANALYZE ? "" : " (SKIPPED: systemd-analyze is not installed; apt-get install systemd)"}`,
    async () => {
      const r = await run(
        SYSTEMD_ANALYZE!,
        ["verify", ...UNITS.map((u) => join(tmp, "units", u))],
        {
          timeoutMs: 30_000,
        },
      );
      console.log(
        `e2e: systemd-analyze verify ${UNITS.join(" ")} -> exit ${r.code}${r.output ? `\n${r.output}` : " (no output)"}`,
      );
      expect(r.code, r.output).toBe(0);
      expect(r.output).toBe("");
    },
  );

  /** The one ExecStart line of a unit, as systemd splits it. */
  const execStart = (name: string) => {
    const lines = unitExecStarts(units.get(name)!);
    expect(lines, name).toHaveLength(1);
    return splitCommandLine(lines[0]!);
  };

  test("ocsp-relay-staple.service: its ExecStart refreshes every file and pushes them to HAProxy (exit 0)", async () => {
    const [cmd, ...args] = execStart("ocsp-relay-staple.service");
    expect(cmd).toBe(process.execPath);
    const r = await run(cmd!, args, { timeoutMs: 60_000 });
    console.log(
      `e2e: ocsp-relay-staple.service ExecStart -> exit ${r.code}\n${r.stdout.trim().split("\n").at(-1)}`,
    );
    expect(r.code, r.output).toBe(0);
    expect(r.stdout).toMatch(
      /^staple: 3 certificates, 0 fresh, 3 updated, 0 failed; pushed 3 to HAProxy; next refresh due in /m,
    );
    const h = await stapleHandshake(port, "b.e2e.test", pki.chainPem);
    expect(h.stapled, h.output).toBe(true);
    expect(h.thisUpdate).toBe(await fileThisUpdate(`${certs[1]}.ocsp`));
  });

  test("ocsp-relay-staple-watch.service: its ExecStart runs a pass and stops on SIGTERM (systemctl stop) with exit 0", async () => {
    const [cmd, ...args] = execStart("ocsp-relay-staple-watch.service");
    expect(args).toContain("--watch");
    const logDir = join(tmp, "watch");
    await mkdir(logDir);
    const proc = startProcess("staple-watch", cmd!, args, { logDir });
    cleanup.add("watch", () => proc.stop(1_000));
    const line = await waitFor(
      "the watch's first summary line",
      async () => (await readFile(proc.stdoutPath, "utf8")).match(/^staple: .*$/m)?.[0],
      { timeoutMs: 60_000, intervalMs: 250 },
    );
    console.log(`e2e: ocsp-relay-staple-watch.service ExecStart: ${line}`);
    expect(line).toMatch(
      /^staple: 3 certificates, 0 fresh, 3 updated, 0 failed; pushed 3 to HAProxy; next run in 1h$/,
    );
    process.kill(proc.pid, "SIGTERM");
    await waitFor("the watch to exit", async () => proc.exited, {
      timeoutMs: 5_000,
      intervalMs: 50,
    });
    expect(proc.exited).toEqual({ code: 0, signal: null });
  });
});
