// The status page: a summary of the fleet (certificates by issuer and status), Must-Staple
// certificates at risk, issuers and responder health, the certificates a page at a time (at risk
// and failing first, searchable by serial or subject) with the share of their validity window left
// drawn as a bar, recent failures. One HTML document, inline CSS, no script, no external asset;
// its links only change its own query. Pure: `now` is an argument. Linear in the certificates:
// one pass (StatusDigest, run by the ledger over its rows) keeps what the page shows.

import type { BudgetSnapshot } from "../fleet/budget.ts";
import {
  atRisk,
  servedUntil,
  type CertificateCounts,
  type CertificateStatus,
  type CertificateVisitor,
  type CertSummary,
  type LedgerSnapshot,
  type LedgerStatus,
  type StatusLabel,
  type StatusQuery,
} from "../fleet/ledger.ts";
import type { IssuerRecord } from "../issuers/issuer.ts";

/** Certificate rows a page shows. */
export const PAGE_SIZE = 100;
/** At-risk certificates listed by name; the rest lead the certificate table. */
export const AT_RISK_LISTED = 50;
/** Longest search accepted (routes/observe.ts): a serial or a name, not a document. */
export const MAX_QUERY_CHARS = 200;

const STATUSES: readonly StatusLabel[] = ["good", "revoked", "unknown", "none"];

export interface StatusInput {
  ledger: LedgerStatus;
  issuers: readonly IssuerRecord[];
  now: number;
  /** Each registered issuer's upstream budget. */
  budgets?: readonly BudgetSnapshot[];
  /** Who may use the OCSP endpoint (never the keys themselves). */
  endpoint?: { access: "open" | "registered"; keyed: boolean };
}

const esc = (s: unknown) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const iso = (t: number | undefined) =>
  t === undefined ? "–" : new Date(t).toISOString().replace(".000", "");
/** 100000 as "100,000" (no Intl: the same text in every runtime). */
const count = (n: number) => String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ",");

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

/**
 * The `k` first of the items offered, by `order` then order of offer, in one pass: kept while
 * they may be among the first, sorted and cut back to `k` whenever twice as many are kept. O(log k)
 * an offer (amortised), at most 2k held, however many are offered.
 */
export class Smallest<T> {
  private readonly kept: { item: T; order: number; seq: number }[] = [];
  /** The k-th order once k are kept: an item at or after it can no longer be among the first. */
  private bar = Infinity;
  private offered = 0;

  constructor(private readonly k: number) {}

  offer(item: T, order: number): void {
    const seq = this.offered++;
    if (this.k === 0 || order >= this.bar) return;
    this.kept.push({ item, order, seq });
    if (this.kept.length >= 2 * this.k) this.trim();
  }

  /** The items kept, first first. */
  sorted(): T[] {
    this.trim();
    return this.kept.map((e) => e.item);
  }

  private trim(): void {
    this.kept.sort((a, b) => a.order - b.order || a.seq - b.seq);
    if (this.kept.length >= this.k) {
      this.kept.length = this.k;
      this.bar = this.kept[this.k - 1]!.order;
    }
  }
}

/** Rows a pass may hold (about 6 MB): a page further down takes a second pass, 8 bytes a row. */
export const ROWS_HELD = 10_000;

/**
 * The pass over the certificate rows /status needs: the counts, the at-risk list and the page asked
 * for, in the page's order (at risk, then failing, then soonest nextUpdate, then key order).
 * Within the first ROWS_HELD rows, one pass keeping the rows up to the end of the page (O(log k) a
 * row: page 1 keeps 100). Further down, the first pass keeps each matching row's place in that
 * order as a number; sorted, they give the page's first and last; a second pass (`again`) picks the
 * rows between. A row reported between the two passes may shift the page by a row: a page of a
 * changing fleet, not a snapshot.
 */
export class StatusDigest implements CertificateVisitor {
  private readonly all = counts("all");
  private readonly issuers = new Map<string, CertificateCounts>();
  private readonly atRisk = new Smallest<CertSummary>(AT_RISK_LISTED);
  private readonly q: string;
  private readonly serialQ: string;
  private readonly pageSize: number;
  private readonly page: number;
  private matched = 0;
  /** The rows up to the end of the page, when they are few enough to hold. */
  private readonly rows: Smallest<CertSummary> | undefined;
  /** Else: each matching row's order (first pass), the page's bounds, the rows picked (second). */
  private orders: Float64Array = new Float64Array(0);
  private window: { lo: number; hi: number; loAt: number; hiAt: number } | undefined;
  private seenLo = 0;
  private seenHi = 0;
  private readonly picked: { cert: CertSummary; order: number }[] = [];

  constructor(private readonly query: StatusQuery) {
    this.q = (query.q ?? "").toLowerCase();
    this.serialQ = this.q.replace(/[:\s]/g, "");
    this.pageSize = query.pageSize ?? PAGE_SIZE;
    this.page = Math.max(1, Math.floor(query.page ?? 1));
    if (this.page * this.pageSize <= ROWS_HELD) this.rows = new Smallest(this.page * this.pageSize);
    else this.orders = new Float64Array(1024);
  }

  add(c: CertSummary): void {
    if (this.window) return this.pick(c);
    const { now, mustStapleMarginMs } = this.query;
    let counted = this.issuers.get(c.issuerId);
    if (!counted) this.issuers.set(c.issuerId, (counted = counts(c.issuerId)));
    const risky = atRisk(c, now, mustStapleMarginMs);
    const failing = c.failures > 0;
    const valid = (servedUntil(c) ?? 0) > now;
    tally(this.all, c, valid, risky, failing);
    tally(counted, c, valid, risky, failing);
    if (risky) this.atRisk.offer(c, order(0, c));
    if (!this.matches(c)) return;
    this.matched += 1;
    const place = order(risky ? 0 : failing ? 1 : 2, c);
    if (this.rows) return this.rows.offer(c, place);
    if (this.matched > this.orders.length) {
      const grown = new Float64Array(this.orders.length * 2);
      grown.set(this.orders);
      this.orders = grown;
    }
    this.orders[this.matched - 1] = place;
  }

  /** After the first pass: a second one when the page lies beyond the rows a pass may hold. */
  again(): boolean {
    if (this.rows || this.window || this.matched === 0) return false;
    const sorted = this.orders.subarray(0, this.matched).sort();
    const { first, last } = this.span();
    const lo = sorted[first]!;
    const hi = sorted[last]!;
    this.window = { lo, hi, loAt: sorted.indexOf(lo), hiAt: sorted.indexOf(hi) };
    this.orders = new Float64Array(0);
    return true;
  }

  result(): CertificateStatus {
    const { page, first } = this.span();
    const rows = this.rows
      ? this.rows.sorted().slice(first, first + this.pageSize)
      : this.picked.sort((a, b) => a.order - b.order).map((p) => p.cert); // stable: key order
    return {
      all: this.all,
      issuers: [...this.issuers.values()].sort((a, b) => (a.issuerId < b.issuerId ? -1 : 1)),
      atRisk: this.atRisk.sorted(),
      q: this.query.q ?? "",
      page,
      pageSize: this.pageSize,
      matched: this.matched,
      rows,
    };
  }

  /** The second pass: the rows whose place in the order falls on the page. */
  private pick(c: CertSummary): void {
    if (!this.matches(c)) return;
    const { now, mustStapleMarginMs } = this.query;
    const o = order(atRisk(c, now, mustStapleMarginMs) ? 0 : c.failures > 0 ? 1 : 2, c);
    const w = this.window!;
    if (o < w.lo || o > w.hi) return;
    // Rows of the same order come in key order: the n-th of them holds place `at + n`.
    const at = o === w.lo ? w.loAt + this.seenLo++ : o === w.hi ? w.hiAt + this.seenHi++ : -1;
    const { first, last } = this.span();
    if (at !== -1 && (at < first || at > last)) return;
    this.picked.push({ cert: c, order: o });
  }

  /** The page shown (the last one past the end) and the places of its first and last rows. */
  private span(): { page: number; first: number; last: number } {
    const pages = Math.max(1, Math.ceil(this.matched / this.pageSize));
    const page = Math.min(this.page, pages);
    const first = (page - 1) * this.pageSize;
    return { page, first, last: Math.min(this.matched, first + this.pageSize) - 1 };
  }

  private matches(c: CertSummary): boolean {
    if (this.q === "") return true;
    if (this.serialQ !== "" && c.serial.toLowerCase().includes(this.serialQ)) return true;
    return c.subject !== undefined && c.subject.toLowerCase().includes(this.q);
  }
}

/**
 * A certificate's place in the table as one exact number: its rank (at risk, failing, the rest),
 * then its nextUpdate, soonest first, never answered before all (2^45 ms is 1 115 years).
 */
export const order = (rank: number, c: CertSummary) =>
  rank * 2 ** 45 + Math.min(Math.max(c.nextUpdate ?? 0, 0), 2 ** 45 - 1);

function tally(
  n: CertificateCounts,
  c: CertSummary,
  valid: boolean,
  risky: boolean,
  failing: boolean,
) {
  n.total += 1;
  n.byStatus[c.status ?? "none"] += 1;
  if (valid) n.valid += 1;
  if (risky) n.atRisk += 1;
  if (failing) n.failing += 1;
}

function counts(issuerId: string): CertificateCounts {
  const byStatus = { good: 0, revoked: 0, unknown: 0, none: 0 };
  return { issuerId, total: 0, valid: 0, byStatus, atRisk: 0, failing: 0 };
}

/** The status of a snapshot already read whole (tests, small fleets). */
export function statusOf(s: LedgerSnapshot, query: StatusQuery): LedgerStatus {
  const digest = new StatusDigest(query);
  do for (const c of s.certs) digest.add(c);
  while (digest.again());
  return {
    counters: s.counters,
    issuers: s.issuers,
    failures: s.failures,
    certificates: digest.result(),
  };
}

export function renderStatusPage({
  ledger,
  issuers,
  now,
  budgets = [],
  endpoint = { access: "open", keyed: false },
}: StatusInput): string {
  const certs = ledger.certificates;
  const health = new Map(ledger.issuers.map((h) => [h.issuerId, h]));
  const budget = new Map(budgets.map((b) => [b.issuerId, b]));
  const subjects = new Map(issuers.map((r) => [r.id, r.subject]));

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

  const summaryRow = (n: CertificateCounts, name: string) =>
    `<tr data-summary="${esc(n.issuerId)}" data-total="${n.total}" data-at-risk="${n.atRisk}" data-failing="${n.failing}">
<td>${name}</td><td>${count(n.total)}</td>${STATUSES.map((s) => `<td>${count(n.byStatus[s])}</td>`).join("")}<td>${count(n.valid)}</td>
<td class="${n.atRisk > 0 ? "failing" : ""}">${count(n.atRisk)}</td><td class="${n.failing > 0 ? "failing" : ""}">${count(n.failing)}</td></tr>`;
  const summaryRows = certs.issuers.map((n) =>
    summaryRow(
      n,
      `${subjects.has(n.issuerId) ? `${esc(subjects.get(n.issuerId))}<br>` : ""}<code>${esc(n.issuerId)}</code>`,
    ),
  );
  if (certs.issuers.length > 1) summaryRows.push(summaryRow(certs.all, "all issuers"));

  const certRows = certs.rows.map((c) => {
    const left = windowLeft(c, now);
    const pct = Math.round(left * 100);
    const end = servedUntil(c);
    const remaining = end === undefined ? "no answer" : end > now ? duration(end - now) : "expired";
    const level = left === 0 ? "expired" : left < 0.25 ? "low" : "ok";
    return `<tr data-cert="${esc(c.certIdKey)}" data-status="${esc(c.status ?? "none")}" data-left="${pct}">
<td>${esc(c.subject ?? "")}<br><code>${esc(c.serial)}</code></td><td><code>${esc(c.issuerId)}</code></td>
<td class="st-${esc(c.status ?? "none")}">${esc(c.status ?? "no answer")}${c.status === "revoked" && c.revocationReason ? ` (${esc(c.revocationReason)})` : ""}</td>
<td><div class="bar" title="${pct}% of the validity window left"><div class="fill ${level}" style="width:${pct}%"></div></div>${pct}% · ${remaining}</td>
<td>${iso(c.thisUpdate)}<br>${iso(c.nextUpdate)}</td><td>${iso(c.lastFetchAt)}</td>
<td>${c.mustStaple ? "Must-Staple" : ""}${c.pinned ? " pinned" : c.unpinnedAt !== undefined ? " unpinned" : ""}${c.revocationSource === "crl" ? " by CRL" : ""}</td><td>${esc(c.lastError ?? "")}</td></tr>`;
  });

  const failureRows = ledger.failures
    .slice(0, 20)
    .map(
      (f) =>
        `<tr data-failure><td>${iso(f.at)}</td><td><code>${esc(f.serial)}</code></td><td><code>${esc(f.issuerId)}</code></td><td>${esc(f.error)}</td></tr>`,
    );
  const riskItems = certs.atRisk.map((c) => {
    const end = servedUntil(c) ?? 0;
    return `<li data-risk="${esc(c.certIdKey)}">${esc(c.subject ?? c.serial)}: ${end > now ? `${duration(end - now)} left` : "no valid answer"}${c.lastError ? ` — ${esc(c.lastError)}` : ""}</li>`;
  });
  const unlisted = certs.all.atRisk - riskItems.length;

  const table = (id: string, head: string[], rows: string[], empty: string) =>
    rows.length === 0
      ? `<p class="empty" id="${id}">${empty}</p>`
      : `<table id="${id}"><thead><tr>${head.map((h) => `<th>${h}</th>`).join("")}</tr></thead><tbody>${rows.join("\n")}</tbody></table>`;

  const pages = Math.max(1, Math.ceil(certs.matched / certs.pageSize));
  const first = (certs.page - 1) * certs.pageSize;
  const searched = certs.q === "" ? "" : ` matching “${esc(certs.q)}”`;
  const nav = pageLinks(certs.q, certs.page, pages);
  const certificateSection =
    certs.all.total === 0
      ? `<p class="empty" id="certificates">No answer fetched yet.</p>`
      : `<form id="search" method="get"><input type="search" name="q" value="${esc(certs.q)}" maxlength="${MAX_QUERY_CHARS}" placeholder="serial or subject" aria-label="search by serial or subject"> <button type="submit">Search</button>${certs.q === "" ? "" : ` <a href="?">show all</a>`}</form>
<p id="shown" data-matched="${certs.matched}" data-page="${certs.page}" data-pages="${pages}">${certs.matched === 0 ? "None" : `${count(first + 1)}–${count(first + certRows.length)} of ${count(certs.matched)}`} certificate(s)${searched} · at risk first, then failing, then soonest nextUpdate.</p>
${nav}${table("certificates", ["certificate", "issuer", "status", "validity left", "thisUpdate / nextUpdate", "last fetch", "", "last error"], certRows, `No certificate${searched}.`)}${nav}`;

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
#summary td:nth-child(n+2),#summary th:nth-child(n+2){text-align:right}
#search{margin:.5rem 0}#search input{width:22rem;max-width:100%}
.pages{margin:.5rem 0}.pages a,.pages strong{margin-right:.5rem}
</style></head>
<body>
<h1>ocsp-relay</h1>
<p>At ${iso(now)} · ${issuers.length} issuer${issuers.length === 1 ? "" : "s"} · ${count(certs.all.valid)} valid answer(s) of ${count(certs.all.total)} certificate(s)</p>
<p id="endpoint" data-access="${endpoint.access}" data-keyed="${endpoint.keyed}">OCSP endpoint: ${endpoint.keyed ? "only under /k/&lt;fleet key&gt;/ (OCSP_KEYS)" : "open to anyone"} · ${endpoint.access === "registered" ? "registered certificates only (OCSP_ACCESS=registered)" : "any certificate of a registered issuer"}</p>
${summaryRows.length ? `<h2>Summary</h2>\n${table("summary", ["issuer", "certificates", "good", "revoked", "unknown", "no answer", "valid now", "at risk", "failing"], summaryRows, "")}` : ""}
<h2>Must-Staple certificates at risk</h2>
${riskItems.length ? `<ul id="at-risk">${riskItems.join("")}</ul>` : `<p class="empty" id="at-risk">None.</p>`}${unlisted > 0 ? `\n<p id="at-risk-more">${count(unlisted)} more not listed here: they lead the certificate table.</p>` : ""}
<h2>Issuers and responders</h2>
${table("issuers", ["id", "subject", "responder", "health", "fetches / errors / rejected", "avg latency", "last success", "last error", "upstream budget (tokens / burst · refused)"], issuerRows, "No issuer registered yet.")}
<h2>Certificates</h2>
${certificateSection}
<h2>Recent failures</h2>
${table("failures", ["time", "serial", "issuer", "error"], failureRows, "No failures.")}
</body></html>
`;
}

/** Links to the first, previous, nearby, next and last pages: this page's own query, nothing else. */
function pageLinks(q: string, page: number, pages: number): string {
  if (pages <= 1) return "";
  const href = (n: number) => `?${q === "" ? "" : `q=${esc(encodeURIComponent(q))}&amp;`}page=${n}`;
  const link = (n: number, text: string, rel?: "prev" | "next") =>
    `<a href="${href(n)}"${rel ? ` rel="${rel}"` : ""} data-page="${n}">${text}</a>`;
  const parts: string[] = [];
  if (page > 1) parts.push(link(1, "« first"), link(page - 1, "‹ previous", "prev"));
  for (let n = Math.max(1, page - 4); n <= Math.min(pages, page + 4); n++)
    parts.push(n === page ? `<strong aria-current="page">${count(n)}</strong>` : link(n, count(n)));
  if (page < pages)
    parts.push(link(page + 1, "next ›", "next"), link(pages, `last (${count(pages)}) »`));
  return `<nav class="pages" aria-label="pages">Page ${count(page)} of ${count(pages)}: ${parts.join(" ")}</nav>\n`;
}
