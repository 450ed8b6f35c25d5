// The fleet ledger's alerts (fleet/ledger.ts): a registered certificate revoked, a Must-Staple one
// at risk, a responder failing; each sent once per dedupe key, after the report returns.

import { log } from "../log.ts";
import type { Alert, CertSummary, FetchReport, IssuerHealth, LedgerDeps } from "./ledger-types.ts";

export class LedgerAlerts {
  constructor(
    private readonly deps: LedgerDeps,
    private readonly addCounters: (deltas: Record<string, number>) => Promise<void>,
  ) {}

  async certificate(r: FetchReport, cert: CertSummary, health: IssuerHealth | undefined) {
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
    if (health) await this.responder(r, health);
  }

  async responder(
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
