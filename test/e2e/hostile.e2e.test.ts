// The relay tried as an outsider would, from its public OCSP endpoint, against a real CA (openssl's
// responder behind the recording proxy, which counts every request): made-up serials are fetched
// once and never polled, a burst of them meets the issuer's upstream budget while a certificate
// registered meanwhile is fetched at once, a relay closed with a fleet key staples for nginx only
// under /k/<key>/, and registrations sent all at once are all kept (issue 11).

import { randomBytes } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, describe, expect, test } from "vitest";
import { parseCertificateFile, type CertificateFacts } from "../../src/ocsp/certificate.ts";
import { toBase64 } from "../../src/ocsp/bytes.ts";
import { certIdFor, encodeRequest } from "../../src/ocsp/request.ts";
import { decodeResponse } from "../../src/ocsp/response.ts";
import {
  ADMIN_TOKEN,
  cli,
  curl,
  makePki,
  opensslOcspClient,
  registerIssuer,
  runOk,
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

/** A short `unknown` window, so that several pass in a minute. */
const UNKNOWN_MAX_AGE_SECONDS = 15;
const FLEET_KEY = "e2e-fleet-key-4f1c2a9be07d";

function readCert(bytes: Buffer): CertificateFacts {
  const cert = parseCertificateFile(new Uint8Array(bytes));
  if (!cert.ok) throw new Error(cert.error.detail);
  return cert.value;
}

/** A serial no certificate has: 16 random bytes, positive, no leading zero. */
function madeUpSerial(): Uint8Array {
  const serial = new Uint8Array(randomBytes(16));
  serial[0] = (serial[0]! & 0x7f) | 0x10;
  return serial;
}

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex").toUpperCase();

/** The GET an OCSP client sends for `serial` under `issuer`, at `base`. */
async function getUrlFor(base: string, issuer: CertificateFacts, serial: Uint8Array) {
  const certId = await certIdFor(issuer, { serialNumber: serial }, "SHA-1");
  return `${base}/${encodeURIComponent(toBase64(encodeRequest(certId)))}`;
}

/** GET `url` and return the OCSP responseStatus and certStatus of the answer. */
async function ask(url: string): Promise<{ http: number; status: string; cert?: string }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(20_000) });
  const decoded = decodeResponse(new Uint8Array(await res.arrayBuffer()));
  if (!decoded.ok) return { http: res.status, status: "unreadable" };
  const single =
    decoded.value.status === "successful" ? decoded.value.basic?.responses[0] : undefined;
  return {
    http: res.status,
    status: decoded.value.status,
    ...(single ? { cert: single.certStatus.status } : {}),
  };
}

/** Runs `jobs` with at most `width` at a time. */
async function pool<T>(jobs: (() => Promise<T>)[], width: number): Promise<T[]> {
  const out: T[] = new Array(jobs.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < jobs.length) {
        const i = next++;
        out[i] = await jobs[i]!();
      }
    }),
  );
  return out;
}

describe("ocsp-relay under hostile and concurrent use", () => {
  const files = new E2eFiles("hostile", () => open?.process.stdoutPath);
  const cleanup = files.cleanup;
  let tmp: string;
  let pki: Pki;
  let issuer: CertificateFacts;
  let ca: OcspCa;
  /** Open endpoint, default budget, short unknown window. */
  let open: Relay;
  /** Closed with OCSP_KEYS. */
  let keyed: Relay;
  /** OCSP_ACCESS=registered. */
  let closed: Relay;
  let issuerId: string;

  /** CA requests that asked about any of `serials`. */
  const caRequestsFor = (serials: Uint8Array[]) => {
    const wanted = new Set(serials.map(hex));
    return ca.log.filter((r) => r.serials.some((s) => wanted.has(s.replace(/^0+/, ""))));
  };

  beforeAll(async () => {
    try {
      tmp = await files.tempDir("ocsp-relay-hostile-");
      pki = await makePki(join(tmp, "pki"), [
        { name: "leaf-pinned" },
        { name: "leaf-keyed" },
        { name: "leaf-unkeyed" },
        { name: "leaf-registered" },
        { name: "leaf-unregistered" },
      ]);
      issuer = readCert(await readFile(pki.caPem));
      ca = await startOcspCa({ pki, workDir: join(tmp, "ca"), nextUpdateMinutes: 10 });
      cleanup.add("CA", () => ca.close());
      const workerDir = await snapshotWorker(join(tmp, "worker"));
      [open, keyed, closed] = await Promise.all([
        startRelay({
          persistTo: join(tmp, "state-open"),
          logDir: tmp,
          workerDir,
          name: "relay-open",
          vars: { UNKNOWN_MAX_AGE_SECONDS: String(UNKNOWN_MAX_AGE_SECONDS) },
        }),
        startRelay({
          persistTo: join(tmp, "state-keyed"),
          logDir: tmp,
          workerDir,
          name: "relay-keyed",
          vars: { OCSP_KEYS: `old-key-0123456789abcdef,${FLEET_KEY}` },
        }),
        startRelay({
          persistTo: join(tmp, "state-registered"),
          logDir: tmp,
          workerDir,
          name: "relay-registered",
          vars: { OCSP_ACCESS: "registered" },
        }),
      ]);
      cleanup.add("relays", async () => {
        await open.stop();
        await keyed.stop();
        await closed.stop();
      });
      issuerId = (await registerIssuer(open.url, pki.caPem, ca.url)).body.id;
      await registerIssuer(keyed.url, pki.caPem, ca.url, { leafPem: pki.leaf("leaf-keyed").pem });
    } catch (e) {
      await files.setupFailed(e);
    }
  });

  test("10 one-off requests for made-up serials, then silence over several unknown windows: the CA sees 10", async () => {
    const serials = Array.from({ length: 10 }, madeUpSerial);
    const answers = await Promise.all(
      serials.map(async (s) => ask(await getUrlFor(open.url, issuer, s))),
    );
    expect(answers.map((a) => a.cert)).toEqual(Array(10).fill("unknown"));
    const silenceMs = 4 * UNKNOWN_MAX_AGE_SECONDS * 1000 + 5_000;
    await new Promise((done) => setTimeout(done, silenceMs));
    const seen = caRequestsFor(serials);
    console.log(
      `silence: ${serials.length} one-off requests, then ${silenceMs / 1000} s without traffic ` +
        `(${UNKNOWN_MAX_AGE_SECONDS} s unknown window): the CA saw ${seen.length} requests for them`,
    );
    expect(seen).toHaveLength(10);
    // Nothing is left of them: the status page lists no certificate, /check finds nothing cached.
    const status = await (
      await fetch(`${open.url}/status`, { headers: { Authorization: `Bearer ${ADMIN_TOKEN}` } })
    ).text();
    expect(status).not.toContain("data-cert=");
    for (const serial of serials.slice(0, 3)) {
      const checked = await (
        await fetch(`${open.url}/check/${issuerId}/${hex(serial)}`, {
          headers: { Authorization: `Bearer ${ADMIN_TOKEN}` },
        })
      ).json();
      expect(checked).toMatchObject({ status: "no answer", source: null, pinned: false });
    }
  });

  test("200 made-up serials within 10 s reach the CA at most 60 times, while a certificate registered during the burst is fetched at once", async () => {
    const serials = Array.from({ length: 200 }, madeUpSerial);
    const urls = await Promise.all(serials.map((s) => getUrlFor(open.url, issuer, s)));
    const started = Date.now();
    const burst = pool(
      urls.map((url) => () => ask(url)),
      20,
    );
    await new Promise((done) => setTimeout(done, 1_000));
    const pinned = pki.leaf("leaf-pinned");
    const registered = await registerIssuer(open.url, pki.caPem, ca.url, { leafPem: pinned.pem });
    const answers = await burst;
    const burstMs = Date.now() - started;
    const reached = caRequestsFor(serials).length;
    const outcomes = new Map<string, number>();
    for (const a of answers) {
      const k = a.cert ?? a.status;
      outcomes.set(k, (outcomes.get(k) ?? 0) + 1);
    }
    console.log(
      `burst: ${serials.length} made-up serials in ${burstMs} ms: ${reached} reached the CA; ` +
        `clients got ${JSON.stringify(Object.fromEntries(outcomes))}; the certificate registered ` +
        `during the burst: ${JSON.stringify(registered.body.warmed)}`,
    );
    expect(burstMs).toBeLessThan(10_000);
    expect(reached).toBeLessThanOrEqual(60);
    expect(reached).toBeGreaterThan(0);
    expect(outcomes.get("tryLater")).toBe(serials.length - reached);
    expect(registered.body.warmed).toEqual([
      expect.objectContaining({ serial: pinned.serial.toLowerCase(), status: "good" }),
    ]);
    expect(ca.fetchesFor(pinned.serial)).toHaveLength(1);
    const metrics = await (
      await fetch(`${open.url}/metrics`, { headers: { Authorization: `Bearer ${ADMIN_TOKEN}` } })
    ).text();
    expect(metrics).toMatch(
      new RegExp(
        `ocsp_relay_upstream_budget_denied_total\\{issuer="[0-9a-f]+"\\} ${serials.length - reached}\\b`,
      ),
    );
    const client = await opensslOcspClient({
      url: `${open.url}/`,
      issuer: pki.caPem,
      cert: pinned.pem,
      caFile: pki.chainPem,
    });
    expect(client.output).toContain(`${pinned.pem}: good`);
  });

  test("nginx staples through /k/<key>/; without the key it gets no staple and the CA hears nothing", async () => {
    const chainOf = async (name: string) => {
      const file = join(tmp, `${name}-chain.pem`);
      await writeFile(
        file,
        (await readFile(pki.leaf(name).pem, "utf8")) + (await readFile(pki.caPem, "utf8")),
      );
      return file;
    };
    const withKey = await startNginx({
      dir: join(tmp, "nginx-keyed"),
      certChainPem: await chainOf("leaf-keyed"),
      keyPem: pki.leaf("leaf-keyed").key,
      trustedPem: pki.chainPem,
      responderUrl: `${keyed.url}/k/${FLEET_KEY}/`,
    });
    cleanup.add("nginx keyed", () => withKey.stop());
    const withoutKey = await startNginx({
      dir: join(tmp, "nginx-unkeyed"),
      certChainPem: await chainOf("leaf-unkeyed"),
      keyPem: pki.leaf("leaf-unkeyed").key,
      trustedPem: pki.chainPem,
      responderUrl: `${keyed.url}/`,
    });
    cleanup.add("nginx unkeyed", () => withoutKey.stop());

    const stapled = await waitFor(
      "nginx to staple through the keyed responder URL",
      async () => {
        const r = await sClientStatus(withKey.port, pki.chainPem);
        return r.output.includes("Cert Status: good") ? r.output : undefined;
      },
      { timeoutMs: 15_000, intervalMs: 500 },
    );
    expect(stapled).toContain("OCSP Response Status: successful");
    // nginx asks on its first handshakes; give it the same chances, then look.
    let last = "";
    for (let i = 0; i < 6; i++) {
      last = (await sClientStatus(withoutKey.port, pki.chainPem)).output;
      await new Promise((done) => setTimeout(done, 500));
    }
    expect(last).toContain("OCSP response: no response sent");
    expect(ca.requestsFor(pki.leaf("leaf-unkeyed").serial)).toHaveLength(0);
  });

  test("openssl ocsp and curl: answered under the key, unauthorized without it", async () => {
    const leaf = pki.leaf("leaf-keyed");
    const withKey = await opensslOcspClient({
      url: `${keyed.url}/k/${FLEET_KEY}/`,
      issuer: pki.caPem,
      cert: leaf.pem,
      caFile: pki.chainPem,
    });
    expect(withKey.output).toContain("Response verify OK");
    expect(withKey.output).toContain(`${leaf.pem}: good`);
    const without = await opensslOcspClient({
      url: `${keyed.url}/`,
      issuer: pki.caPem,
      cert: leaf.pem,
      caFile: pki.chainPem,
    });
    expect(without.output).toMatch(/Responder Error: unauthorized \(6\)/);

    const url = await getUrlFor(keyed.url, issuer, new Uint8Array(Buffer.from(leaf.serial, "hex")));
    const keyedUrl = url.replace(keyed.url, `${keyed.url}/k/${FLEET_KEY}`);
    const scratch = join(tmp, "curl");
    await mkdir(scratch, { recursive: true });
    const a = await curl(keyedUrl, [], scratch);
    const b = await curl(url, [], scratch);
    const statusOf = (body: Buffer) => {
      const d = decodeResponse(new Uint8Array(body));
      return d.ok ? d.value.status : "unreadable";
    };
    console.log(
      `curl under /k/<key>/: HTTP ${a.status} ${statusOf(a.body)} (${a.headers["x-cache"]}); ` +
        `without the key: HTTP ${b.status} ${statusOf(b.body)} (${b.headers["x-ocsp-relay-error"]})`,
    );
    expect([a.status, statusOf(a.body)]).toEqual([200, "successful"]);
    expect([b.status, statusOf(b.body)]).toEqual([200, "unauthorized"]);
    // ocsp-relay register learns the key and asks the endpoint as the servers will.
    const fullchain = join(tmp, "leaf-keyed-fullchain.pem");
    await writeFile(
      fullchain,
      (await readFile(leaf.pem, "utf8")) + (await readFile(pki.caPem, "utf8")),
    );
    const register = (key: string) =>
      cli([
        "register", "--relay", keyed.url, "--token", ADMIN_TOKEN, "--responder", ca.url,
        "--fleet-key", key, fullchain,
      ]); // prettier-ignore
    const registered = await register(FLEET_KEY);
    expect(registered.code, registered.output).toBe(0);
    expect(registered.stdout).toContain("the OCSP endpoint under /k/<key>/ answers: successful");
    expect(registered.output).not.toContain(FLEET_KEY);
    const wrongKey = await register("not-a-fleet-key-0123456789");
    expect(wrongKey.code).toBe(1);
    expect(wrongKey.stdout).toContain("answers: unauthorized");
    // The key never shows in the relay's own log lines (wrangler's banner lists the --var given
    // to it here; a deployment sets OCSP_KEYS as a secret, which wrangler does not print).
    const logLines = (await readFile(keyed.process.stdoutPath, "utf8"))
      .split("\n")
      .filter((l) => l.startsWith('{"event":'));
    expect(logLines.length).toBeGreaterThan(0);
    for (const line of logLines) expect(line).not.toContain(FLEET_KEY);
  });

  test("OCSP_ACCESS=registered: nginx staples a registered certificate; an unregistered one gets unauthorized and the CA hears nothing", async () => {
    const registered = pki.leaf("leaf-registered");
    const unregistered = pki.leaf("leaf-unregistered");
    // The issuer alone (nothing pinned), then the registered leaf with it (pinned, fetched now).
    await registerIssuer(closed.url, pki.caPem, ca.url);
    const refused = await opensslOcspClient({
      url: `${closed.url}/`,
      issuer: pki.caPem,
      cert: unregistered.pem,
      caFile: pki.chainPem,
    });
    expect(refused.output).toMatch(/Responder Error: unauthorized \(6\)/);
    const pinned = await registerIssuer(closed.url, pki.caPem, ca.url, { leafPem: registered.pem });
    expect(pinned.body.warmed).toEqual([expect.objectContaining({ status: "good" })]);
    const served = await opensslOcspClient({
      url: `${closed.url}/`,
      issuer: pki.caPem,
      cert: registered.pem,
      caFile: pki.chainPem,
    });
    expect(served.output).toContain(`${registered.pem}: good`);

    const chainFile = async (name: string) => {
      const file = join(tmp, `${name}-chain.pem`);
      await writeFile(
        file,
        (await readFile(pki.leaf(name).pem, "utf8")) + (await readFile(pki.caPem, "utf8")),
      );
      return file;
    };
    const nginxFor = async (name: string) => {
      const nginx = await startNginx({
        dir: join(tmp, `nginx-${name}`),
        certChainPem: await chainFile(name),
        keyPem: pki.leaf(name).key,
        trustedPem: pki.chainPem,
        responderUrl: `${closed.url}/`,
      });
      cleanup.add(`nginx ${name}`, () => nginx.stop());
      return nginx;
    };
    const good = await nginxFor("leaf-registered");
    const stapled = await waitFor(
      "nginx to staple the registered certificate",
      async () => {
        const r = await sClientStatus(good.port, pki.chainPem);
        return r.output.includes("Cert Status: good") ? r.output : undefined;
      },
      { timeoutMs: 15_000, intervalMs: 500 },
    );
    expect(stapled).toContain("OCSP Response Status: successful");
    const other = await nginxFor("leaf-unregistered");
    let last = "";
    for (let i = 0; i < 6; i++) {
      last = (await sClientStatus(other.port, pki.chainPem)).output;
      await new Promise((done) => setTimeout(done, 500));
    }
    expect(last).toContain("OCSP response: no response sent");
    expect(ca.requestsFor(unregistered.serial)).toHaveLength(0);
    console.log(
      `OCSP_ACCESS=registered: registered leaf stapled good after ${ca.fetchesFor(registered.serial).length} CA fetch(es); unregistered leaf: ${ca.requestsFor(unregistered.serial).length} CA requests, no staple`,
    );
  });

  test("20 registrations of 20 CAs sent at once are all stored, listed and served", async () => {
    const dir = join(tmp, "many-cas");
    await mkdir(dir, { recursive: true });
    const pems = await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        const pem = join(dir, `ca-${i}.pem`);
        await runOk("openssl", [
          "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
          "-keyout", join(dir, `ca-${i}.key`), "-out", pem, "-days", "2",
          "-subj", `/O=ocsp-relay e2e/CN=concurrent CA ${i}`,
          "-addext", "basicConstraints=critical,CA:TRUE",
          "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        ]); // prettier-ignore
        return pem;
      }),
    );
    const statuses = await Promise.all(
      pems.map(async (pem) => (await registerIssuer(open.url, pem, ca.url)).status),
    );
    const listed = (await (
      await fetch(`${open.url}/admin/issuers`, {
        headers: { Authorization: `Bearer ${ADMIN_TOKEN}` },
      })
    ).json()) as { issuers: { subject: string }[] };
    const concurrent = listed.issuers.filter((r) => r.subject.includes("concurrent CA"));
    console.log(
      `registrations: ${statuses.length} sent at once, answered ${JSON.stringify(statuses)}; listed afterwards: ${concurrent.length}`,
    );
    expect(statuses).toEqual(Array(20).fill(201));
    expect(concurrent).toHaveLength(20);
    // Each issuer is served: a request for one of its serials is relayed (not `unauthorized`).
    const served = await Promise.all(
      pems.map(async (pem) => {
        const cert = readCert(await readFile(pem));
        return (await ask(await getUrlFor(open.url, cert, madeUpSerial()))).status;
      }),
    );
    expect(served.filter((s) => s === "unauthorized")).toEqual([]);
  });
});
