// The upstream budget: a token bucket per issuer, spent by first fetches of certificates nobody
// pinned, so that anonymous requests for made-up serials cannot turn the relay into a flood at the
// CA. Pinned certificates and refreshes of answers already held never spend from it. Pure: the
// state and `now` are arguments (the UpstreamBudget Durable Object holds one per issuer).

export interface BudgetConfig {
  /** Tokens when full: first fetches allowed at once. */
  burst: number;
  /** Tokens added per minute, up to `burst`. */
  perMinute: number;
}

/**
 * 40 at once and one a second after that: 200 made-up serials in 10 s reach the CA at most 50
 * times; a fleet whose certificates are registered (pinned) never meets it.
 */
export const DEFAULT_BUDGET: BudgetConfig = { burst: 40, perMinute: 60 };

export interface BudgetState {
  tokens: number;
  /** When `tokens` was last computed (epoch ms). */
  at: number;
  admitted: number;
  denied: number;
  lastDeniedAt?: number;
}

/** The bucket at `now`: refilled since `state.at`, at most `burst` (a full bucket when new). */
export function refilled(
  state: BudgetState | undefined,
  now: number,
  c: BudgetConfig,
): BudgetState {
  if (!state) return { tokens: c.burst, at: now, admitted: 0, denied: 0 };
  const elapsed = Math.max(0, now - state.at);
  return {
    ...state,
    tokens: Math.min(c.burst, state.tokens + (elapsed * c.perMinute) / 60_000),
    at: Math.max(now, state.at),
  };
}

/** Takes one token if there is one: the new state, and whether the fetch may go ahead. */
export function spend(
  state: BudgetState | undefined,
  now: number,
  c: BudgetConfig,
): { state: BudgetState; admitted: boolean } {
  const s = refilled(state, now, c);
  // Refills add fractions of a token; ten tenths must make one (floating point makes 0.999…).
  if (s.tokens >= 1 - 1e-9)
    return { state: { ...s, tokens: s.tokens - 1, admitted: s.admitted + 1 }, admitted: true };
  return { state: { ...s, denied: s.denied + 1, lastDeniedAt: now }, admitted: false };
}

/** What /metrics and /status show of one issuer's budget. */
export interface BudgetSnapshot {
  issuerId: string;
  tokens: number;
  burst: number;
  perMinute: number;
  admitted: number;
  denied: number;
  lastDeniedAt?: number;
}
