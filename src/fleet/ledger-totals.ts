// How the fleet ledger counts CA fetches without a row written per fetch beyond the certificate's
// own: each certificate row carries its fetches (`CertSummary.fetched`), a row that goes (its owner
// forgot it, or it was pruned) first adds them to the one `retiredFetches` row, and /metrics and
// /status add the rows up in the pass they make anyway. So a fetch writes one ledger row (its
// certificate's) where it wrote three (counters, the issuer's health, the certificate), and each
// count is exact: a fetch is in its row until the row goes, then in `retiredFetches`, never both
// (the two writes are one batch). Pure.

import type {
  CertSummary,
  FetchCounts,
  FetchReport,
  IssuerHealth,
  LedgerHead,
} from "./ledger-types.ts";

export type { FetchCounts } from "./ledger-types.ts";

/** The key of the row holding the fetches of certificate rows that went, per issuer. */
export const RETIRED_FETCHES = "retiredFetches";

export type RetiredFetches = Record<string, FetchCounts>;

const none = (): FetchCounts => ({ fetches: 0, errors: 0, rejections: 0, latencyMsSum: 0 });

/** A certificate's counts after one more fetch. */
export function countFetch(
  prev: FetchCounts | undefined,
  r: Pick<FetchReport, "ok" | "rejectReason" | "ms">,
): FetchCounts {
  const c = { ...(prev ?? none()) };
  c.fetches += 1;
  c.latencyMsSum += r.ms;
  if (!r.ok) {
    if (r.rejectReason) c.rejections += 1;
    else c.errors += 1;
  }
  return c;
}

/** Adds `c` to `issuerId`'s counts in `into`. */
export function addCounts(into: RetiredFetches, issuerId: string, c: FetchCounts): void {
  const t = (into[issuerId] ??= none());
  t.fetches += c.fetches;
  t.errors += c.errors;
  t.rejections += c.rejections;
  t.latencyMsSum += c.latencyMsSum;
}

/**
 * What one pass over the certificate rows adds to the ledger's head: each issuer's fetches and
 * its last success. Fed the rows the pass keeps (`add`) and those it prunes (`gone`, which are
 * also in what it writes to `retiredFetches`).
 */
export class FetchTotals {
  private readonly counts: RetiredFetches = {};
  private readonly lastSuccess = new Map<string, number>();

  add(cert: CertSummary): void {
    if (cert.fetched) addCounts(this.counts, cert.issuerId, cert.fetched);
    const at = cert.lastSuccessAt;
    if (at !== undefined && at > (this.lastSuccess.get(cert.issuerId) ?? -Infinity))
      this.lastSuccess.set(cert.issuerId, at);
  }

  /**
   * The head as the pages show it: the counters with each issuer's `upstream_*` series (what the
   * counters row held before fetches were counted in rows, plus retired and listed rows), and each
   * issuer's health with its fetches and last success.
   */
  apply(head: LedgerHead, retired: RetiredFetches): LedgerHead {
    const all: RetiredFetches = {};
    for (const [id, c] of Object.entries(retired)) addCounts(all, id, c);
    for (const [id, c] of Object.entries(this.counts)) addCounts(all, id, c);
    const counters = { ...head.counters };
    const plus = (series: string, n: number) => {
      if (n !== 0) counters[series] = (counters[series] ?? 0) + n;
    };
    for (const [id, c] of Object.entries(all)) {
      const ok = c.fetches - c.errors - c.rejections;
      plus(`upstream_fetches_total{issuer="${id}",result="ok"}`, ok);
      plus(`upstream_fetches_total{issuer="${id}",result="error"}`, c.errors);
      plus(`upstream_fetches_total{issuer="${id}",result="rejected"}`, c.rejections);
      plus(`upstream_latency_seconds_sum{issuer="${id}"}`, c.latencyMsSum / 1000);
      plus(`upstream_latency_seconds_count{issuer="${id}"}`, c.fetches);
    }
    const issuers = head.issuers.map((h): IssuerHealth => {
      const c = all[h.issuerId];
      const seen = this.lastSuccess.get(h.issuerId);
      return {
        ...h,
        ...(c
          ? {
              fetches: h.fetches + c.fetches,
              errors: h.errors + c.errors,
              rejections: h.rejections + c.rejections,
              latencyMsSum: h.latencyMsSum + c.latencyMsSum,
            }
          : {}),
        ...(seen !== undefined && seen > (h.lastSuccessAt ?? -Infinity)
          ? { lastSuccessAt: seen }
          : {}),
      };
    });
    return { ...head, counters, issuers };
  }
}
