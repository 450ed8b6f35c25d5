// The relay as a TLS fleet sees it: `wrangler dev` on loopback between real clients (openssl ocsp,
// curl, nginx stapling) and a real CA responder (openssl's, behind a recording proxy). What the
// README promises: verified answers, one CA fetch per certificate per validity window, the CA
// never sees a client, cached answers outlive a CA outage and a relay restart.

import { writeFile, readFile, mkdir } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, describe, expect, test } from "vitest";
import {
  cliVerify,
  curl,
  makePki,
  opensslOcspClient,
  registerIssuer,
  relayGetUrl,
  snapshotWorker,
  sClientStatus,
  startNginx,
  startOcspCa,
  startRelay,
  waitFor,
  type OcspCa,
  type Pki,
  type Relay,
} from "../../scripts/support/index.ts";
import { E2eFiles } from "./files.ts";

/** Long enough that nothing the CA signs expires while this file runs. */
const NEXT_UPDATE_MINUTES = 10;
/** wrangler.toml's UPSTREAM_TIMEOUT_MS. */
const UPSTREAM_TIMEOUT_MS = 5_000;

/** What a client might reveal about itself; none of it may reach the CA. */
const CLIENT_HEADERS: [string, string][] = [
  ["X-Forwarded-For", "203.0.113.9"],
  ["X-Real-IP", "203.0.113.9"],
  ["Cookie", "a=b"],
  ["User-Agent", "curl-test-agent"],
  ["Forwarded", "for=203.0.113.9"],
  ["CF-Connecting-IP", "203.0.113.9"],
];

describe("ocsp-relay between real OCSP clients and a real CA", () => {
  const files = new E2eFiles("e2e", () => relay?.process.stdoutPath);
  const cleanup = files.cleanup;
  let tmp: string;
  let scratch: string;
  let pki: Pki;
  let ca: OcspCa;
  let relay: Relay;
  /** The worker as it was when the file started (see snapshotWorker): both relays run it. */
  let workerDir: string;

  const leaf = (name: string) => pki.leaf(name);
  const ask = (name: string, extra: { nonce?: boolean } = {}) =>
    opensslOcspClient({
      url: `${relay.url}/`,
      issuer: pki.caPem,
      cert: leaf(name).pem,
      caFile: pki.chainPem,
      ...extra,
    });
  /** The RFC 6960 GET URL for a leaf, from `ocsp-relay request --url`, against the current relay. */
  const getUrls = new Map<string, string>();
  const urlFor = async (name: string) => {
    const key = `${relay.url} ${name}`;
    if (!getUrls.has(key))
      getUrls.set(key, await relayGetUrl(relay.url, pki.caPem, leaf(name).pem));
    return getUrls.get(key)!;
  };
  const get = async (name: string, args: string[] = []) => curl(await urlFor(name), args, scratch);
  /** The relay's own verdict (ocsp-relay verify) on a body it served. */
  const verdictOn = async (body: Buffer, name: string) => {
    const file = join(scratch, `${name}-${Date.now()}.der`);
    await writeFile(file, body);
    return cliVerify(file, pki.caPem, leaf(name).pem);
  };

  beforeAll(async () => {
    try {
      tmp = await files.tempDir();
      scratch = join(tmp, "scratch");
      await mkdir(scratch);
      pki = await makePki(join(tmp, "pki"), [
        { name: "leaf-good" },
        { name: "leaf-revoked", state: "revoked" },
        { name: "leaf-private" },
        { name: "leaf-crowd" },
        { name: "leaf-unknown", state: "absent" },
        { name: "leaf-late" },
      ]);
      ca = await startOcspCa({
        pki,
        workDir: join(tmp, "ca"),
        nextUpdateMinutes: NEXT_UPDATE_MINUTES,
      });
      cleanup.add("CA", () => ca.close());
      workerDir = await snapshotWorker(join(tmp, "worker"));
      const started = Date.now();
      relay = await startRelay({
        workerDir,
        persistTo: join(tmp, "kv"),
        logDir: join(tmp, "logs"),
      });
      cleanup.add("relay", () => relay.stop()); // whichever relay is current at teardown
      console.log(`e2e: relay up on ${relay.url} in ${Date.now() - started} ms`);
      const registered = await registerIssuer(relay.url, pki.caPem, ca.url);
      expect(registered.status).toBe(201);
      expect(registered.body.id).toEqual(expect.any(String));
    } catch (e) {
      await files.setupFailed(e);
    }
  });

  test("openssl ocsp and curl get answers that verify, good and revoked", async () => {
    const withNonce = await ask("leaf-good");
    expect(withNonce.output).toContain("Response verify OK");
    expect(withNonce.stdout).toContain(`${leaf("leaf-good").pem}: good`);

    const noNonce = await ask("leaf-good", { nonce: false });
    expect(noNonce.output).toContain("Response verify OK");
    expect(noNonce.stdout).toContain(`${leaf("leaf-good").pem}: good`);

    // openssl 3.0's client only POSTs; the RFC 6960 GET form goes through curl.
    const viaGet = await get("leaf-good");
    expect(viaGet.status).toBe(200);
    expect(viaGet.headers["content-type"]).toBe("application/ocsp-response");
    expect(viaGet.headers["x-cache"]).toBe("HIT");
    expect(await verdictOn(viaGet.body, "leaf-good")).toMatchObject({ ok: true, status: "good" });

    const revoked = await ask("leaf-revoked");
    expect(revoked.output).toContain("Response verify OK");
    expect(revoked.stdout).toContain(`${leaf("leaf-revoked").pem}: revoked`);
  });

  test("the CA is asked once per certificate and never sees who asked", async () => {
    const first = await get(
      "leaf-private",
      CLIENT_HEADERS.flatMap(([name, value]) => ["-H", `${name}: ${value}`]),
    );
    expect(first.status).toBe(200);
    expect(first.headers["x-cache"]).toBe("MISS");
    expect(await verdictOn(first.body, "leaf-private")).toMatchObject({ ok: true, status: "good" });
    for (let i = 0; i < 3; i++) {
      const again = await get("leaf-private", ["-A", "curl-test-agent"]);
      expect(again.status).toBe(200);
      expect(again.headers["x-cache"]).toBe("HIT");
    }
    expect((await ask("leaf-private")).stdout).toContain(`${leaf("leaf-private").pem}: good`);

    const fetches = ca.fetchesFor(leaf("leaf-private").serial);
    expect(fetches).toHaveLength(1);
    const seen = fetches[0]!;
    console.log(
      `e2e: the CA saw ${seen.method} ${seen.url.slice(0, 40)}... with headers`,
      seen.rawHeaders,
    );
    const names = seen.rawHeaders.map(([name]) => name.toLowerCase());
    for (const [name, value] of CLIENT_HEADERS) {
      for (const [, sent] of seen.rawHeaders) expect(sent).not.toContain(value);
      if (name !== "User-Agent" && name !== "CF-Connecting-IP") {
        expect(names).not.toContain(name.toLowerCase());
      }
    }
    expect(seen.url).not.toContain("203.0.113.9");
    const userAgents = seen.rawHeaders.filter(([n]) => n.toLowerCase() === "user-agent");
    expect(userAgents).toHaveLength(1);
    expect(userAgents[0]![1]).toMatch(/^ocsp-relay\//);

    // Everything asked about leaf-good so far (two POSTs and a GET) cost the CA one fetch.
    expect(ca.fetchesFor(leaf("leaf-good").serial)).toHaveLength(1);
  });

  test("concurrent first requests for one certificate share one CA fetch", async () => {
    const url = await urlFor("leaf-crowd");
    ca.answerDelayMs = 1_000; // all six arrive while the one fetch is in flight
    const answers = await Promise.all(Array.from({ length: 6 }, () => curl(url, [], scratch)));
    ca.answerDelayMs = 0;
    for (const a of answers) expect(a.status).toBe(200);
    for (const a of answers) expect(a.body.equals(answers[0]!.body)).toBe(true);
    expect(await verdictOn(answers[0]!.body, "leaf-crowd")).toMatchObject({
      ok: true,
      status: "good",
    });
    expect(ca.fetchesFor(leaf("leaf-crowd").serial)).toHaveLength(1);
  });

  test("nginx staples the relay's answer", async () => {
    const chain = join(tmp, "nginx-chain.pem");
    await writeFile(
      chain,
      (await readFile(leaf("leaf-good").pem, "utf8")) + (await readFile(pki.caPem, "utf8")),
    );
    const nginx = await startNginx({
      dir: join(tmp, "nginx"),
      certChainPem: chain,
      keyPem: leaf("leaf-good").key,
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
      { timeoutMs: 10_000, intervalMs: 500 },
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
    expect(stapled).toContain("OCSP Response Status: successful");
    expect(stapled).toContain("Cert Status: good");
    expect(stapled).toContain(`Serial Number: ${leaf("leaf-good").serial}`);
    expect(stapled).toContain("Verify return code: 0 (ok)");
    // nginx was served from the cache: still the one CA fetch from the first test.
    expect(ca.fetchesFor(leaf("leaf-good").serial)).toHaveLength(1);
  });

  test("with the CA down, cached answers keep flowing and uncached ones get tryLater promptly", async () => {
    ca.setMode("reset");
    const good = leaf("leaf-good").serial;
    const asked = () => ca.requestsFor(good).length;
    const before = asked();

    const cached = await ask("leaf-good");
    expect(cached.output).toContain("Response verify OK");
    expect(cached.stdout).toContain(`${leaf("leaf-good").pem}: good`);
    const cachedGet = await get("leaf-good");
    expect(cachedGet.status).toBe(200);
    expect(cachedGet.headers["x-cache"]).toBe("HIT");
    expect(asked()).toBe(before); // served without asking the CA

    // The CA drops the connection: tryLater at once.
    const dropped = await ask("leaf-unknown");
    expect(dropped.output).toContain("Responder Error: trylater");
    expect(dropped.ms).toBeLessThan(UPSTREAM_TIMEOUT_MS + 1_000);
    expect(ca.requestsFor(leaf("leaf-unknown").serial).map((r) => r.outcome)).toEqual(["reset"]);
    const droppedGet = await get("leaf-unknown");
    expect(droppedGet.status).toBe(200);
    expect(droppedGet.headers["x-ocsp-relay-error"]).toBe("tryLater");
    expect(droppedGet.headers["cache-control"]).toMatch(/no-store/);

    // The CA accepts and never answers: tryLater once the upstream timeout runs out.
    ca.setMode("hang");
    const hung = await ask("leaf-late");
    expect(hung.output).toContain("Responder Error: trylater");
    expect(hung.ms).toBeGreaterThanOrEqual(UPSTREAM_TIMEOUT_MS - 500);
    expect(hung.ms).toBeLessThan(UPSTREAM_TIMEOUT_MS + 1_500);
    ca.setMode("reset");
  });

  test("after a restart the relay still serves what it cached, with the CA still down", async () => {
    const logDir = join(tmp, "logs");
    await relay.stop();
    const started = Date.now();
    relay = await startRelay({
      workerDir,
      persistTo: join(tmp, "kv"),
      logDir,
      name: "relay-restarted",
    });
    console.log(`e2e: relay restarted on ${relay.url} in ${Date.now() - started} ms`);
    const good = leaf("leaf-good").serial;
    const before = ca.requestsFor(good).length;

    const viaGet = await get("leaf-good");
    expect(viaGet.status).toBe(200);
    expect(viaGet.headers["x-cache"]).toBe("HIT");
    expect(await verdictOn(viaGet.body, "leaf-good")).toMatchObject({ ok: true, status: "good" });

    const viaPost = await ask("leaf-good");
    expect(viaPost.output).toContain("Response verify OK");
    expect(viaPost.stdout).toContain(`${leaf("leaf-good").pem}: good`);
    const revoked = await ask("leaf-revoked");
    expect(revoked.stdout).toContain(`${leaf("leaf-revoked").pem}: revoked`);

    expect(ca.requestsFor(good)).toHaveLength(before); // the CA was not asked
    expect(ca.fetchesFor(good)).toHaveLength(1);
  });
});
