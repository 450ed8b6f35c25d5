// The fleet ledger: one place that knows what the relay holds across all isolates and owners.
// Certificate owners report every fetch and each certificate they let go (ended, idle, unpinned);
// isolates send their request counters every few seconds. It serves /metrics and /status, and
// sends the alert webhook. Clock and sender are injected; the rows themselves: ledger-rows.ts.

import { log } from "../log.ts";
import type { CrlReport } from "./crl-types.ts";
import type {
  Alert,
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
import { certificateRow, prunable, retiredRow } from "./ledger-rows.ts";

export * from "./ledger-types.ts";
export { atRisk, servedUntil } from "./ledger-rows.ts";

const MAX_FAILURES_KEPT = 50;
/** Rows read per storage call: a pass over 100 000 certificates holds one batch at a time. */
export const LIST_BATCH = 1000;

export class LedgerLogic {
  constructor(private readonly deps: LedgerDeps) {}

  async addCounters(deltas: Record<string, number>): Promise<void> {
    const counters = (await this.deps.storage.get<Record<string, number>>("counters")) ?? {};
    for (const [k, v] of Object.entries(deltas)) counters[k] = (counters[k] ?? 0) + v;
    await this.deps.storage.put("counters", counters);
  }

  /** What a certificate's owner reports: a fetch, or that it let the certificate go. */
  report(r: OwnerReport): Promise<void> {
    return "retired" in r ? this.retire(r) : this.reportFetch(r);
  }

  /**
   * An owner let a certificate go: forgotten (its notAfter passed, or idle), its row goes now
   * rather than 7 days after its answer expires; unpinned, its row says so (no longer at risk).
   * A row the ledger never had costs one read.
   */
  async retire(r: RetireReport): Promise<void> {
    const { storage } = this.deps;
    const key = `cert:${r.certIdKey}`;
    const cert = await storage.get<CertSummary>(key);
    if (!cert) return;
    const row = retiredRow(cert, r);
    if (row) await storage.put(key, row);
    else await storage.delete(key);
  }

  async reportFetch(r: FetchReport): Promise<void> {
    const { storage } = this.deps;
    const counters: Record<string, number> = {};
    const result = r.ok ? "ok" : r.rejectReason ? "rejected" : "error";
    counters[`upstream_fetches_total{issuer="${r.issuerId}",result="${result}"}`] = 1;
    counters[`upstream_latency_seconds_sum{issuer="${r.issuerId}"}`] = r.ms / 1000;
    counters[`upstream_latency_seconds_count{issuer="${r.issuerId}"}`] = 1;
    if (r.rejectReason) counters[`verification_rejections_total{reason="${r.rejectReason}"}`] = 1;
    if (r.getFallback) counters[`upstream_get_fallbacks_total{issuer="${r.issuerId}"}`] = 1;
    await this.addCounters(counters);
    // A responder's health is judged on certificates the operator registered or the CA vouched
    // for, never on guesses: anyone can make up a serial, or encode one in a way the CA refuses.
    const health =
      r.pinned || r.vouched ? await this.updateHealth(r) : await this.health(r.issuerId);
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
  async reportCrl(r: CrlReport): Promise<void> {
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
    const health = await this.updateHealth(fetch);
    if (r.certificates.length === 0) {
      await this.responderAlert(fetch, health);
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

  private async updateHealth(
    r: Pick<
      FetchReport,
      "issuerId" | "issuerSubject" | "responderUrl" | "at" | "ms" | "ok" | "rejectReason" | "error"
    >,
  ): Promise<IssuerHealth> {
    const { storage } = this.deps;
    const health = (await storage.get<IssuerHealth>(`issuer:${r.issuerId}`)) ?? {
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
    health.fetches += 1;
    health.latencyMsSum += r.ms;
    if (r.ok) {
      health.consecutiveFailures = 0;
      health.lastSuccessAt = r.at;
    } else {
      health.errors += r.rejectReason ? 0 : 1;
      health.rejections += r.rejectReason ? 1 : 0;
      health.consecutiveFailures += 1;
      health.lastFailureAt = r.at;
      health.lastError = r.error;
    }
    await storage.put(`issuer:${r.issuerId}`, health);
    return health;
  }

  private async recordCertificate(r: FetchReport, health: IssuerHealth | undefined): Promise<void> {
    const { storage } = this.deps;
    const cert = certificateRow(r, await storage.get<CertSummary>(`cert:${r.certIdKey}`));
    if (!r.ok) await this.recordFailure(r, cert.lastError!);
    await storage.put(`cert:${r.certIdKey}`, cert);

    await this.alertsFor(r, cert, health);
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

  /** The counters, each issuer's health and the recent failures: a few rows, read whole. */
  async head(): Promise<LedgerHead> {
    const { storage } = this.deps;
    const issuers: IssuerHealth[] = [];
    for await (const batch of this.rows<IssuerHealth>("issuer:"))
      for (const [, health] of batch) issuers.push(health);
    return {
      counters: (await storage.get<Record<string, number>>("counters")) ?? {},
      issuers,
      failures: (await storage.get<FailureEntry[]>("failures")) ?? [],
    };
  }

  /**
   * Everything, every certificate row in one array: for tests and small fleets. /metrics and
   * /status read `view` instead, which keeps only what they show.
   */
  async snapshot(pruneOlderThanMs?: number): Promise<LedgerSnapshot> {
    const certs: CertSummary[] = [];
    const { counters, issuers, failures } = await this.head();
    await this.eachCertificate({ add: (cert) => certs.push(cert) }, pruneOlderThanMs);
    return { counters, issuers, certs, failures };
  }

  /**
   * The head and a pass over the certificate rows fed to `digest` (what a page keeps of them),
   * pruning on the way, and another (not pruning) each time the digest asks for one: linear in
   * the rows, holding one batch of them and the digest at a time.
   */
  async view<R>(
    digest: CertificateVisitor & { result(): R },
    pruneOlderThanMs?: number,
  ): Promise<LedgerView<R>> {
    const head = await this.head();
    await this.eachCertificate(digest, pruneOlderThanMs);
    while (digest.again?.()) await this.eachCertificate(digest);
    return { ...head, certificates: digest.result() };
  }

  /**
   * Each certificate row in key order, a batch at a time, given to `visitor`. With
   * `pruneOlderThanMs`, the rows `prune` forgets are deleted on the way instead of given.
   */
  async eachCertificate(visitor: CertificateVisitor, pruneOlderThanMs?: number): Promise<void> {
    const now = this.deps.now();
    for await (const batch of this.rows<CertSummary>("cert:")) {
      for (const [key, cert] of batch) {
        if (pruneOlderThanMs !== undefined && prunable(cert, now, pruneOlderThanMs))
          await this.deps.storage.delete(key);
        else visitor.add(cert);
      }
    }
  }

  /** The soonest time a guessed CertID's row is to go, if any is listed. */
  async nextForgetAt(): Promise<number | undefined> {
    let next: number | undefined;
    await this.eachCertificate({
      add(cert) {
        if (cert.forgetAt !== undefined && (next === undefined || cert.forgetAt < next))
          next = cert.forgetAt;
      },
    });
    return next;
  }

  /**
   * Forgets certificates whose last answer expired more than `olderThanMs` ago, and guessed
   * CertIDs once their owner forgot them (their window is over).
   */
  async prune(olderThanMs: number): Promise<void> {
    await this.eachCertificate({ add() {} }, olderThanMs);
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

  private async alertsFor(r: FetchReport, cert: CertSummary, health: IssuerHealth | undefined) {
    const at = new Date(r.at).toISOString();
    const who = {
      certIdKey: r.certIdKey,
      issuerId: r.issuerId,
      serial: r.serial,
      subject: cert.subject ?? null,
    };
    // Only what the operator registered alerts (a pinned certificate, or one an authenticated
    // caller checked): anyone may ask about a revoked certificate. The dedupe key makes it once per
    // certificate (whatever CertID hash it was asked with); a delivery that failed is tried again
    // with the next report.
    const registered = r.pinned || Boolean(r.watched);
    if (registered && r.ok && r.status === "revoked") {
      await this.send(`revoked:${r.issuerId}:${r.serial}`, {
        kind: "certificate.revoked",
        at,
        message: `certificate ${cert.subject ?? r.serial} is revoked${r.revocationReason ? ` (${r.revocationReason})` : ""}`,
        ...who,
        revocationTime: r.revocationTime ? new Date(r.revocationTime).toISOString() : null,
        revocationReason: r.revocationReason ?? null,
      });
    }
    if (registered && !r.ok && cert.mustStaple) {
      const left = r.heldNextUpdate === undefined ? 0 : r.heldNextUpdate - r.at;
      if (left < this.deps.alerts.mustStapleMarginMs) {
        await this.send(
          `mustStaple:${r.certIdKey}:${r.heldNextUpdate ?? `none-since-${cert.lastSuccessAt ?? 0}`}`,
          {
            kind: "mustStaple.atRisk",
            at,
            message: `Must-Staple certificate ${cert.subject ?? r.serial}: ${r.heldNextUpdate === undefined ? "no valid answer" : `answer expires in ${Math.round(left / 1000)} s`} and refresh is failing: ${r.error}`,
            ...who,
            nextUpdate: r.heldNextUpdate ? new Date(r.heldNextUpdate).toISOString() : null,
            lastError: r.error ?? null,
          },
        );
      }
    }
    if (health) await this.responderAlert(r, health);
  }

  private async responderAlert(
    r: Pick<FetchReport, "issuerId" | "at" | "error">,
    health: IssuerHealth,
  ): Promise<void> {
    const at = new Date(r.at).toISOString();
    if (health.consecutiveFailures >= this.deps.alerts.responderFailures) {
      await this.send(`responder:${r.issuerId}:${health.lastSuccessAt ?? 0}`, {
        kind: "responder.failing",
        at,
        message: `responder ${health.responderUrl} for ${health.subject} failed ${health.consecutiveFailures} times in a row: ${r.error}`,
        issuerId: r.issuerId,
        responderUrl: health.responderUrl,
        consecutiveFailures: health.consecutiveFailures,
        lastError: r.error ?? null,
      });
    }
  }

  /** Sends an alert once per dedupe key. */
  private async send(dedupe: string, alert: Alert): Promise<void> {
    log("alert", { kind: alert.kind, message: alert.message });
    if (!this.deps.sendAlert) return;
    if (await this.deps.storage.get<number>(`alert:${dedupe}`)) return;
    await this.deps.storage.put(`alert:${dedupe}`, this.deps.now());
    // Delivered after the report returns: an owner (and the client behind it) never waits on it.
    const delivery = this.deps.sendAlert(alert).then(
      () => this.addCounters({ [`alerts_sent_total{kind="${alert.kind}"}`]: 1 }),
      async (e: unknown) => {
        log("alert.failed", {
          kind: alert.kind,
          detail: e instanceof Error ? e.message : String(e),
        });
        await this.deps.storage.delete(`alert:${dedupe}`); // not delivered: the next report retries
      },
    );
    if (this.deps.background) this.deps.background(delivery);
  }
}
