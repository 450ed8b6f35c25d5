// A CA whose responder refuses GET (HTTP 400 to every GET, POST answered by `openssl ocsp`), the
// relay under `wrangler dev` and nginx stapling through it, all on loopback. What issue 19 found
// with a deployed responder: nginx stapled nothing, every certificate of that CA got tryLater.
// Now the relay POSTs at once after the refused GET, then POSTs only, and counts it in /metrics.

import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, describe, expect, test } from "vitest";
import {
  ADMIN_TOKEN,
  makePki,
  opensslOcspClient,
  registerIssuer,
  sClientStatus,
  snapshotWorker,
  startNginx,
  startOcspCa,
  startRelay,
  waitFor,
  type OcspCa,
  type Pki,
  type Relay,
} from "../../scripts/support/index.ts";
import { E2eFiles } from "./files.ts";

describe("a responder that refuses GET, nginx stapling through the relay", () => {
  const files = new E2eFiles("e2e-get-fallback", () => relay?.process.stdoutPath);
  const cleanup = files.cleanup;
  let tmp: string;
  let pki: Pki;
  let ca: OcspCa;
  let relay: Relay;
  let issuerId: string;

  /** What the CA saw about a leaf: method and HTTP status, in order. */
  const seenBy = (name: string) =>
    ca.requestsFor(pki.leaf(name).serial).map((r) => `${r.method} ${r.outcome}`);

  beforeAll(async () => {
    try {
      tmp = await files.tempDir();
      pki = await makePki(join(tmp, "pki"), [{ name: "leaf-nginx" }, { name: "leaf-second" }]);
      ca = await startOcspCa({
        pki,
        workDir: join(tmp, "ca"),
        nextUpdateMinutes: 10,
        refuseGet: 400,
      });
      cleanup.add("CA", () => ca.close());
      relay = await startRelay({
        workerDir: await snapshotWorker(join(tmp, "worker")),
        persistTo: join(tmp, "kv"),
        logDir: join(tmp, "logs"),
      });
      cleanup.add("relay", () => relay.stop());
      const registered = await registerIssuer(relay.url, pki.caPem, ca.url);
      issuerId = registered.body.id;
    } catch (e) {
      await files.setupFailed(e);
    }
  });

  test("openssl ocsp straight to the CA (POST) is answered; a GET is refused with 400", async () => {
    const direct = await opensslOcspClient({
      url: ca.url,
      issuer: pki.caPem,
      cert: pki.leaf("leaf-second").pem,
      caFile: pki.chainPem,
    });
    expect(direct.stdout).toContain(": good");
    const res = await fetch(`${ca.url}MEIwQDA%2BMDwwOjAJBgUrDgMCGgUABBQ`, {
      signal: AbortSignal.timeout(10_000),
    });
    await res.body?.cancel();
    expect(res.status).toBe(400);
  });

  test("nginx staples a good answer: the relay POSTed after the refused GET", async () => {
    const leaf = pki.leaf("leaf-nginx");
    const chain = join(tmp, "nginx-chain.pem");
    await writeFile(
      chain,
      (await readFile(leaf.pem, "utf8")) + (await readFile(pki.caPem, "utf8")),
    );
    const nginx = await startNginx({
      dir: join(tmp, "nginx"),
      certChainPem: chain,
      keyPem: leaf.key,
      trustedPem: pki.chainPem,
      responderUrl: `${relay.url}/`,
    });
    cleanup.add("nginx", () => nginx.stop());

    // nginx asks for the staple on the first handshake and sends it on a later one.
    let tries = 0;
    const stapled = await waitFor(
      "nginx to staple a good OCSP response",
      async () => {
        tries++;
        const r = await sClientStatus(nginx.port, pki.chainPem);
        const ok =
          r.output.includes("OCSP Response Status: successful") &&
          r.output.includes("Cert Status: good");
        return ok ? r.output : undefined;
      },
      { timeoutMs: 15_000, intervalMs: 500 },
    );
    const lines = stapled
      .split("\n")
      .filter((l) =>
        /OCSP response:|OCSP Response Status|Cert Status|This Update|Next Update|Serial Number: [0-9A-F]+$|Verify return code/.test(
          l,
        ),
      )
      .map((l) => l.trim());
    console.log(`e2e: s_client after ${tries} handshake(s):\n  ${lines.join("\n  ")}`);
    console.log(`e2e: the CA saw, for leaf-nginx: ${seenBy("leaf-nginx").join(", ")}`);
    expect(stapled).toContain("OCSP Response Status: successful");
    expect(stapled).toContain("Cert Status: good");
    expect(stapled).toContain(`Serial Number: ${leaf.serial}`);
    expect(stapled).toContain("Verify return code: 0 (ok)");
    // One refused GET, the POST at once, and nothing more: nginx was served from the cache.
    expect(seenBy("leaf-nginx")).toEqual(["GET 400", "POST 200"]);

    const logged = (await readFile(relay.process.stdoutPath, "utf8"))
      .split("\n")
      .filter((l) => l.includes('"upstream.get_refused"'));
    console.log(`e2e: relay log:\n  ${logged.map((l) => l.trim()).join("\n  ")}`);
    expect(logged).toHaveLength(1);
    expect(logged[0]).toContain(`"responder":"${ca.url}"`);
  });

  test("the next certificate of that CA is POSTed at once, and /metrics counts one fallback", async () => {
    const asked = await opensslOcspClient({
      url: `${relay.url}/`,
      issuer: pki.caPem,
      cert: pki.leaf("leaf-second").pem,
      caFile: pki.chainPem,
    });
    expect(asked.output).toContain("Response verify OK");
    expect(asked.stdout).toContain(": good");
    // The direct POST of the first test, then the relay's own: no GET tried.
    console.log(`e2e: the CA saw, for leaf-second: ${seenBy("leaf-second").join(", ")}`);
    expect(seenBy("leaf-second")).toEqual(["POST 200", "POST 200"]);

    // Owners report to the ledger after their reply: scrape until both fetches are counted.
    const okFetches = `ocsp_relay_upstream_fetches_total{issuer="${issuerId}",result="ok"} 2\n`;
    const text = await waitFor(
      "/metrics to count both fetches",
      async () => {
        const res = await fetch(`${relay.url}/metrics`, {
          headers: { Authorization: `Bearer ${ADMIN_TOKEN}` },
          signal: AbortSignal.timeout(10_000),
        });
        const body = await res.text();
        return body.includes(okFetches) ? body : undefined;
      },
      { timeoutMs: 10_000, intervalMs: 300 },
    );
    const excerpt = text
      .split("\n")
      .filter((l) => /upstream_get_fallbacks_total|upstream_fetches_total\{/.test(l));
    console.log(`e2e: /metrics excerpt:\n  ${excerpt.join("\n  ")}`);
    expect(text).toContain(`ocsp_relay_upstream_get_fallbacks_total{issuer="${issuerId}"} 1\n`);
  });
});
