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
};

export function resetOps(): void {
  for (const k of Object.keys(ops) as (keyof typeof ops)[]) ops[k] = 0;
}
