// /metrics and /status at 150 000 certificates (issue 18): the renderers' digests take the rows one
// at a time as the ledger lists them, and what they keep, and so the page and the default scrape,
// does not grow with the fleet. Sizes and counts only: how long it takes is printed by
// scripts/control-plane/time.ts, never asserted (no timed tests).

import { describe, expect, it } from "vitest";
import type { CertSummary, MetricsQuery, StatusQuery } from "../../src/fleet/ledger.ts";
import {
  MAX_CERTIFICATE_SERIES,
  MetricsDigest,
  renderMetrics,
} from "../../src/metrics/prometheus.ts";
import { renderStatusPage, StatusDigest } from "../../src/status/page.ts";

const N = 150_000; // renderMetrics before this change threw RangeError here
const HOUR = 3_600_000;
const now = Date.UTC(2026, 10, 28, 12, 0, 0);
const ISSUERS = ["0123456789abcdef", "fedcba9876543210", "00112233445566ff"];

/** The i-th certificate: one in 997 failing, one in 4 001 Must-Staple and failing near expiry. */
function certificate(i: number): CertSummary {
  const serial = (0x1000000 + i).toString(16);
  const risky = i % 4001 === 3;
  const failing = risky || i % 997 === 5;
  return {
    certIdKey: `SHA-256:${"ab".repeat(32)}:${"cd".repeat(32)}:${serial}`,
    issuerId: ISSUERS[i % ISSUERS.length]!,
    serial,
    subject: `CN=host-${i}.fleet.example,O=Example Fleet`,
    mustStaple: risky,
    pinned: true,
    status: i % 50_000 === 1 ? "revoked" : "good",
    thisUpdate: now - HOUR,
    nextUpdate: now + (risky ? HOUR : 2 * HOUR + (i % 7000) * 60_000),
    lastFetchAt: now - HOUR,
    lastSuccessAt: now - HOUR,
    failures: failing ? 2 : 0,
    ...(failing ? { lastError: "the CA's responder failed: HTTP 503" } : {}),
  };
}

/** The rows fed as the ledger feeds them: a pass, and another while the digest asks for one. */
function digest<D extends { add(c: CertSummary): void; again?(): boolean }>(d: D): D {
  do for (let i = 0; i < N; i++) d.add(certificate(i));
  while (d.again?.());
  return d;
}

const head = { counters: {}, issuers: [], failures: [] };
const failing = Array.from({ length: N }, (_, i) => i).filter(
  (i) => i % 4001 === 3 || i % 997 === 5,
).length;

describe("at 150 000 certificates", () => {
  const query: MetricsQuery = { now, mustStapleMarginMs: 24 * HOUR, certificates: "troubled" };

  it("/metrics by default: a few series per issuer and at most 100 certificates' own", () => {
    const text = renderMetrics(
      { ...head, certificates: digest(new MetricsDigest(query)).result() },
      now,
      { memoryEntries: 0 },
    );
    const samples = text.split("\n").filter((l) => l.startsWith("ocsp_relay_"));
    const perCertificate = samples.filter((l) =>
      l.startsWith("ocsp_relay_certificate_next_update_seconds{"),
    );
    expect(perCertificate).toHaveLength(MAX_CERTIFICATE_SERIES);
    expect(samples.length).toBeLessThan(MAX_CERTIFICATE_SERIES + 20 * ISSUERS.length + 10);
    expect(text).toContain(`ocsp_relay_cached_entries ${N}\n`);
    expect(text).toContain(
      `ocsp_relay_certificate_series_omitted ${failing - MAX_CERTIFICATE_SERIES}\n`,
    );
    expect(text.length).toBeLessThan(40_000);
  });

  it("/metrics?certificates=all: one series per valid answer, and it does not throw", () => {
    const all = digest(new MetricsDigest({ ...query, certificates: "all" })).result();
    const text = renderMetrics({ ...head, certificates: all }, now, { memoryEntries: 0 });
    expect(text.match(/^ocsp_relay_certificate_next_update_seconds\{/gm)).toHaveLength(N);
  });

  it("/status: one page of 100 rows, the summary and the at-risk list, under 200 KB", () => {
    const q: StatusQuery = { now, mustStapleMarginMs: 24 * HOUR, page: 1 };
    for (const page of [1, 700, 1500]) {
      const status = digest(new StatusDigest({ ...q, page })).result();
      const html = renderStatusPage({
        ledger: { ...head, certificates: status },
        issuers: [],
        now,
      });
      expect(status.all.total).toBe(N);
      expect(status.rows).toHaveLength(100);
      expect(status.page).toBe(page);
      expect(html.match(/<tr data-cert=/g)).toHaveLength(100);
      expect(new TextEncoder().encode(html).length).toBeLessThan(200_000);
    }
    const searched = digest(new StatusDigest({ ...q, q: "host-12345.fleet" })).result();
    expect(searched.matched).toBe(1);
  });
});
