// The status page: issuers and responder health, cached certificates with the share of their
// validity window left drawn as a bar, Must-Staple certificates at risk, recent failures.
// One HTML document, inline CSS, no script, no external asset. Pure: `now` is an argument.

import type { BudgetSnapshot } from "../fleet/budget.ts";
import { servedUntil, type CertSummary, type LedgerSnapshot } from "../fleet/ledger.ts";
import type { IssuerRecord } from "../issuers/issuer.ts";

export interface StatusInput {
  snapshot: LedgerSnapshot;
  issuers: readonly IssuerRecord[];
  now: number;
  /** A Must-Staple certificate is at risk below this much validity left. */
  mustStapleMarginMs: number;
  /** Each registered issuer's upstream budget. */
  budgets?: readonly BudgetSnapshot[];
  /** Who may use the OCSP endpoint (never the keys themselves). */
  endpoint?: { access: "open" | "registered"; keyed: boolean };
}

const esc = (s: unknown) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const iso = (t: number | undefined) =>
  t === undefined ? "–" : new Date(t).toISOString().replace(".000", "");

export function duration(ms: number): string {
  const s = Math.round(Math.abs(ms) / 1000);
  const parts =
    s >= 86400
      ? [`${Math.floor(s / 86400)}d`, `${Math.floor((s % 86400) / 3600)}h`]
      : s >= 3600
        ? [`${Math.floor(s / 3600)}h`, `${Math.floor((s % 3600) / 60)}m`]
        : s >= 60
          ? [`${Math.floor(s / 60)}m`, `${s % 60}s`]
          : [`${s}s`];
  return (ms < 0 ? "-" : "") + parts.join(" ");
}

/** The share of the validity window left, 0..1 (0 once expired or unknown). */
export function windowLeft(
  c: Pick<CertSummary, "thisUpdate" | "nextUpdate" | "serveUntil">,
  now: number,
): number {
  const end = servedUntil(c);
  if (c.thisUpdate === undefined || end === undefined || end <= c.thisUpdate) return 0;
  return Math.min(1, Math.max(0, (end - now) / (end - c.thisUpdate)));
}

export function atRisk(c: CertSummary, now: number, marginMs: number): boolean {
  if (!c.mustStaple) return false;
  const end = servedUntil(c);
  const left = end === undefined ? -1 : end - now;
  return left <= 0 || (left < marginMs && c.failures > 0);
}

export function renderStatusPage({
  snapshot,
  issuers,
  now,
  mustStapleMarginMs,
  budgets = [],
  endpoint = { access: "open", keyed: false },
}: StatusInput): string {
  const health = new Map(snapshot.issuers.map((h) => [h.issuerId, h]));
  const budget = new Map(budgets.map((b) => [b.issuerId, b]));
  const certs = [...snapshot.certs].sort((a, b) => (a.nextUpdate ?? 0) - (b.nextUpdate ?? 0));
  const risky = certs.filter((c) => atRisk(c, now, mustStapleMarginMs));

  const issuerRows = issuers.map((r) => {
    const h = health.get(r.id);
    const state = !h || h.fetches === 0 ? "idle" : h.consecutiveFailures > 0 ? "failing" : "ok";
    const avg = h && h.fetches > 0 ? `${Math.round(h.latencyMsSum / h.fetches)} ms` : "–";
    const b = budget.get(r.id);
    const spent = b && b.tokens < 1 ? " spent" : "";
    const budgetCell = b
      ? `<td data-budget-tokens="${b.tokens}" data-budget-denied="${b.denied}" class="${spent ? "failing" : ""}">${b.tokens} / ${b.burst}${spent} · ${b.denied} refused${b.lastDeniedAt !== undefined ? ` (last ${iso(b.lastDeniedAt)})` : ""}</td>`
      : "<td>–</td>";
    return `<tr data-issuer="${esc(r.id)}" data-health="${state}">
<td><code>${esc(r.id)}</code></td><td>${esc(r.subject)}</td><td>${r.responderUrl ? `<code>${esc(r.responderUrl)}</code>` : "no OCSP"}${(r.crlUrls ?? []).map((u) => `<br>CRL <code>${esc(u)}</code>`).join("")}</td>
<td class="${state}">${state}${h && h.consecutiveFailures > 0 ? ` (${h.consecutiveFailures} in a row)` : ""}</td>
<td>${h?.fetches ?? 0} / ${h?.errors ?? 0} / ${h?.rejections ?? 0}</td><td>${avg}</td>
<td>${iso(h?.lastSuccessAt)}</td><td>${esc(h?.lastError ?? "")}</td>${budgetCell}</tr>`;
  });

  const certRows = certs.map((c) => {
    const left = windowLeft(c, now);
    const pct = Math.round(left * 100);
    const remaining =
      servedUntil(c) === undefined
        ? "no answer"
        : servedUntil(c)! > now
          ? duration(servedUntil(c)! - now)
          : "expired";
    const level = left === 0 ? "expired" : left < 0.25 ? "low" : "ok";
    return `<tr data-cert="${esc(c.certIdKey)}" data-status="${esc(c.status ?? "none")}" data-left="${pct}">
<td>${esc(c.subject ?? "")}<br><code>${esc(c.serial)}</code></td><td><code>${esc(c.issuerId)}</code></td>
<td class="st-${esc(c.status ?? "none")}">${esc(c.status ?? "no answer")}${c.status === "revoked" && c.revocationReason ? ` (${esc(c.revocationReason)})` : ""}</td>
<td><div class="bar" title="${pct}% of the validity window left"><div class="fill ${level}" style="width:${pct}%"></div></div>${pct}% · ${remaining}</td>
<td>${iso(c.thisUpdate)}<br>${iso(c.nextUpdate)}</td><td>${iso(c.lastFetchAt)}</td>
<td>${c.mustStaple ? "Must-Staple" : ""}${c.pinned ? " pinned" : ""}${c.revocationSource === "crl" ? " by CRL" : ""}</td><td>${esc(c.lastError ?? "")}</td></tr>`;
  });

  const failureRows = snapshot.failures
    .slice(0, 20)
    .map(
      (f) =>
        `<tr data-failure><td>${iso(f.at)}</td><td><code>${esc(f.serial)}</code></td><td><code>${esc(f.issuerId)}</code></td><td>${esc(f.error)}</td></tr>`,
    );
  const riskItems = risky.map(
    (c) =>
      `<li data-risk="${esc(c.certIdKey)}">${esc(c.subject ?? c.serial)}: ${(servedUntil(c) ?? 0) > now ? `${duration(servedUntil(c)! - now)} left` : "no valid answer"}${c.lastError ? ` — ${esc(c.lastError)}` : ""}</li>`,
  );

  const table = (id: string, head: string[], rows: string[], empty: string) =>
    rows.length === 0
      ? `<p class="empty" id="${id}">${empty}</p>`
      : `<table id="${id}"><thead><tr>${head.map((h) => `<th>${h}</th>`).join("")}</tr></thead><tbody>${rows.join("\n")}</tbody></table>`;

  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>ocsp-relay status</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:1.5rem;color:#1d1d1f;background:#fafafa}
h1{font-size:1.4rem;margin:0 0 .2rem}h2{font-size:1.1rem;margin:1.6rem 0 .5rem}
table{border-collapse:collapse;width:100%;background:#fff}th,td{padding:.35rem .5rem;border-bottom:1px solid #e5e5e5;text-align:left;vertical-align:top}
th{font-weight:600;background:#f0f0f0}code{font-size:12px}
.bar{display:inline-block;width:120px;height:10px;background:#e5e5e5;border-radius:5px;margin-right:.4rem;vertical-align:middle;overflow:hidden}
.fill{height:100%}.fill.ok{background:#2e9d4a}.fill.low{background:#e0a100}.fill.expired{background:#c62828}
.ok{color:#2e7d32}.failing{color:#c62828;font-weight:600}.idle{color:#777}
.st-good{color:#2e7d32}.st-revoked{color:#c62828;font-weight:600}.st-unknown{color:#e0a100}.st-none{color:#777}
#at-risk li{color:#c62828}.empty{color:#777}
</style></head>
<body>
<h1>ocsp-relay</h1>
<p>At ${iso(now)} · ${issuers.length} issuer${issuers.length === 1 ? "" : "s"} · ${certs.filter((c) => (servedUntil(c) ?? 0) > now).length} valid answer(s) of ${certs.length} certificate(s)</p>
<p id="endpoint" data-access="${endpoint.access}" data-keyed="${endpoint.keyed}">OCSP endpoint: ${endpoint.keyed ? "only under /k/&lt;fleet key&gt;/ (OCSP_KEYS)" : "open to anyone"} · ${endpoint.access === "registered" ? "registered certificates only (OCSP_ACCESS=registered)" : "any certificate of a registered issuer"}</p>
<h2>Must-Staple certificates at risk</h2>
${riskItems.length ? `<ul id="at-risk">${riskItems.join("")}</ul>` : `<p class="empty" id="at-risk">None.</p>`}
<h2>Issuers and responders</h2>
${table("issuers", ["id", "subject", "responder", "health", "fetches / errors / rejected", "avg latency", "last success", "last error", "upstream budget (tokens / burst · refused)"], issuerRows, "No issuer registered yet.")}
<h2>Certificates</h2>
${table("certificates", ["certificate", "issuer", "status", "validity left", "thisUpdate / nextUpdate", "last fetch", "", "last error"], certRows, "No answer fetched yet.")}
<h2>Recent failures</h2>
${table("failures", ["time", "serial", "issuer", "error"], failureRows, "No failures.")}
</body></html>
`;
}
