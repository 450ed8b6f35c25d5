// /metrics in the Prometheus text exposition format (version 0.0.4). Pure: `now` is an argument.

import type { BudgetSnapshot } from "../fleet/budget.ts";
import { servedUntil, type LedgerSnapshot } from "../fleet/ledger.ts";

const HELP: Record<string, [type: "counter" | "gauge", help: string]> = {
  requests_total: ["counter", "OCSP requests answered, by outcome and by the tier that answered."],
  upstream_fetches_total: [
    "counter",
    "Fetches from CA responders, by issuer and result (ok, error, rejected).",
  ],
  upstream_latency_seconds_sum: ["counter", "Total time spent on CA fetches, by issuer."],
  upstream_latency_seconds_count: ["counter", "Number of timed CA fetches, by issuer."],
  verification_rejections_total: ["counter", "CA answers refused by the verifier, by reason."],
  crl_fetches_total: [
    "counter",
    "Fetches of registered CRLs, by issuer and result (ok, error, rejected).",
  ],
  crl_rejections_total: ["counter", "CRLs refused by the verifier, by reason."],
  alerts_sent_total: ["counter", "Alerts sent to the webhook, by kind."],
  cached_entries: ["gauge", "Certificates with an answer that is valid now."],
  soonest_next_update_seconds: [
    "gauge",
    "Seconds until the soonest nextUpdate among valid answers (unknown answers: their shorter serving time).",
  ],
  certificate_next_update_seconds: ["gauge", "Seconds until nextUpdate, per certificate."],
  issuer_consecutive_failures: ["gauge", "Consecutive failed fetches from the issuer's responder."],
  upstream_budget_admitted_total: [
    "counter",
    "First fetches of unregistered certificates the issuer's upstream budget let through.",
  ],
  upstream_budget_denied_total: [
    "counter",
    "Requests answered tryLater because the issuer's upstream budget was spent.",
  ],
  upstream_budget_tokens: ["gauge", "First fetches the issuer's upstream budget allows now."],
  isolate_memory_entries: [
    "gauge",
    "Answers held in the memory of the isolate that served this scrape.",
  ],
};

export function renderMetrics(
  s: LedgerSnapshot,
  now: number,
  isolate: { memoryEntries: number },
  budgets: readonly BudgetSnapshot[] = [],
): string {
  const series = new Map<string, string[]>();
  const add = (line: string) => {
    const name = line.slice(0, line.search(/[{ ]/));
    series.set(name, [...(series.get(name) ?? []), `ocsp_relay_${line}`]);
  };
  for (const [key, value] of Object.entries(s.counters).sort()) add(`${key} ${round(value)}`);
  const valid = s.certs.filter((c) => (servedUntil(c) ?? 0) > now);
  add(`cached_entries ${valid.length}`);
  const soonest = Math.min(...valid.map((c) => servedUntil(c)!));
  if (Number.isFinite(soonest)) add(`soonest_next_update_seconds ${round((soonest - now) / 1000)}`);
  for (const c of valid) {
    add(
      `certificate_next_update_seconds{issuer="${c.issuerId}",serial="${c.serial}"} ${round((servedUntil(c)! - now) / 1000)}`,
    );
  }
  for (const i of s.issuers)
    add(`issuer_consecutive_failures{issuer="${i.issuerId}"} ${i.consecutiveFailures}`);
  for (const b of budgets) {
    add(`upstream_budget_admitted_total{issuer="${b.issuerId}"} ${b.admitted}`);
    add(`upstream_budget_denied_total{issuer="${b.issuerId}"} ${b.denied}`);
    add(`upstream_budget_tokens{issuer="${b.issuerId}"} ${b.tokens}`);
  }
  add(`isolate_memory_entries ${isolate.memoryEntries}`);

  const out: string[] = [];
  for (const [name, lines] of series) {
    const [type, help] = HELP[name] ?? ["gauge", name];
    out.push(`# HELP ocsp_relay_${name} ${help}`, `# TYPE ocsp_relay_${name} ${type}`, ...lines);
  }
  return out.join("\n") + "\n";
}

function round(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(3);
}
