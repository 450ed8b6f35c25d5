// The file and process handling under `ocsp-relay staple` (src/cli/args.ts, staple-servers.ts):
// an atomic write that a planted symlink cannot redirect, an HTTP body read no further than its
// cap, a reload command done when its shell exits (its process group killed on timeout), and the
// fleet key masked in messages.

import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { maskKey, readBodyCapped, UsageError, writeFileAtomic } from "../../src/cli/args.ts";
import { runReloadCommand } from "../../src/cli/staple-servers.ts";

const dir = mkdtempSync(join(tmpdir(), "ocsp-relay-staple-io-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("writeFileAtomic", () => {
  it("does not follow a symlink planted at the temporary name it used to use", () => {
    const victim = join(dir, "victim");
    writeFileSync(victim, "precious\n");
    const out = join(dir, "site.pem.ocsp");
    // The old name (`<out>.tmp-<pid>`), and a few pids around it, all pointing at the victim.
    for (let pid = process.pid - 2; pid <= process.pid + 2; pid++)
      symlinkSync(victim, `${out}.tmp-${pid}`);
    writeFileAtomic(out, new Uint8Array([1, 2, 3]));
    expect(readFileSync(victim, "utf8")).toBe("precious\n");
    expect([...readFileSync(out)]).toEqual([1, 2, 3]);
    // Nothing of its own left behind: only the planted links remain beside the file.
    const left = readdirSync(dir).filter((n) => n.startsWith("site.pem.ocsp.tmp-"));
    expect(left.sort()).toEqual(
      [-2, -1, 0, 1, 2].map((d) => `site.pem.ocsp.tmp-${process.pid + d}`).sort(),
    );
  });

  it("replaces a symlink at the target itself instead of writing through it", () => {
    const victim = join(dir, "victim2");
    writeFileSync(victim, "precious\n");
    const out = join(dir, "linked.ocsp");
    symlinkSync(victim, out);
    writeFileAtomic(out, "new");
    expect(readFileSync(victim, "utf8")).toBe("precious\n");
    expect(readFileSync(out, "utf8")).toBe("new");
  });

  it("keeps the target's mode, else 0644", () => {
    const out = join(dir, "mode.ocsp");
    writeFileAtomic(out, "a");
    expect(statSync(out).mode & 0o777).toBe(0o644);
    chmodSync(out, 0o640);
    writeFileAtomic(out, "b");
    expect(statSync(out).mode & 0o777).toBe(0o640);
  });

  it("fails as a usage error in a missing directory, leaving nothing", () => {
    expect(() => writeFileAtomic(join(dir, "nope", "x.ocsp"), "a")).toThrow(UsageError);
    expect(existsSync(join(dir, "nope"))).toBe(false);
  });
});

describe("readBodyCapped", () => {
  it("stops reading an endless body past the cap, and reads a small one whole", async () => {
    let closed = false;
    const server = http.createServer((req, res) => {
      if (req.url === "/small") return void res.end(Buffer.alloc(100, 7));
      res.writeHead(200, { "content-type": "application/ocsp-response" }); // chunked, no length
      const chunk = Buffer.alloc(16_384, 1);
      const pump = () => {
        while (!res.destroyed && res.write(chunk));
        if (!res.destroyed) res.once("drain", pump);
      };
      res.on("close", () => (closed = true));
      pump();
    });
    await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const big = await readBodyCapped(await fetch(`${base}/big`), 65_536);
      expect(big.ok).toBe(false);
      expect(!big.ok && big.over).toBeGreaterThan(65_536);
      expect(!big.ok && big.over).toBeLessThan(65_536 + 1_000_000);
      const small = await readBodyCapped(await fetch(`${base}/small`), 65_536);
      expect(small.ok && small.bytes.length).toBe(100);
      await new Promise((r) => setTimeout(r, 200));
      expect(closed).toBe(true); // the stream was cancelled: the server sees the client go
    } finally {
      server.closeAllConnections();
      await new Promise((done) => server.close(done));
    }
  });

  it("refuses a declared Content-Length over the cap without reading", async () => {
    const res = new Response("x".repeat(10), { headers: { "content-length": "999999" } });
    expect(await readBodyCapped(res, 1_000)).toEqual({ ok: false, over: 999_999 });
  });
});

describe("runReloadCommand", () => {
  it("is done when the shell exits, even with a background process holding its output", async () => {
    const started = Date.now();
    const r = await runReloadCommand("sleep 15 & echo started");
    expect(r.code).toBe(0);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it("gives the shell's exit code", async () => {
    expect(await runReloadCommand("exit 3")).toEqual({ code: 3 });
  });

  it("kills the whole process group on timeout", async () => {
    const pidFile = join(dir, "bg.pid");
    const started = Date.now();
    const r = await runReloadCommand(`sleep 30 & echo $! > ${pidFile}; wait`, 500);
    expect(r.code).toBe(null);
    expect(Date.now() - started).toBeLessThan(5_000);
    const pid = Number(readFileSync(pidFile, "utf8"));
    await new Promise((done) => setTimeout(done, 100));
    // The background sleep is gone too (or a zombie, when nothing here reaps orphans).
    const state = existsSync(`/proc/${pid}/stat`)
      ? readFileSync(`/proc/${pid}/stat`, "utf8").replace(/^.*\) /, "")[0]
      : "gone";
    expect(["gone", "Z", "X"]).toContain(state);
  });
});

describe("maskKey", () => {
  it("masks the fleet key in a URL, and leaves the rest", () => {
    expect(maskKey("cannot reach http://relay/k/abc-DEF_0123456789~x/MEUw: timed out")).toBe(
      "cannot reach http://relay/k/…/MEUw: timed out",
    );
    expect(maskKey("http://relay.example.net")).toBe("http://relay.example.net");
  });
});
