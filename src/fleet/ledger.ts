// The fleet ledger: one place that knows what the relay holds across all isolates and owners.
// Certificate owners report every fetch and each certificate they let go (ended, idle, unpinned);
// isolates send their request counters every few seconds. It serves /metrics and /status, and
// sends the alert webhook (ledger-alerts.ts). Clock and sender are injected; the rows themselves:
// ledger-rows.ts; how fetches are counted in them: ledger-totals.ts.

import type { CrlReport } from "./crl-types.ts";
import type {
  CertificateVisitor,
  CertSummary,
  FailureEntry,
  FetchReport,
  IssuerHealth,
  LedgerDeps,
  LedgerHead,
  LedgerSnapshot,
  LedgerView,
  OwnerReport,
  RetireReport,
} from "./ledger-types.ts";
import { LedgerAlerts } from "./ledger-alerts.ts";
import { certificateRow, prunable, retiredRow } from "./ledger-rows.ts";
import { Turns } from "./ledger-turns.ts";
import { addRow, FetchTotals, RETIRED_FETCHES, type RetiredFetches } from "./ledger-totals.ts";

export * from "./ledger-types.ts";
export { LEDGER_BUSY, MAX_WAITING_PASSES } from "./ledger-turns.ts";
export { atRisk, servedUntil } from "./ledger-rows.ts";

const MAX_FAILURES_KEPT = 50;
/** Rows read per storage call: a pass over 100 000 certificates holds one batch at a time. */
export const LIST_BATCH = 1000;

export class LedgerLogic {
  private readonly alerts: LedgerAlerts;

  /** Reports, passes and prunes run one at a time (fleet/ledger-turns.ts). */
  private readonly turns = new Turns();

  constructor(private readonly deps: LedgerDeps) {
    this.alerts = new LedgerAlerts(deps, (deltas) => this.addCounters(deltas));
  }

  /** Counters (one row of their own, read and written with no await between) need no turn. */
  async addCounters(deltas: Record<string, number>): Promise<void> {
    const counters = (await this.deps.storage.get<Record<string, number>>("counters")) ?? {};
    for (const [k, v] of Object.entries(deltas)) counters[k] = (counters[k] ?? 0) + v;
    await this.deps.storage.put("counters", counters);
  }

  /** What a certificate's owner reports: a fetch, or that it let the certificate go. */
  report(r: OwnerReport): Promise<void> {
    return this.turns.next(() => ("retired" in r ? this.retireRow(r) : this.recordFetch(r)));
  }

  retire(r: RetireReport): Promise<void> {
    return this.turns.next(() => this.retireRow(r));
  }

  reportFetch(r: FetchReport): Promise<void> {
    return this.turns.next(() => this.recordFetch(r));
  }

  reportCrl(r: CrlReport): Promise<void> {
    return this.turns.next(() => this.recordCrl(r));
  }

  /**
   * An owner let a certificate go: forgotten (its notAfter passed, or idle), its row goes now
   * rather than 7 days after its answer expires; unpinned, its row says so (no longer at risk).
   * A row the ledger never had costs one read.
   */
  private async retireRow(r: RetireReport): Promise<void> {
    const { storage } = this.deps;
    const key = `cert:${r.certIdKey}`;
    const cert = await storage.get<CertSummary>(key);
    if (!cert) return;
    const row = retiredRow(cert, r);
    if (row) await storage.put(key, row);
    else await this.drop([[key, cert]]);
  }

  /**
   * Deletes certificate rows, their fetches added to `retiredFetches` in the same batch of writes
   * (made with no await between them, a Durable Object commits them together): a fetch is counted
   * in its row or in `retiredFetches`, never both nor neither.
   */
  private async drop(rows: [string, CertSummary][]): Promise<void> {
    const { storage } = this.deps;
    const counted = rows.filter(([, c]) => c.fetched);
    const writes: Promise<unknown>[] = [];
    if (counted.length > 0) {
      const retired = (await storage.get<RetiredFetches>(RETIRED_FETCHES)) ?? {};
      for (const [, c] of counted) addRow(retired, c);
      writes.push(storage.put(RETIRED_FETCHES, retired));
    }
    for (const [key] of rows) writes.push(storage.delete(key));
    await Promise.all(writes);
  }

  /**
   * A fetch: one row written, its certificate's, which counts it (the `upstream_*` series are sums
   * over the rows: fleet/ledger-totals.ts); the counters row only for what is rare (a refused
   * answer, a GET refused), the issuer's health only when its verdict changes.
   */
  private async recordFetch(r: FetchReport): Promise<void> {
    const rare: Record<string, number> = {};
    if (r.rejectReason) rare[`verification_rejections_total{reason="${r.rejectReason}"}`] = 1;
    if (r.getFallback) rare[`upstream_get_fallbacks_total{issuer="${r.issuerId}"}`] = 1;
    if (Object.keys(rare).length > 0) await this.addCounters(rare);
    // A responder's health is judged on certificates the operator registered or the CA vouched
    // for, never on guesses: anyone can make up a serial, or encode one in a way the CA refuses.
    const health =
      r.pinned || r.vouched ? await this.updateHealth(r, false) : await this.health(r.issuerId);
    await this.recordCertificate(r, health);
  }

  private health(issuerId: string): Promise<IssuerHealth | undefined> {
    return this.deps.storage.get<IssuerHealth>(`issuer:${issuerId}`);
  }

  /**
   * A CRL owner's fetch: counted, the issuer's health (a CRL that fails is a failing responder),
   * and the status in the CRL now held of every certificate /check asked about (their rows on
   * /status, the revocation and Must-Staple alerts).
   */
  private async recordCrl(r: CrlReport): Promise<void> {
    const result = r.ok ? "ok" : r.rejectReason ? "rejected" : "error";
    await this.addCounters({
      [`crl_fetches_total{issuer="${r.issuerId}",result="${result}"}`]: 1,
      ...(r.rejectReason ? { [`crl_rejections_total{reason="${r.rejectReason}"}`]: 1 } : {}),
    });
    const fetch = {
      issuerId: r.issuerId,
      issuerSubject: r.issuerSubject,
      responderUrl: r.url,
      at: r.at,
      ms: r.ms,
      ok: r.ok,
      failures: r.failures,
      pinned: true,
      ...(r.error !== undefined ? { error: r.error } : {}),
      ...(r.rejectReason !== undefined ? { rejectReason: r.rejectReason } : {}),
    };
    const health = await this.updateHealth(fetch, true);
    if (r.certificates.length === 0) {
      await this.alerts.responder(fetch, health);
    }
    for (const c of r.certificates) {
      await this.recordCertificate(
        {
          ...fetch,
          // Each certificate's row carries the CRL's verdict, held or new.
          ok: r.crl !== undefined,
          certIdKey: `crl:${r.issuerId}:${c.serial}`,
          serial: c.serial,
          subject: c.subject,
          mustStaple: c.mustStaple,
          revocationSource: "crl",
          status: c.status,
          ...(c.revocationTime !== undefined ? { revocationTime: c.revocationTime } : {}),
          ...(c.revocationReason !== undefined ? { revocationReason: c.revocationReason } : {}),
          ...(r.crl
            ? {
                thisUpdate: r.crl.thisUpdate,
                nextUpdate: r.crl.nextUpdate,
                serveUntil: r.crl.nextUpdate,
                ...(!r.ok ? { heldNextUpdate: r.crl.nextUpdate } : {}),
              }
            : {}),
        },
        health,
      );
    }
  }

  /**
   * The issuer's verdict after a fetch, stored only when it changed (a failure, a recovery, its
   * first success, a new responder URL): a success like the last costs no row. `count`: the fetch
   * is counted here (a CRL's; an OCSP fetch is counted in its certificate's row).
   */
  private async updateHealth(
    r: Pick<
      FetchReport,
      "issuerId" | "issuerSubject" | "responderUrl" | "at" | "ms" | "ok" | "rejectReason" | "error"
    >,
    count: boolean,
  ): Promise<IssuerHealth> {
    const { storage } = this.deps;
    const stored = await storage.get<IssuerHealth>(`issuer:${r.issuerId}`);
    const before = JSON.stringify(stored);
    const health: IssuerHealth = stored ?? {
      issuerId: r.issuerId,
      subject: r.issuerSubject,
      responderUrl: r.responderUrl,
      fetches: 0,
      errors: 0,
      rejections: 0,
      latencyMsSum: 0,
      consecutiveFailures: 0,
    };
    health.subject = r.issuerSubject;
    health.responderUrl = r.responderUrl;
    if (count) {
      health.fetches += 1;
      health.latencyMsSum += r.ms;
      if (!r.ok) {
        health.errors += r.rejectReason ? 0 : 1;
        health.rejections += r.rejectReason ? 1 : 0;
      }
    }
    if (r.ok) {
      // The pages show the last success of its rows (FetchTotals); stored: the first, and each
      // recovery (the responder alert's dedupe key: once per run of failures).
      if (count || health.consecutiveFailures > 0 || health.lastSuccessAt === undefined)
        health.lastSuccessAt = r.at;
      health.consecutiveFailures = 0;
    } else {
      health.consecutiveFailures += 1;
      health.lastFailureAt = r.at;
      health.lastError = r.error;
    }
    if (JSON.stringify(health) !== before) await storage.put(`issuer:${r.issuerId}`, health);
    return health;
  }

  private async recordCertificate(r: FetchReport, health: IssuerHealth | undefined): Promise<void> {
    const { storage } = this.deps;
    const cert = certificateRow(r, await storage.get<CertSummary>(`cert:${r.certIdKey}`));
    if (!r.ok) await this.recordFailure(r, cert.lastError!);
    await storage.put(`cert:${r.certIdKey}`, cert);

    await this.alerts.certificate(r, cert, health);
  }

  private async recordFailure(r: FetchReport, error: string): Promise<void> {
    const failures = (await this.deps.storage.get<FailureEntry[]>("failures")) ?? [];
    failures.unshift({
      at: r.at,
      certIdKey: r.certIdKey,
      issuerId: r.issuerId,
      serial: r.serial,
      error,
    });
    await this.deps.storage.put("failures", failures.slice(0, MAX_FAILURES_KEPT));
  }

  /**
   * The counters, each issuer's health and the recent failures: a few rows, read whole, with the
   * fetches a pass over the certificate rows counted (`totals`) added.
   */
  private async head(totals: FetchTotals): Promise<LedgerHead> {
    const { storage } = this.deps;
    const issuers: IssuerHealth[] = [];
    for await (const batch of this.rows<IssuerHealth>("issuer:"))
      for (const [, health] of batch) issuers.push(health);
    const head = {
      counters: (await storage.get<Record<string, number>>("counters")) ?? {},
      issuers,
      failures: (await storage.get<FailureEntry[]>("failures")) ?? [],
    };
    return totals.apply(head, (await storage.get<RetiredFetches>(RETIRED_FETCHES)) ?? {});
  }

  /**
   * Everything, every certificate row in one array: for tests and small fleets. /metrics and
   * /status read `view` instead, which keeps only what they show.
   */
  snapshot(pruneOlderThanMs?: number): Promise<LedgerSnapshot> {
    return this.turns.pass(() => this.takeSnapshot(pruneOlderThanMs));
  }

  private async takeSnapshot(pruneOlderThanMs?: number): Promise<LedgerSnapshot> {
    const certs: CertSummary[] = [];
    const totals = new FetchTotals();
    const add = (cert: CertSummary) => {
      totals.add(cert);
      certs.push(cert);
    };
    // The pass first: the rows it prunes are in `retiredFetches` when the head is read.
    await this.eachCertificate({ add }, pruneOlderThanMs);
    const { counters, issuers, failures } = await this.head(totals);
    return { counters, issuers, certs, failures };
  }

  /**
   * The head and a pass over the certificate rows fed to `digest` (what a page keeps of them),
   * pruning on the way, and another (not pruning) each time the digest asks for one: linear in
   * the rows, holding one batch of them and the digest at a time.
   */
  view<R>(
    digest: CertificateVisitor & { result(): R },
    pruneOlderThanMs?: number,
  ): Promise<LedgerView<R>> {
    return this.turns.pass(() => this.pass(digest, pruneOlderThanMs));
  }

  private async pass<R>(
    digest: CertificateVisitor & { result(): R },
    pruneOlderThanMs?: number,
  ): Promise<LedgerView<R>> {
    const totals = new FetchTotals();
    const add = (cert: CertSummary) => {
      totals.add(cert);
      digest.add(cert);
    };
    // The first pass before the head: the rows it prunes are in `retiredFetches` when it is read.
    await this.eachCertificate({ add }, pruneOlderThanMs);
    while (digest.again?.()) await this.eachCertificate(digest);
    return { ...(await this.head(totals)), certificates: digest.result() };
  }

  /**
   * Each certificate row in key order, a batch at a time, given to `visitor`. With
   * `pruneOlderThanMs`, the rows `prune` forgets are deleted on the way instead of given.
   */
  async eachCertificate(visitor: CertificateVisitor, pruneOlderThanMs?: number): Promise<void> {
    const now = this.deps.now();
    for await (const batch of this.rows<CertSummary>("cert:")) {
      const gone: [string, CertSummary][] = [];
      for (const [key, cert] of batch) {
        if (pruneOlderThanMs !== undefined && prunable(cert, now, pruneOlderThanMs))
          gone.push([key, cert]);
        else visitor.add(cert);
      }
      if (gone.length > 0) await this.drop(gone);
    }
  }

  /** The soonest time a guessed CertID's row is to go, if any is listed. */
  nextForgetAt(): Promise<number | undefined> {
    return this.turns.next(async () => {
      let next: number | undefined;
      await this.eachCertificate({
        add(cert) {
          if (cert.forgetAt !== undefined && (next === undefined || cert.forgetAt < next))
            next = cert.forgetAt;
        },
      });
      return next;
    });
  }

  /**
   * Forgets certificates whose last answer expired more than `olderThanMs` ago, and guessed
   * CertIDs once their owner forgot them (their window is over).
   */
  prune(olderThanMs: number): Promise<void> {
    return this.turns.next(() => this.eachCertificate({ add() {} }, olderThanMs));
  }

  /**
   * The rows under `prefix` in key order, LIST_BATCH per storage call. A storage that ignores
   * `limit` or `startAfter` gives everything at once: keys already seen end the listing.
   */
  private async *rows<T>(prefix: string): AsyncGenerator<[string, T][]> {
    let after: string | undefined;
    for (;;) {
      const listed = await this.deps.storage.list<T>({
        prefix,
        limit: LIST_BATCH,
        ...(after !== undefined ? { startAfter: after } : {}),
      });
      const batch: [string, T][] = [];
      let last = after;
      for (const [key, value] of listed) {
        if (after !== undefined && key <= after) continue;
        batch.push([key, value]);
        if (last === undefined || key > last) last = key;
      }
      if (batch.length === 0) return;
      yield batch;
      if (listed.size < LIST_BATCH) return;
      after = last;
    }
  }
}
