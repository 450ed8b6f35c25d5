// How the fleet ledger counts CA fetches without a row written per fetch beyond the certificate's
// own: each certificate row carries its fetches (`CertSummary.fetched`), a row that goes (its owner
// forgot it, or it was pruned) first adds them to the one `retiredFetches` row, and /metrics and
// /status add the rows up in the pass they make anyway. So a fetch writes one ledger row (its
// certificate's) where it wrote three (counters, the issuer's health, the certificate), and each
// count is exact: a fetch is in its row until the row goes, then in `retiredFetches`, never both
// (the two writes are one batch, and the ledger runs a pass, a report or a prune one at a time:
// fleet/ledger-do.ts). Pure.

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

/** An issuer's fetches: all of them (`upstream_fetches_total`), and those its health shows. */
export interface IssuerFetches extends FetchCounts {
  /**
   * Those made for certificates the operator registered or the CA vouched for (`judged` in their
   * rows): the issuers' table on /status, never swayed by made-up serials.
   */
  judged: FetchCounts;
  /** The latest success among those. */
  lastSuccessAt?: number;
}

export type RetiredFetches = Record<string, IssuerFetches>;

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

function add(into: FetchCounts, c: FetchCounts): void {
  into.fetches += c.fetches;
  into.errors += c.errors;
  into.rejections += c.rejections;
  into.latencyMsSum += c.latencyMsSum;
}

function merge(into: RetiredFetches, issuerId: string, c: IssuerFetches): void {
  const t = (into[issuerId] ??= { ...none(), judged: none() });
  add(t, c);
  add(t.judged, c.judged ?? none());
  if (c.lastSuccessAt !== undefined && c.lastSuccessAt > (t.lastSuccessAt ?? -Infinity))
    t.lastSuccessAt = c.lastSuccessAt;
}

/**
 * Adds a certificate row's fetches to its issuer's in `into`. Rows without `fetched` count
 * nothing: a CRL's (its fetches are counted in the issuer's health), or one stored before rows
 * counted fetches (those are in the counters row).
 */
export function addRow(into: RetiredFetches, cert: CertSummary): void {
  if (!cert.fetched) return;
  merge(into, cert.issuerId, {
    ...cert.fetched,
    judged: cert.judged ?? none(),
    ...(cert.judged && cert.lastSuccessAt !== undefined
      ? { lastSuccessAt: cert.lastSuccessAt }
      : {}),
  });
}

/** What one pass over the certificate rows adds to the ledger's head (fed the rows it keeps). */
export class FetchTotals {
  private readonly rows: RetiredFetches = {};

  add(cert: CertSummary): void {
    addRow(this.rows, cert);
  }

  /**
   * The head as the pages show it: the counters with each issuer's `upstream_*` series (what the
   * counters row held before fetches were counted in rows, plus retired and listed rows), and each
   * issuer's health with its registered certificates' fetches and their last success.
   */
  apply(head: LedgerHead, retired: RetiredFetches): LedgerHead {
    const all: RetiredFetches = {};
    for (const [id, c] of Object.entries(retired)) merge(all, id, c);
    for (const [id, c] of Object.entries(this.rows)) merge(all, id, c);
    const counters = { ...head.counters };
    const plus = (series: string, n: number) => {
      if (n !== 0) counters[series] = (counters[series] ?? 0) + n;
    };
    for (const [id, c] of Object.entries(all)) {
      plus(
        `upstream_fetches_total{issuer="${id}",result="ok"}`,
        c.fetches - c.errors - c.rejections,
      );
      plus(`upstream_fetches_total{issuer="${id}",result="error"}`, c.errors);
      plus(`upstream_fetches_total{issuer="${id}",result="rejected"}`, c.rejections);
      plus(`upstream_latency_seconds_sum{issuer="${id}"}`, c.latencyMsSum / 1000);
      plus(`upstream_latency_seconds_count{issuer="${id}"}`, c.fetches);
    }
    const issuers = head.issuers.map((h): IssuerHealth => {
      const c = all[h.issuerId];
      if (!c) return h;
      const shown = { ...h };
      shown.fetches += c.judged.fetches;
      shown.errors += c.judged.errors;
      shown.rejections += c.judged.rejections;
      shown.latencyMsSum += c.judged.latencyMsSum;
      if (c.lastSuccessAt !== undefined && c.lastSuccessAt > (h.lastSuccessAt ?? -Infinity))
        shown.lastSuccessAt = c.lastSuccessAt;
      return shown;
    });
    return { ...head, counters, issuers };
  }
}
