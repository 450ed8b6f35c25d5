// Apache httpd, lighttpd and h2o (Debian's packages) stapling through the relay, each started from
// the snippet `ocsp-relay config apache|lighttpd|h2o` printed, used as printed: only the listen
// address, pid and log paths around it are the test's. The leaves name a responder nobody answers
// at, so a staple can only have come through the relay (registered with the real CA). What an
// operator sees: `openssl s_client -status` showing a stapled, good answer.

import { existsSync, statSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, describe, expect, test } from "vitest";
import {
  cli,
  freePort,
  issueLeaf,
  makePki,
  registerIssuer,
  run,
  sClientStatus,
  snapshotWorker,
  startApache,
  startH2o,
  startLighttpd,
  startOcspCa,
  startRelay,
  waitFor,
  type OcspCa,
  type Pki,
  type Relay,
  type RunResult,
} from "../../scripts/support/index.ts";
import { E2eFiles } from "./files.ts";

/** Long enough for the snippets' `staple --min-validity 1h` to take the CA's answers as printed. */
const NEXT_UPDATE_MINUTES = 180;

const show = (title: string, r: RunResult) =>
  console.log(`e2e: ${title} -> exit ${r.code}\n--- stdout\n${r.stdout}--- stderr\n${r.stderr}`);

/** The lines of `s_client -status` output about the staple. */
const stapleLines = (output: string) =>
  output
    .split("\n")
    .map((l) => l.trim())
    .filter((l) =>
      /^(OCSP response:|OCSP Response Status:|Cert Status:|Verify return code:)/.test(l),
    );

/** A good staple, and a chain that verified up to the test root. */
const expectGoodStaple = (output: string) => {
  expect(output).toContain("OCSP Response Status: successful");
  expect(output).toContain("Cert Status: good");
  expect(output).toContain("Verify return code: 0 (ok)");
};

describe("Apache, lighttpd and h2o staple through the relay, each from the snippet config printed", () => {
  const files = new E2eFiles("e2e servers", () => relay?.process.stdoutPath);
  const cleanup = files.cleanup;
  let tmp: string;
  let pki: Pki;
  let ca: OcspCa;
  let relay: Relay;
  /** Where the leaves' AIA points: nothing listens there. */
  let deadResponder: string;

  /** A leaf of the test CA, and its fullchain (leaf, then CA) and key in `dir`. */
  const site = async (dir: string, name: string, serial: string, ocsp = true) => {
    await mkdir(dir, { recursive: true });
    const leaf = await issueLeaf(pki, {
      name,
      serial,
      ...(ocsp ? { ocspUrl: deadResponder } : { crlUrl: `${deadResponder}ca.crl` }),
    });
    const cert = join(dir, `${name}.pem`);
    await writeFile(cert, (await readFile(leaf.pem, "utf8")) + (await readFile(pki.caPem, "utf8")));
    return { leaf, cert, key: leaf.key };
  };
  /** `ocsp-relay config <server>` for a site on 127.0.0.1:`port`; its stdout, the snippet. */
  const printed = async (
    server: string,
    s: { cert: string; key: string },
    port: number,
    extra: string[] = [],
  ) => {
    const r = await cli([
      "config", server, "--relay", relay.url, "--cert", s.cert, "--key", s.key,
      "--server-name", "localhost", "--listen", `127.0.0.1:${port}`, ...extra,
    ]); // prettier-ignore
    show(`config ${server}`, r);
    expect(r.code).toBe(0);
    return r.stdout;
  };
  const handshake = async (server: string, port: number) => {
    const r = await sClientStatus(port, pki.chainPem);
    console.log(`e2e: ${server}: s_client -status:\n  ${stapleLines(r.output).join("\n  ")}`);
    return r.output;
  };

  beforeAll(async () => {
    try {
      tmp = await files.tempDir("ocsp-relay-servers-e2e-");
      pki = await makePki(join(tmp, "pki"), []);
      ca = await startOcspCa({
        pki,
        workDir: join(tmp, "ca"),
        nextUpdateMinutes: NEXT_UPDATE_MINUTES,
      });
      cleanup.add("CA", () => ca.close());
      deadResponder = `http://127.0.0.1:${await freePort()}/`;
      relay = await startRelay({
        workerDir: await snapshotWorker(join(tmp, "worker")),
        persistTo: join(tmp, "kv"),
        logDir: join(tmp, "logs"),
      });
      cleanup.add("relay", () => relay.stop());
      expect((await registerIssuer(relay.url, pki.caPem, ca.url)).status).toBe(201);
    } catch (e) {
      await files.setupFailed(e);
    }
  });

  test("Apache asks the relay (SSLStaplingForceURL) and staples its first handshake", async () => {
    const dir = join(tmp, "apache");
    const s = await site(dir, "apache-site", "4001");
    const port = await freePort();
    const snippet = await printed("apache", s, port);
    expect(snippet).toContain(`SSLStaplingForceURL ${relay.url}/`);
    const apache = await startApache({ dir, snippet, port });
    cleanup.add("apache", () => apache.stop());

    // mod_ssl fetches inside the first handshake that finds its cache empty, and staples it.
    expectGoodStaple(await handshake("apache, first handshake", port));
    expectGoodStaple(await handshake("apache, second handshake", port));
    // One fetch from the CA, by the relay (the AIA responder is dead: Apache never reached it).
    const fetches = ca.fetchesFor(s.leaf.serial);
    expect(fetches).toHaveLength(1);
    expect(fetches[0]!.rawHeaders).toContainEqual([
      "User-Agent",
      expect.stringMatching(/^ocsp-relay\//),
    ]);
    expect(await readFile(join(dir, "error.log"), "utf8")).toContain(`OCSP response`);
  });

  test("lighttpd staples the file the printed `staple` command wrote, from its first handshake", async () => {
    const dir = join(tmp, "lighttpd");
    const s = await site(dir, "lighttpd-site", "4002");
    const port = await freePort();
    const snippet = await printed("lighttpd", s, port);
    // Step 2 of the snippet, as printed: the first answer, before lighttpd starts.
    const line = snippet.match(/^#\s+npx ocsp-relay (staple .*)$/m)?.[1];
    expect(line).toBe(
      `staple --relay ${relay.url} --out ${s.cert}.ocsp --min-validity 1h ${s.cert}`,
    );
    const staple = await cli(line!.split(/\s+/));
    show("staple (lighttpd step 2)", staple);
    expect(staple.code).toBe(0);
    expect(existsSync(`${s.cert}.ocsp`)).toBe(true);

    const lighttpd = await startLighttpd({ dir, snippet, port });
    cleanup.add("lighttpd", () => lighttpd.stop());
    expectGoodStaple(await handshake("lighttpd, first handshake", port));
  });

  test("h2o runs the printed script (fetch-ocsp-response) and staples what the relay answered", async () => {
    const dir = join(tmp, "h2o");
    const s = await site(dir, "h2o-site", "4003");
    const port = await freePort();
    const cmd = join(dir, "ocsp-relay-fetch-ocsp-response");
    const snippet = await printed("h2o", s, port, ["--update-cmd", cmd]);
    // Step 1 of the snippet, as printed: the script h2o runs, written by the lines shown.
    const lines = snippet.split("\n");
    const from = lines.findIndex((l) => l.startsWith("#      umask 027"));
    const to = lines.findIndex((l) => l.startsWith(`#      chmod 750 ${cmd}`));
    expect(from).toBeGreaterThan(0);
    expect(to).toBeGreaterThan(from);
    const step1 = lines
      .slice(from, to + 1)
      .map((l) => l.replace(/^# {6}/, ""))
      .join("\n");
    const made = await run("sh", ["-e", "-c", step1]);
    expect(made.code, made.output).toBe(0);
    expect(statSync(cmd).mode & 0o777).toBe(0o750); // it may hold the fleet key

    // The command alone, as h2o runs it: DER on stdout; with the relay unreachable, exit 75.
    const direct = await run(cmd, [s.cert], { timeoutMs: 60_000 });
    expect(direct.code, direct.stderr).toBe(0);
    expect(direct.stderr).toContain("good");
    const down = await cli(["fetch-ocsp-response", "--relay", deadResponder, s.cert]);
    expect(down.code).toBe(75);
    expect(down.stdout).toBe("");
    expect(down.stderr).toContain("h2o keeps its current staple");

    const h2o = await startH2o({ dir, snippet, port });
    cleanup.add("h2o", () => h2o.stop());
    expect(h2o.test.output).toContain("[OCSP Stapling] stapling works for file");
    // h2o does not wait for its updater: the staple comes within seconds of the start.
    const started = Date.now();
    let handshakes = 0;
    const stapled = await waitFor(
      "h2o to staple a good answer",
      async () => {
        handshakes++;
        const out = await handshake(`h2o, handshake ${handshakes}`, port);
        return out.includes("Cert Status: good") ? out : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 500 },
    );
    console.log(`e2e: h2o stapled after ${Date.now() - started} ms (handshake ${handshakes})`);
    expectGoodStaple(stapled);
    expect(await readFile(h2o.errorLog, "utf8")).toContain(
      "[OCSP Stapling] successfully updated the response",
    );
  });

  test("a certificate without an OCSP responder: each snippet turns stapling off, and works", async () => {
    type Start = (dir: string, snippet: string, port: number) => Promise<{ stop(): Promise<void> }>;
    const checks: [string, Start, (snippet: string) => void][] = [
      [
        "apache",
        (dir, snippet, port) => startApache({ dir, snippet, port }),
        (snippet) => expect(snippet).toMatch(/^\s*SSLUseStapling off$/m),
      ],
      [
        "lighttpd",
        (dir, snippet, port) => startLighttpd({ dir, snippet, port }),
        (snippet) => expect(snippet).not.toMatch(/^\s*ssl\.stapling-file/m),
      ],
      [
        "h2o",
        (dir, snippet, port) => startH2o({ dir, snippet, port }),
        (snippet) => expect(snippet).toMatch(/^\s*ocsp-update-interval: 0$/m),
      ],
    ];
    let serial = 0x4010;
    for (const [server, start, stillOff] of checks) {
      const dir = join(tmp, `${server}-crl`);
      const s = await site(dir, `${server}-crl-only`, (serial++).toString(16).toUpperCase(), false);
      const port = await freePort();
      const snippet = await printed(server, s, port);
      expect(snippet).toContain("names no OCSP responder");
      stillOff(snippet);
      const running = await start(dir, snippet, port);
      cleanup.add(server, () => running.stop());
      const out = await handshake(`${server}, CRL-only certificate`, port);
      expect(out).toContain("OCSP response: no response sent");
      await running.stop();
    }
  });

  test("config apache refuses an https relay; the flags of one server are refused by the others", async () => {
    const cases: [string[], RegExp][] = [
      [["config", "apache", "--relay", "https://relay.example.net"], /speaks only http:\/\//],
      [
        ["config", "apache", "--relay", relay.url, "--update-cmd", "/x"],
        /--update-cmd is for config h2o/,
      ],
      [["config", "h2o", "--relay", relay.url, "--stapling-file", "/x"], /--stapling-file is for/],
      [["config", "lighttpd", "--relay", relay.url, "--listen", "nowhere"], /--listen nowhere/],
      [["fetch-ocsp-response", "--relay", relay.url], /one certificate file/],
    ];
    for (const [args, message] of cases) {
      const r = await cli(args);
      expect(r.code, `ocsp-relay ${args.join(" ")}\n${r.output}`).toBe(2);
      expect(r.output).toMatch(message);
    }
  });
});
