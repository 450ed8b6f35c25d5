// Operation counts of this isolate, for the benchmark's cost-per-request figures (BENCH_MODE):
// storage and crypto operations counted where they happen, not estimated. Plain integer adds,
// always on; exposed only when BENCH_MODE=true (GET /__bench/ops).

export const ops = {
  requests: 0,
  /** Requests answered by the hot path (Relay.remembered), before routing. */
  hotPathHits: 0,
  kvReads: 0,
  kvWrites: 0,
  cacheReads: 0,
  cacheWrites: 0,
  ownerCalls: 0,
  /** Owners asked what they hold (GET /check, POST /check), never the CA. */
  ownerInspections: 0,
  upstreamFetches: 0,
  verifications: 0,
  /** Owners told a client still asks (sources/touch.ts), one Durable Object request each. */
  touches: 0,
  /** Counter flushes sent to the fleet ledger (metrics/counters.ts), one request each. */
  ledgerFlushes: 0,
  /**
   * Rows the certificate owners wrote (a storage put, an alarm set, a delete-all): counted where
   * they run, which is this isolate in plain workerd and wrangler dev.
   */
  ownerWrites: 0,
};

export function resetOps(): void {
  for (const k of Object.keys(ops) as (keyof typeof ops)[]) ops[k] = 0;
}
