// Request counters kept in isolate memory and sent to the fleet ledger every FLUSH_INTERVAL_MS
// (after a response, never on its path), so /metrics sums every isolate. What an isolate counted
// since its last flush is lost if the isolate is evicted first: at most 10 s of its traffic.

export const FLUSH_INTERVAL_MS = 10_000;

export class Counters {
  private deltas = new Map<string, number>();
  private lastFlush = 0;

  /** Hits of the hot path, a plain integer there; folded into their series when taken. */
  private memoryHits = 0;

  inc(series: string, by = 1): void {
    this.deltas.set(series, (this.deltas.get(series) ?? 0) + by);
  }

  incMemoryHit(): void {
    this.memoryHits++;
  }

  /** Whether a flush is due (something counted, and the interval passed). */
  due(now: number): boolean {
    return (
      (this.memoryHits > 0 || this.deltas.size > 0) && now - this.lastFlush >= FLUSH_INTERVAL_MS
    );
  }

  /** Takes everything counted so far; `restore` puts it back if sending failed. */
  take(now: number): { deltas: Record<string, number>; restore: () => void } {
    if (this.memoryHits > 0) this.inc(REQUEST_SERIES.hit.memory, this.memoryHits);
    this.memoryHits = 0;
    const taken = this.deltas;
    this.deltas = new Map();
    this.lastFlush = now;
    return {
      deltas: Object.fromEntries(taken),
      restore: () => {
        for (const [k, v] of taken) this.inc(k, v);
      },
    };
  }
}

/** The series of the OCSP endpoint's outcomes (built once: the hot path only looks them up). */
export const REQUEST_SERIES = {
  hit: {
    memory: 'requests_total{outcome="hit",tier="memory"}',
    edge: 'requests_total{outcome="hit",tier="edge"}',
    kv: 'requests_total{outcome="hit",tier="kv"}',
    owner: 'requests_total{outcome="hit",tier="owner"}',
    upstream: 'requests_total{outcome="miss",tier="upstream"}',
  },
  error: {
    malformed: 'requests_total{outcome="malformed",tier="none"}',
    tooLarge: 'requests_total{outcome="malformed",tier="none"}',
    unauthorized: 'requests_total{outcome="unauthorized",tier="none"}',
    tryLater: 'requests_total{outcome="try_later",tier="none"}',
    internal: 'requests_total{outcome="internal_error",tier="none"}',
    // Not produced on the OCSP endpoint; named for the mapping to be total.
    notFound: 'requests_total{outcome="malformed",tier="none"}',
    methodNotAllowed: 'requests_total{outcome="malformed",tier="none"}',
    unauthenticated: 'requests_total{outcome="unauthorized",tier="none"}',
    forbidden: 'requests_total{outcome="unauthorized",tier="none"}',
  },
} as const;
