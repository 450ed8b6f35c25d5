// FleetLedger: the singleton Durable Object (named "ledger") holding the fleet-wide view behind
// /metrics and /status, and sending alerts. A thin shell around LedgerLogic: /metrics and /status
// get what their renderers' digests keep of one pass over the rows, never every row.

import { DurableObject } from "cloudflare:workers";
import { webhookSender } from "../alerts/webhook.ts";
import { configFrom, type ConfigVars } from "../config.ts";
import { MetricsDigest } from "../metrics/prometheus.ts";
import { alarmTime, durableObjectPlatform } from "../platform.ts";
import { StatusDigest } from "../status/page.ts";
import type { CrlReport } from "./crl-owner.ts";
import {
  LedgerLogic,
  type LedgerMetrics,
  type LedgerSnapshot,
  type LedgerStatus,
  type MetricsQuery,
  type OwnerReport,
  type StatusQuery,
} from "./ledger.ts";

/** Certificates whose answer expired this long ago drop off the status page. */
const PRUNE_AFTER_MS = 7 * 24 * 60 * 60 * 1000;

export class FleetLedger extends DurableObject<ConfigVars> {
  private readonly logic: LedgerLogic;

  constructor(ctx: DurableObjectState, env: ConfigVars) {
    super(ctx, env);
    const config = configFrom(env);
    this.logic = new LedgerLogic({
      storage: ctx.storage,
      now: () => durableObjectPlatform().now(),
      sendAlert: config.alertWebhookUrl ? webhookSender(config.alertWebhookUrl) : undefined,
      alerts: config.alerts,
      background: (work) => ctx.waitUntil(work),
    });
  }

  addCounters(deltas: Record<string, number>): Promise<void> {
    return this.logic.addCounters(deltas);
  }

  /**
   * What a certificate's owner reports (fleet/durable-object.ts): a fetch, or that it let the
   * certificate go (ended, idle, unpinned: LedgerLogic.retire).
   */
  async reportFetch(report: OwnerReport): Promise<void> {
    await this.logic.report(report);
    // A guessed CertID's row goes when its owner forgets it, whether or not anyone reads /status;
    // so does an unpinned one never vouched for.
    if (report.forgetAt !== undefined) {
      const at = alarmTime(report.forgetAt);
      const set = await this.ctx.storage.getAlarm();
      if (set === null || set > at) await this.ctx.storage.setAlarm(at);
    }
  }

  reportCrl(report: CrlReport): Promise<void> {
    return this.logic.reportCrl(report);
  }

  /**
   * Every row, each certificate's included (one pass, pruning on the way): tests and small fleets.
   * About 470 bytes a certificate cross the RPC, whose 32 MiB limit 70 000 certificates reach.
   */
  snapshot(): Promise<LedgerSnapshot> {
    return this.logic.snapshot(PRUNE_AFTER_MS);
  }

  /**
   * What /metrics shows: the counters, and one pass over the certificate rows (pruning on the way)
   * kept to counts per issuer and a bounded list of series. What crosses to the caller does not
   * grow with the fleet unless every certificate's series is asked for.
   */
  metricsView(query: MetricsQuery): Promise<LedgerMetrics> {
    return this.logic.view(new MetricsDigest(query), PRUNE_AFTER_MS);
  }

  /** What /status shows: the counts, the at-risk list and one page of certificates. */
  statusView(query: StatusQuery): Promise<LedgerStatus> {
    return this.logic.view(new StatusDigest(query), PRUNE_AFTER_MS);
  }

  override async alarm(): Promise<void> {
    await this.logic.prune(PRUNE_AFTER_MS);
    // Rows of guesses still to go: the alarm comes back for the next one.
    const next = await this.logic.nextForgetAt();
    if (next !== undefined) {
      // At least a minute apart: one scan of the rows forgets every guess due by then.
      await this.ctx.storage.setAlarm(alarmTime(next, 60_000));
    }
  }
}

export function ledgerOf(env: { FLEET_LEDGER: DurableObjectNamespace<FleetLedger> }) {
  return env.FLEET_LEDGER.get(env.FLEET_LEDGER.idFromName("ledger"));
}
