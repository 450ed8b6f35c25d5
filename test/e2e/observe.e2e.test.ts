// What an operator sees of a real relay (`wrangler dev` on loopback, a real openssl CA behind a
// recording proxy): `curl --data-binary @leaf.pem …/check`, the /status page as Chromium renders it
// while the CA is down, the alert webhook's POSTs (certificate.revoked, mustStaple.atRisk,
// responder.failing) and /metrics.
//
// One relay for the whole file; the tests run in order and build on each other: answers fetched
// while the CA is up, then the CA answers 503 and the owners' refreshes fail. The CA signs answers
// valid NEXT_UPDATE_MINUTES, so the owners refresh (and fail) within about a minute.

import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, describe, expect, test } from "vitest";
import {
  ADMIN_TOKEN,
  curl,
  issueLeaf,
  launchChromium,
  makePki,
  opensslOcspClient,
  registerIssuer,
  relayGetUrl,
  REPO_ROOT,
  runOk,
  snapshotWorker,
  startOcspCa,
  startRelay,
  startWebhookReceiver,
  waitFor,
  type OcspCa,
  type Pki,
  type Relay,
  type WebhookReceiver,
} from "../../scripts/support/index.ts";
import { E2eFiles } from "./files.ts";

/** Answers are valid this long: the owners refresh at about half of it (docs/fleet-freshness.md). */
const NEXT_UPDATE_MINUTES = 2;
/** Alerts: responder failing after 2 failures; a Must-Staple answer with less than a day is at risk. */
const RESPONDER_FAILURES = 2;
const MUST_STAPLE_MARGIN_SECONDS = 86_400;
/** Slow webhook (test "a slow alert webhook…"): it answers after this long. */
const SLOW_WEBHOOK_MS = 4_000;
const SCREENSHOT = join(REPO_ROOT, "test-results", "status-page.png");

interface CheckJson {
  certificate: { subject?: string; serial: string; mustStaple?: boolean };
  issuer: { id: string; subject: string };
  status: string;
  revocationReason?: string | null;
  thisUpdate: string | null;
  nextUpdate: string | null;
  source: string | null;
  lastFetchedAt: string | null;
  lastUpstreamError: string | null;
  [field: string]: unknown;
}

/** What the test reads of each certificate row of the rendered /status page. */
interface RenderedRow {
  certIdKey: string;
  serial: string;
  subject: string;
  status: string;
  statusText: string;
  left: number;
  fillPx: number;
  barPx: number;
  columnPx: number;
  text: string;
}

describe("what an operator sees: /check, /status in Chromium, alerts, /metrics", () => {
  const files = new E2eFiles("e2e", () => relay?.process.stdoutPath);
  const cleanup = files.cleanup;
  let tmp: string;
  let scratch: string;
  let pki: Pki;
  let ca: OcspCa;
  let relay: Relay;
  let hooks: WebhookReceiver;
  let issuerId: string;
  /** OCSP requests this file sent to the relay (the /metrics test expects exactly these). */
  let ocspRequests = 0;

  const leaf = (name: string) => pki.leaf(name);
  const serialOf = (name: string) => leaf(name).serial.toLowerCase().padStart(4, "0");
  const ask = async (name: string) => {
    ocspRequests++;
    return opensslOcspClient({
      url: `${relay.url}/`,
      issuer: pki.caPem,
      cert: leaf(name).pem,
      caFile: pki.chainPem,
      nonce: false,
    });
  };
  const getOnce = async (name: string) => {
    ocspRequests++;
    return curl(await relayGetUrl(relay.url, pki.caPem, leaf(name).pem), [], scratch);
  };
  /**
   * `curl -s --data-binary @<leaf>.pem <relay>/check`, as the README has operators do; with the
   * admin token (`operator`), the certificate is watched: it alerts as a pinned one does.
   */
  const curlCheck = async (
    name: string,
    operator = false,
  ): Promise<{ raw: string; json: CheckJson }> => {
    const auth = operator ? ["-H", `Authorization: Bearer ${ADMIN_TOKEN}`] : [];
    const r = await runOk("curl", [
      "-s", "--noproxy", "*", "--max-time", "15", ...auth,
      "--data-binary", `@${leaf(name).pem}`, `${relay.url}/check`,
    ]); // prettier-ignore
    return { raw: r.stdout, json: JSON.parse(r.stdout) as CheckJson };
  };
  const admin = { Authorization: `Bearer ${ADMIN_TOKEN}` };

  beforeAll(async () => {
    try {
      tmp = await files.tempDir("ocsp-relay-observe-");
      scratch = join(tmp, "scratch");
      await mkdir(scratch);
      pki = await makePki(join(tmp, "pki"), [
        { name: "leaf-good" }, // 1001
        { name: "leaf-revoked", state: "revoked" }, // 1002
        { name: "leaf-down-1" }, // 1003: first asked while the CA is down
        { name: "leaf-down-2" }, // 1004: likewise
      ]);
      await issueLeaf(pki, { name: "leaf-staple", serial: "5001", mustStaple: true });
      // A serial with its high bit set: DER encodes it 00 A0 01, openssl prints A001.
      await issueLeaf(pki, { name: "leaf-highbit", serial: "A001" });
      ca = await startOcspCa({
        pki,
        workDir: join(tmp, "ca"),
        nextUpdateMinutes: NEXT_UPDATE_MINUTES,
      });
      cleanup.add("CA", () => ca.close());
      hooks = await startWebhookReceiver();
      cleanup.add("webhook receiver", () => hooks.close());
      const workerDir = await snapshotWorker(join(tmp, "worker"));
      relay = await startRelay({
        workerDir,
        persistTo: join(tmp, "state"),
        logDir: join(tmp, "logs"),
        vars: {
          ALERT_WEBHOOK_URL: hooks.url("/hook"),
          ALERT_RESPONDER_FAILURES: String(RESPONDER_FAILURES),
          ALERT_MUST_STAPLE_MARGIN_SECONDS: String(MUST_STAPLE_MARGIN_SECONDS),
        },
      });
      cleanup.add("relay", () => relay.stop());
      issuerId = (await registerIssuer(relay.url, pki.caPem, ca.url)).body.id;
    } catch (e) {
      await files.setupFailed(e);
    }
  });

  test("curl --data-binary @leaf.pem /check: JSON saying good, fetched from the CA, then from memory", async () => {
    const first = await curlCheck("leaf-good");
    console.log(`e2e: curl -s --data-binary @leaf-good.pem ${relay.url}/check\n${first.raw}`);
    expect(first.json).toMatchObject({
      certificate: { serial: serialOf("leaf-good"), mustStaple: false },
      issuer: { id: issuerId },
      responderUrl: ca.url,
      status: "good",
      source: "upstream",
      lastUpstreamError: null,
    });
    expect(first.json.certificate.subject).toContain("CN=leaf-good.e2e.test");
    const window = Date.parse(first.json.nextUpdate!) - Date.parse(first.json.thisUpdate!);
    expect(window).toBe(NEXT_UPDATE_MINUTES * 60_000);
    expect(ca.fetchesFor(leaf("leaf-good").serial)).toHaveLength(1);

    const again = await curlCheck("leaf-good");
    expect(again.json).toMatchObject({ status: "good", source: "memory" });
    expect(again.json.lastFetchedAt).toBe(first.json.lastFetchedAt);
    expect(ca.fetchesFor(leaf("leaf-good").serial)).toHaveLength(1);

    // The Must-Staple leaf, checked by the operator: /check tells the relay (and so the status
    // page and alerts) about it.
    const staple = await curlCheck("leaf-staple", true);
    expect(staple.json).toMatchObject({
      certificate: { serial: "5001", mustStaple: true },
      status: "good",
    });

    // OCSP clients get the answers /check put in place.
    for (const name of ["leaf-good", "leaf-staple"]) {
      const r = await ask(name);
      expect(r.stdout).toContain(`${leaf(name).pem}: good`);
    }
    expect(ca.fetchesFor(leaf("leaf-good").serial)).toHaveLength(1);
    expect(ca.fetchesFor("5001")).toHaveLength(1);
  });

  test("a slow alert webhook does not hold up the first answer for a revoked certificate", async () => {
    hooks.delayMs = SLOW_WEBHOOK_MS;
    try {
      // The operator checks it (an anonymous client's revoked certificate alerts nobody).
      const started = Date.now();
      const checked = await curlCheck("leaf-revoked", true);
      const ms = Date.now() - started;
      expect(checked.json).toMatchObject({ status: "revoked", source: "upstream" });
      const res = await getOnce("leaf-revoked");
      expect(res.status).toBe(200);
      expect(res.headers["x-cache"]).toBe("HIT");
      // The alert goes out (the receiver sees it) ...
      await waitFor(
        "the certificate.revoked alert",
        async () => (hooks.alerts("certificate.revoked").length > 0 ? true : undefined),
        { timeoutMs: 10_000, intervalMs: 100 },
      );
      // ... but the client's answer does not wait for the webhook to reply.
      expect(ms, `first GET for the revoked leaf took ${ms} ms`).toBeLessThan(SLOW_WEBHOOK_MS / 2);
    } finally {
      hooks.delayMs = 0;
    }
  });

  test("GET /check/<issuer>/<serial> finds a certificate by the serial openssl prints", async () => {
    const checked = await curlCheck("leaf-highbit");
    expect(checked.json.status).toBe("good");
    const printed = (
      await runOk("openssl", ["x509", "-in", leaf("leaf-highbit").pem, "-noout", "-serial"])
    ).stdout
      .trim()
      .replace(/^serial=/, "");
    expect(printed).toBe("A001");
    const fetches = ca.log.length;
    for (const serial of [checked.json.certificate.serial, printed, "a0:01"]) {
      const res = await fetch(`${relay.url}/check/${issuerId}/${serial}`, {
        headers: { Authorization: `Bearer ${ADMIN_TOKEN}` },
        signal: AbortSignal.timeout(10_000),
      });
      expect(res.status).toBe(200);
      const body = (await res.json()) as CheckJson;
      expect(body.status, `GET /check/${issuerId}/${serial}`).toBe("good");
    }
    expect(ca.log.length).toBe(fetches); // the cached state only: the CA is not asked
  });

  test("the CA goes down: responder.failing, mustStaple.atRisk and certificate.revoked reach the webhook once each", async () => {
    ca.setMode("unavailable");
    // Certificates registered while the CA is down: each fetch fails at once, nothing is held,
    // and (being the operator's, not a guess's) the failures judge the responder.
    const pems = await Promise.all(
      ["leaf-down-1", "leaf-down-2"].map((n) => readFile(leaf(n).pem, "utf8")),
    );
    await writeFile(join(scratch, "down.pem"), pems.join(""));
    const pinned = await curl(
      `${relay.url}/admin/certificates`,
      [
        "-X", "POST", "-H", `Authorization: Bearer ${ADMIN_TOKEN}`,
        "--data-binary", `@${join(scratch, "down.pem")}`,
      ],
      scratch,
    ); // prettier-ignore
    expect(pinned.status).toBe(200);
    for (const name of ["leaf-down-1", "leaf-down-2"]) {
      const r = await ask(name);
      expect(r.output).toMatch(/tryLater|try later/i);
    }
    const failing = await waitFor(
      "the responder.failing alert",
      async () => hooks.alerts("responder.failing")[0],
      { timeoutMs: 15_000, intervalMs: 200 },
    );
    expect(failing).toMatchObject({
      source: "ocsp-relay",
      issuerId,
      responderUrl: ca.url,
      consecutiveFailures: RESPONDER_FAILURES,
    });
    expect(String(failing.lastError)).toContain("503");

    // The Must-Staple leaf's owner refreshes at about half its 2-minute window, and fails.
    const atRisk = await waitFor(
      "the mustStaple.atRisk alert (the Must-Staple leaf's refresh failing)",
      async () => hooks.alerts("mustStaple.atRisk")[0],
      { timeoutMs: NEXT_UPDATE_MINUTES * 60_000, intervalMs: 500 },
    );
    expect(atRisk).toMatchObject({ serial: "5001", issuerId });
    expect(String(atRisk.subject)).toContain("leaf-staple.e2e.test");
    expect(Date.parse(String(atRisk.nextUpdate))).toBeGreaterThan(Date.now()); // still held
    expect(String(atRisk.lastError)).toContain("503");
    expect(ca.requestsFor("5001").some((r) => r.mode === "unavailable")).toBe(true);

    const revoked = hooks.alerts("certificate.revoked");
    expect(revoked).toHaveLength(1);
    expect(revoked[0]).toMatchObject({
      source: "ocsp-relay",
      serial: serialOf("leaf-revoked"),
      issuerId,
      revocationReason: "keyCompromise",
    });
    expect(Date.parse(String(revoked[0]!.revocationTime))).toBeLessThan(Date.now());

    // Every alert is one JSON POST to the configured path; none repeated.
    for (const hook of hooks.received) {
      expect(hook.method).toBe("POST");
      expect(hook.path).toBe("/hook");
      expect(hook.headers["content-type"]).toMatch(/^application\/json/);
      expect(hook.json, hook.body).toBeDefined();
    }
    expect(hooks.alerts("responder.failing")).toHaveLength(1);
    expect(hooks.alerts("mustStaple.atRisk")).toHaveLength(1);
    console.log(
      `e2e: webhook received ${hooks.received.length} alert(s): ${hooks.received
        .map((h) => `${h.json?.kind} ${h.json?.serial ?? h.json?.issuerId}`)
        .join(", ")}`,
    );
  });

  test("/status in Chromium: issuer failing, each certificate's status and bar, the revoked reason, failures, at-risk", async () => {
    const context = await launchChromium(join(tmp, "chromium-profile"));
    cleanup.add("chromium", () => context.close());
    const page = await context.newPage();
    await page.setExtraHTTPHeaders(admin);
    const loaded: string[] = [];
    page.on("request", (r) => loaded.push(r.url()));
    const res = await page.goto(`${relay.url}/status`, { waitUntil: "load" });
    expect(res?.status()).toBe(200);
    expect(await page.title()).toBe("ocsp-relay status");

    // The issuer, failing since the CA went down.
    const issuerRow = page.locator(`tr[data-issuer="${issuerId}"]`);
    await expect(issuerRow.count()).resolves.toBe(1);
    expect(await issuerRow.getAttribute("data-health")).toBe("failing");
    const issuerText = await issuerRow.innerText();
    expect(issuerText).toContain("ocsp-relay e2e RSA CA");
    expect(issuerText).toContain(ca.url);
    expect(issuerText).toMatch(/failing \(\d+ in a row\)/);

    const rows: RenderedRow[] = await page.$$eval("tr[data-cert]", (trs) =>
      trs.map((tr) => {
        const cells = tr.querySelectorAll("td");
        const bar = tr.querySelector(".bar")!;
        const fill = tr.querySelector(".fill")!;
        return {
          certIdKey: tr.getAttribute("data-cert") ?? "",
          serial: cells[0]?.querySelector("code")?.textContent ?? "",
          subject: (cells[0]?.firstChild?.textContent ?? "").trim(),
          status: tr.getAttribute("data-status") ?? "",
          statusText: (cells[2]?.textContent ?? "").trim(),
          left: Number(tr.getAttribute("data-left")),
          fillPx: fill.getBoundingClientRect().width,
          barPx: bar.getBoundingClientRect().width,
          columnPx: (cells[3] as HTMLElement).getBoundingClientRect().width,
          text: (tr as HTMLElement).innerText,
        };
      }),
    );
    const row = (name: string) => {
      const serial = name === "leaf-highbit" ? "00a001" : serialOf(name);
      const found = rows.filter((r) => r.serial === serial);
      expect(found, `one row for ${name} (${serial})`).toHaveLength(1);
      return found[0]!;
    };
    expect(rows.length).toBeGreaterThanOrEqual(6);

    const expected: [string, string, string][] = [
      ["leaf-good", "good", "good"],
      ["leaf-staple", "good", "good"],
      ["leaf-highbit", "good", "good"],
      ["leaf-revoked", "revoked", "revoked (keyCompromise)"],
      ["leaf-down-1", "none", "no answer"],
      ["leaf-down-2", "none", "no answer"],
    ];
    for (const [name, status, statusText] of expected) {
      const r = row(name);
      expect([r.status, r.statusText], name).toEqual([status, statusText]);
      // The bar is drawn inside its column, its width the share of the window left.
      expect(r.barPx).toBeGreaterThan(0);
      expect(r.barPx).toBeLessThanOrEqual(r.columnPx);
      expect(r.fillPx).toBeGreaterThanOrEqual(0);
      expect(r.fillPx).toBeLessThanOrEqual(r.barPx);
      expect(Math.abs(r.fillPx - (r.barPx * r.left) / 100), `${name} bar`).toBeLessThanOrEqual(1);
      if (status === "none") expect(r.left).toBe(0);
    }
    // Answers are still held (the CA has been down for less than a window): bars are not empty.
    for (const name of ["leaf-good", "leaf-staple", "leaf-revoked"]) {
      expect(row(name).left, name).toBeGreaterThan(0);
      expect(row(name).left, name).toBeLessThan(100);
      expect(row(name).fillPx, name).toBeGreaterThan(0);
    }
    expect(row("leaf-staple").text).toContain("Must-Staple");
    expect(row("leaf-staple").subject).toContain("leaf-staple.e2e.test");
    expect(row("leaf-staple").text).toContain("503");

    // Recent failures: the fetches the CA answered 503.
    const failures = await page.locator("#failures tr[data-failure]").allInnerTexts();
    expect(failures.length).toBeGreaterThanOrEqual(2);
    expect(failures.some((f) => f.includes(serialOf("leaf-down-1")) && f.includes("503"))).toBe(
      true,
    );

    // At risk: the Must-Staple leaf whose refresh is failing, and nothing else.
    const risk = await page.locator("#at-risk li").allInnerTexts();
    expect(risk).toHaveLength(1);
    expect(risk[0]).toContain("leaf-staple.e2e.test");
    expect(risk[0]).toMatch(/\d+s left|\dm \d+s left/);

    // The page loaded nothing but itself: no script, style sheet, font or image from anywhere.
    expect(loaded).toEqual([`${relay.url}/status`]);
    await mkdir(join(REPO_ROOT, "test-results"), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    expect((await readFile(SCREENSHOT)).subarray(1, 4).toString()).toBe("PNG");
    console.log(`e2e: status page screenshot: ${SCREENSHOT}`);
    await context.close();
  });

  test("/metrics: the requests made, the CA's fetches and failures, the alerts sent", async () => {
    const scrape = async () => {
      const res = await curl(
        `${relay.url}/metrics`,
        ["-H", `Authorization: Bearer ${ADMIN_TOKEN}`],
        scratch,
      );
      expect(res.status).toBe(200);
      expect(res.headers["content-type"]).toMatch(/^text\/plain; version=0\.0\.4/);
      const text = res.body.toString("utf8");
      const value = (series: string) => {
        const line = text.split("\n").find((l) => l.startsWith(`ocsp_relay_${series} `));
        return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(" ") + 1));
      };
      return { text, value };
    };
    const fetched = (result: string, mode: string) => ({
      series: `upstream_fetches_total{issuer="${issuerId}",result="${result}"}`,
      expected: ca.log.filter((r) => r.mode === mode && r.finishedAt > 0).length,
    });
    // A refresh may be between the CA's answer and its report to the ledger: scrape until the
    // ledger has caught up with the CA's log (bounded).
    const { text, value } = await waitFor(
      "the ledger's fetch counts to match the CA's log",
      async () => {
        const s = await scrape();
        const settled = [fetched("ok", "up"), fetched("error", "unavailable")].every(
          (f) => s.value(f.series) === f.expected,
        );
        return settled ? s : undefined;
      },
      { timeoutMs: 10_000, intervalMs: 500 },
    );
    const excerpt = text
      .split("\n")
      .filter((l) =>
        /^ocsp_relay_(requests_total|upstream_fetches_total|verification_rejections_total|alerts_sent_total|cached_entries|soonest_next_update_seconds|issuer_consecutive_failures)/.test(
          l,
        ),
      );
    console.log(`e2e: /metrics excerpt:\n${excerpt.join("\n")}`);
    for (const line of text.trimEnd().split("\n")) {
      if (!line.startsWith("#")) expect(line).toMatch(/^ocsp_relay_[a-z_]+(\{[^}]*\})? -?[0-9.]+$/);
    }
    const requests = [...text.matchAll(/^ocsp_relay_requests_total\{[^}]*\} (\d+)$/gm)].reduce(
      (sum, m) => sum + Number(m[1]),
      0,
    );
    expect(requests).toBe(ocspRequests);
    expect(value('requests_total{outcome="try_later",tier="none"}')).toBe(2);
    expect(value('requests_total{outcome="hit",tier="memory"}')).toBeGreaterThanOrEqual(1); // the revoked GET
    expect(value(fetched("ok", "up").series)).toBeGreaterThanOrEqual(4);
    expect(value(fetched("error", "unavailable").series)).toBeGreaterThanOrEqual(3);
    expect(value(`issuer_consecutive_failures{issuer="${issuerId}"}`)).toBeGreaterThanOrEqual(
      RESPONDER_FAILURES,
    );
    expect(value('alerts_sent_total{kind="certificate.revoked"}')).toBe(1);
    expect(value('alerts_sent_total{kind="responder.failing"}')).toBe(1);
    expect(value('alerts_sent_total{kind="mustStaple.atRisk"}')).toBe(1);
    expect(value("cached_entries")).toBeGreaterThanOrEqual(1);
    expect(value("soonest_next_update_seconds")).toBeGreaterThan(0);
    expect(value("soonest_next_update_seconds")).toBeLessThanOrEqual(NEXT_UPDATE_MINUTES * 60);
  });
});
