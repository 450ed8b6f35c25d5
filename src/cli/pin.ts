// `ocsp-relay pin` and `ocsp-relay pins`: pin many leaf certificates of registered issuers through
// the admin API (POST /admin/certificates in batches under the relay's 256 KiB cap, queued per
// issuer and fetched at its PIN_RATE_PER_MINUTE), and show how far the pin queues are (GET
// /admin/pins). Re-sending is safe: a certificate already queued is one entry.

import { INLINE_PINS, MAX_QUEUES_PER_REQUEST } from "../fleet/pin-queue.ts";
import { toHex } from "../ocsp/bytes.ts";
import { serialHex, type CertificateFacts } from "../ocsp/certificate.ts";
import type {
  ErrorJson,
  IssuerPinProgressJson,
  PinnedCertificatesJson,
  PinProgressJson,
  QueuedPinsJson,
} from "../wire.ts";
import {
  adminToken,
  formatDuration,
  networkError,
  parse,
  parseDuration,
  readCertificates,
  relayUrl,
  say,
  UsageError,
} from "./args.ts";
import { toPem } from "./pki.ts";

/** The admin API's cap on a PEM body (MAX_PEM_BYTES in src/routes/admin.ts). */
const MAX_BODY_BYTES = 256 * 1024;
/**
 * Leaves per request: the relay parses and checks each one (about 0.35 ms of CPU), and the Free
 * plan allows 10 ms per request; 24 leaves stay within it.
 */
export const MAX_LEAVES_PER_REQUEST = 24;

export async function pinCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    relay: { type: "string" },
    token: { type: "string" },
    json: { type: "boolean", default: false },
    timeout: { type: "string", default: "60s" },
  });
  const relay = relayUrl(values.relay);
  const token = adminToken(values.token);
  if (positionals.length === 0)
    throw new UsageError("give the leaf certificates: ocsp-relay pin --relay URL --token T *.pem");
  const timeoutMs = parseDuration(values.timeout!, "--timeout");
  const leaves = uniqueLeaves(positionals.flatMap((p) => readCertificates(p, "certificate file")));
  if (leaves.length === 0) throw new UsageError("no leaf certificate in the files given");
  const batches = batched(leaves);
  // A few leaves are pinned at once (their answers fetched now); more are queued per issuer.
  const queue = leaves.length > INLINE_PINS;
  const out = (line: string) => process.stdout.write(`${line}\n`);
  const last = new Map<string, QueuedPinsJson["queued"][number]>();
  const replies: unknown[] = [];
  let failed = false;
  for (const [i, batch] of batches.entries()) {
    const url = `${relay}/admin/certificates${queue ? "?queue=true" : ""}`;
    let res: Response;
    try {
      res = await fetch(url, {
        method: "POST",
        headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/x-pem-file" },
        body: batch.map(toPem).join(""),
        redirect: "error",
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (e) {
      say(`ocsp-relay pin: cannot reach the relay at ${relay}: ${networkError(e)}`);
      return 1;
    }
    const body = (await res.json().catch(() => undefined)) as
      QueuedPinsJson | PinnedCertificatesJson | ErrorJson | undefined;
    replies.push(body);
    const where = `batch ${i + 1}/${batches.length} (${batch.length} leaves)`;
    if (!body || "error" in body || ![200, 202, 404].includes(res.status)) {
      const why = body && "error" in body ? `${body.error}: ${body.detail ?? ""}` : "";
      say(`ocsp-relay pin: ${where}: refused (HTTP ${res.status}) ${why}`);
      say("  re-sending is safe: certificates already queued are not queued twice");
      return 1;
    }
    if ("queued" in body) {
      const added = body.queued.reduce((n, q) => n + q.added, 0);
      const already = body.queued.reduce((n, q) => n + q.alreadyQueued, 0);
      say(`${where}: ${added} queued, ${already} already queued`);
      for (const q of body.queued) last.set(q.issuer, q);
    }
    for (const c of body.certificates) {
      if (c.error === "issuer not registered") {
        failed = true;
        say(`  serial ${c.serial} "${c.subject}": issuer not registered (ocsp-relay register)`);
      } else if (c.revocationSource === "crl") {
        if (c.status !== "good") failed = true;
        say(`  serial ${c.serial} "${c.subject}": CRL status ${c.status} ${c.problem ?? ""}`);
      } else if (!queue) {
        const status = "status" in c ? c.status : undefined;
        if (c.error || status !== "good") failed = true;
        out(`serial ${c.serial} "${c.subject}": ${c.error ? `FAILED: ${c.error}` : status}`);
      }
    }
  }
  if (values.json) out(JSON.stringify(replies));
  else for (const q of last.values()) out(queueLine(q, Date.now()));
  if (queue) out(`progress: ocsp-relay pins --relay ${relay} --token …`);
  return failed ? 1 : 0;
}

export async function pinsCommand(args: string[]): Promise<number> {
  const { values } = parse(args, {
    relay: { type: "string" },
    token: { type: "string" },
    issuer: { type: "string" },
    json: { type: "boolean", default: false },
    timeout: { type: "string", default: "30s" },
  });
  const relay = relayUrl(values.relay);
  const token = adminToken(values.token);
  const issuers: IssuerPinProgressJson[] = [];
  for (let page = 1, pages = 1; page <= pages; page++) {
    const query = new URLSearchParams({ page: String(page) });
    if (values.issuer) query.set("issuer", values.issuer);
    let res: Response;
    try {
      res = await fetch(`${relay}/admin/pins?${query}`, {
        headers: { Authorization: `Bearer ${token}` },
        redirect: "error",
        signal: AbortSignal.timeout(parseDuration(values.timeout!, "--timeout")),
      });
    } catch (e) {
      say(`ocsp-relay pins: cannot reach the relay at ${relay}: ${networkError(e)}`);
      return 1;
    }
    const body = (await res.json().catch(() => undefined)) as PinProgressJson | ErrorJson;
    if (!res.ok || !body || "error" in body) {
      say(`ocsp-relay pins: HTTP ${res.status} ${body && "error" in body ? body.error : ""}`);
      return 1;
    }
    issuers.push(...body.issuers);
    pages = body.pages;
  }
  const out = (line: string) => process.stdout.write(`${line}\n`);
  if (values.json) out(JSON.stringify({ issuers }));
  else if (issuers.length === 0) out("no pin queue holds anything");
  const now = Date.now();
  for (const p of values.json ? [] : issuers) {
    out(queueLine(p, now));
    out(
      `  done ${p.done}, retrying ${p.retrying}, failed ${p.failed}${p.cancelled ? `, cancelled ${p.cancelled}` : ""}`,
    );
    if (p.lastError) out(`  last error ${p.lastErrorAt}: ${p.lastError}`);
    for (const f of p.failures)
      out(`  failed serial ${f.serial} "${f.subject}" after ${f.attempts} attempts: ${f.error}`);
  }
  return issuers.some((p) => p.failed > 0) ? 1 : 0;
}

function queueLine(
  q: Pick<
    IssuerPinProgressJson,
    "issuer" | "subject" | "queueLength" | "ratePerMinute" | "lastExpectedAt"
  >,
  now: number,
): string {
  const eta = q.lastExpectedAt
    ? `, last expected ${q.lastExpectedAt} (in ${formatDuration(Date.parse(q.lastExpectedAt) - now)})`
    : "";
  return `issuer "${q.subject}" (${q.issuer}): ${q.queueLength} waiting at ${q.ratePerMinute}/min${eta}`;
}

/** The leaves (CA certificates left out), each once. */
function uniqueLeaves(certs: CertificateFacts[]): CertificateFacts[] {
  const seen = new Map<string, CertificateFacts>();
  for (const c of certs) if (!c.isCA) seen.set(toHex(c.der), c);
  return [...seen.values()];
}

/**
 * Batches under the admin API's body cap and its issuer bound, leaves of one issuer together
 * (sorted by issuer name, then serial), so most batches go to one or two queues.
 */
export function batched(leaves: readonly CertificateFacts[]): CertificateFacts[][] {
  const key = (c: CertificateFacts) => `${toHex(c.issuer)} ${serialHex(c).padStart(40, "0")}`;
  const sorted = [...leaves].sort((a, b) => (key(a) < key(b) ? -1 : 1));
  const batches: CertificateFacts[][] = [];
  let batch: CertificateFacts[] = [];
  let bytes = 0;
  const issuers = new Set<string>();
  for (const leaf of sorted) {
    const size = toPem(leaf).length;
    const issuer = toHex(leaf.issuer);
    const newIssuer = !issuers.has(issuer);
    if (
      batch.length > 0 &&
      (bytes + size > MAX_BODY_BYTES ||
        batch.length >= MAX_LEAVES_PER_REQUEST ||
        (newIssuer && issuers.size >= MAX_QUEUES_PER_REQUEST))
    ) {
      batches.push(batch);
      batch = [];
      bytes = 0;
      issuers.clear();
    }
    batch.push(leaf);
    bytes += size;
    issuers.add(issuer);
  }
  if (batch.length) batches.push(batch);
  return batches;
}
