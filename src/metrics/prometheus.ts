// /metrics in the Prometheus text exposition format (version 0.0.4). Pure: `now` is an argument.
// Bounded cardinality, as Prometheus practice asks (prometheus.io/docs/practices/naming, "Labels";
// .../instrumentation, "Do not overuse labels"): the certificates are counted per issuer, and a
// histogram per issuer says how much time their answers have left. A series per certificate only
// for the certificates in trouble, at most MAX_CERTIFICATE_SERIES, or for all on request
// (`/metrics?certificates=all`). Everything is linear in the certificates: one pass (MetricsDigest,
// run by the ledger over its rows), then a text built from parts joined once.

import type { BudgetSnapshot } from "../fleet/budget.ts";
import {
  atRisk,
  servedUntil,
  type CertificateMetrics,
  type CertificateSeries,
  type CertificateVisitor,
  type CertSummary,
  type IssuerCertificateMetrics,
  type LedgerMetrics,
  type LedgerSnapshot,
  type MetricsQuery,
  type StatusLabel,
} from "../fleet/ledger.ts";
import { Smallest } from "../status/page.ts";

type MetricType = "counter" | "gauge" | "histogram";

const HELP: Record<string, [type: MetricType, help: string]> = {
  requests_total: ["counter", "OCSP requests answered, by outcome and by the tier that answered."],
  upstream_fetches_total: [
    "counter",
    "Fetches from CA responders, by issuer and result (ok, error, rejected).",
  ],
  upstream_latency_seconds_sum: ["counter", "Total time spent on CA fetches, by issuer."],
  upstream_latency_seconds_count: ["counter", "Number of timed CA fetches, by issuer."],
  upstream_get_fallbacks_total: [
    "counter",
    "Fetches whose GET the CA's responder refused (HTTP 400, 404, 405, 414, 501, or no OCSP response), asked again at once with POST, by issuer.",
  ],
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
  certificates: [
    "gauge",
    "Certificates the ledger lists, by issuer and the status of their last answer (none: never answered).",
  ],
  certificates_at_risk: [
    "gauge",
    "Must-Staple certificates with no valid answer, or close to expiry while their refresh fails, by issuer.",
  ],
  certificates_failing: ["gauge", "Certificates whose last refresh failed, by issuer."],
  answer_time_left_seconds: [
    "histogram",
    "Valid answers by seconds left until nextUpdate (unknown answers: their shorter serving time), by issuer.",
  ],
  certificate_next_update_seconds: [
    "gauge",
    "Seconds until nextUpdate, per certificate: only those at risk or failing (at most 100), unless ?certificates=all.",
  ],
  certificate_series_omitted: [
    "gauge",
    "Certificates at risk or failing left without a certificate_next_update_seconds series by the cap (see /status, or ?certificates=all).",
  ],
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

/** Upper bounds of the time-left histogram, in seconds: 5m, 15m, 1h, 6h, 1d, 3d, 7d (then +Inf). */
export const TIME_LEFT_BUCKETS_S = [300, 900, 3600, 21_600, 86_400, 259_200, 604_800] as const;

/**
 * Per-certificate series a default scrape carries at most: the certificates at risk first, then
 * the failing ones, soonest expiry first. A scrape stays a few series per issuer plus these
 * whatever the fleet's size (100 000 certificates would be 100 000 series, each kept by Prometheus
 * for weeks); the rest are counted in certificate_series_omitted and listed on /status.
 */
export const MAX_CERTIFICATE_SERIES = 100;

const STATUSES: readonly StatusLabel[] = ["good", "revoked", "unknown", "none"];

interface Series {
  issuerId: string;
  serial: string;
  servedUntil: number;
}

/** The one pass over the certificate rows /metrics needs: O(1) a row, O(issuers + series) held. */
export class MetricsDigest implements CertificateVisitor {
  private readonly issuers = new Map<string, IssuerCertificateMetrics>();
  private valid = 0;
  private soonest: number | undefined;
  private readonly all: Series[] = [];
  private readonly troubled = new Smallest<Series>(MAX_CERTIFICATE_SERIES);
  private troubledValid = 0;

  constructor(private readonly query: MetricsQuery) {}

  add(c: CertSummary): void {
    const { now, mustStapleMarginMs } = this.query;
    const counts = this.issuer(c.issuerId);
    counts.byStatus[c.status ?? "none"] += 1;
    const risky = atRisk(c, now, mustStapleMarginMs);
    const failing = c.failures > 0;
    if (risky) counts.atRisk += 1;
    if (failing) counts.failing += 1;
    const end = servedUntil(c);
    if (end === undefined || end <= now) return;
    this.valid += 1;
    if (this.soonest === undefined || end < this.soonest) this.soonest = end;
    const left = (end - now) / 1000;
    counts.valid += 1;
    counts.leftSecondsSum += left;
    let bucket = 0;
    while (bucket < TIME_LEFT_BUCKETS_S.length && left > TIME_LEFT_BUCKETS_S[bucket]!) bucket++;
    counts.buckets[bucket]! += 1;
    // certificate_next_update_seconds is about valid answers, as it always was; the troubled
    // certificates without one are in certificates_at_risk / _failing and on /status.
    const series = { issuerId: c.issuerId, serial: c.serial, servedUntil: end };
    if (this.query.certificates === "all") this.all.push(series);
    else if (risky || failing) {
      this.troubledValid += 1;
      this.troubled.offer(series, (risky ? 0 : 1) * 2 ** 45 + end); // at risk, then soonest
    }
  }

  result(): CertificateMetrics {
    const listed = this.query.certificates === "all" ? this.all : this.troubled.sorted();
    const issuers = [...this.issuers.values()].sort((a, b) => (a.issuerId < b.issuerId ? -1 : 1));
    const index = new Map(issuers.map((i, n) => [i.issuerId, n]));
    const series: CertificateSeries = { issuer: [], serial: [], servedUntil: [] };
    for (const s of listed) {
      series.issuer.push(index.get(s.issuerId)!);
      series.serial.push(s.serial);
      series.servedUntil.push(s.servedUntil);
    }
    return {
      valid: this.valid,
      ...(this.soonest !== undefined ? { soonestServedUntil: this.soonest } : {}),
      issuers,
      series,
      omitted: this.query.certificates === "all" ? 0 : this.troubledValid - listed.length,
    };
  }

  private issuer(issuerId: string): IssuerCertificateMetrics {
    let counts = this.issuers.get(issuerId);
    if (!counts) {
      counts = {
        issuerId,
        byStatus: { good: 0, revoked: 0, unknown: 0, none: 0 },
        atRisk: 0,
        failing: 0,
        buckets: new Array<number>(TIME_LEFT_BUCKETS_S.length + 1).fill(0),
        valid: 0,
        leftSecondsSum: 0,
      };
      this.issuers.set(issuerId, counts);
    }
    return counts;
  }
}

/** The metrics of a snapshot already read whole (tests, small fleets). */
export function metricsOf(s: LedgerSnapshot, query: MetricsQuery): LedgerMetrics {
  const digest = new MetricsDigest(query);
  for (const c of s.certs) digest.add(c);
  return {
    counters: s.counters,
    issuers: s.issuers,
    failures: s.failures,
    certificates: digest.result(),
  };
}

export function renderMetrics(
  m: LedgerMetrics,
  now: number,
  isolate: { memoryEntries: number },
  budgets: readonly BudgetSnapshot[] = [],
): string {
  // Samples grouped by metric, each metric's HELP and TYPE once before them; one join at the end.
  const families = new Map<string, string[]>();
  const add = (family: string, sample: string) => {
    let lines = families.get(family);
    if (!lines) families.set(family, (lines = []));
    lines.push(`ocsp_relay_${sample}`);
  };
  const addNamed = (sample: string) => add(sample.slice(0, sample.search(/[{ ]/)), sample);

  for (const [key, value] of Object.entries(m.counters).sort()) addNamed(`${key} ${round(value)}`);
  const certs = m.certificates;
  add("cached_entries", `cached_entries ${certs.valid}`);
  if (certs.soonestServedUntil !== undefined)
    add(
      "soonest_next_update_seconds",
      `soonest_next_update_seconds ${round((certs.soonestServedUntil - now) / 1000)}`,
    );
  const { issuer, serial, servedUntil } = certs.series;
  for (let n = 0; n < serial.length; n++) {
    add(
      "certificate_next_update_seconds",
      `certificate_next_update_seconds{issuer="${certs.issuers[issuer[n]!]!.issuerId}",serial="${serial[n]}"} ${round((servedUntil[n]! - now) / 1000)}`,
    );
  }
  add("certificate_series_omitted", `certificate_series_omitted ${certs.omitted}`);
  for (const i of certs.issuers) {
    const issuer = `issuer="${i.issuerId}"`;
    for (const status of STATUSES)
      add("certificates", `certificates{${issuer},status="${status}"} ${i.byStatus[status]}`);
    add("certificates_at_risk", `certificates_at_risk{${issuer}} ${i.atRisk}`);
    add("certificates_failing", `certificates_failing{${issuer}} ${i.failing}`);
    let cumulative = 0;
    i.buckets.forEach((n, b) => {
      cumulative += n;
      const le = b < TIME_LEFT_BUCKETS_S.length ? String(TIME_LEFT_BUCKETS_S[b]) : "+Inf";
      add(
        "answer_time_left_seconds",
        `answer_time_left_seconds_bucket{${issuer},le="${le}"} ${cumulative}`,
      );
    });
    add(
      "answer_time_left_seconds",
      `answer_time_left_seconds_sum{${issuer}} ${round(i.leftSecondsSum)}`,
    );
    add("answer_time_left_seconds", `answer_time_left_seconds_count{${issuer}} ${i.valid}`);
  }
  for (const i of m.issuers)
    add(
      "issuer_consecutive_failures",
      `issuer_consecutive_failures{issuer="${i.issuerId}"} ${i.consecutiveFailures}`,
    );
  for (const b of budgets) {
    addNamed(`upstream_budget_admitted_total{issuer="${b.issuerId}"} ${b.admitted}`);
    addNamed(`upstream_budget_denied_total{issuer="${b.issuerId}"} ${b.denied}`);
    addNamed(`upstream_budget_tokens{issuer="${b.issuerId}"} ${b.tokens}`);
  }
  add("isolate_memory_entries", `isolate_memory_entries ${isolate.memoryEntries}`);

  const out: string[] = [];
  for (const [name, lines] of families) {
    const [type, help] = HELP[name] ?? ["gauge", name];
    out.push(`# HELP ocsp_relay_${name} ${help}`, `# TYPE ocsp_relay_${name} ${type}`);
    for (const line of lines) out.push(line);
  }
  return out.join("\n") + "\n";
}

function round(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(3);
}
