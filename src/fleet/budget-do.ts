// UpstreamBudget: the Durable Object holding one issuer's upstream budget (named by the issuer id),
// so that the bucket holds across isolates and locations. A thin shell around fleet/budget.ts.

import { DurableObject } from "cloudflare:workers";
import type { ConfigVars } from "../config.ts";
import { durableObjectPlatform } from "../platform.ts";
import {
  refilled,
  spend,
  type BudgetConfig,
  type BudgetSnapshot,
  type BudgetState,
} from "./budget.ts";

export class UpstreamBudget extends DurableObject<ConfigVars> {
  /** Takes one token for a first fetch; false when the issuer's budget is spent. */
  async take(config: BudgetConfig): Promise<boolean> {
    const state = await this.ctx.storage.get<BudgetState>("bucket");
    const next = spend(state, durableObjectPlatform().now(), config);
    await this.ctx.storage.put("bucket", next.state);
    return next.admitted;
  }

  async snapshot(issuerId: string, config: BudgetConfig): Promise<BudgetSnapshot> {
    const s = refilled(
      await this.ctx.storage.get<BudgetState>("bucket"),
      durableObjectPlatform().now(),
      config,
    );
    return {
      issuerId,
      tokens: Math.floor(s.tokens),
      burst: config.burst,
      perMinute: config.perMinute,
      admitted: s.admitted,
      denied: s.denied,
      ...(s.lastDeniedAt !== undefined ? { lastDeniedAt: s.lastDeniedAt } : {}),
    };
  }
}

/** The budget of one issuer. A stub belongs to the request that made it: make one per use. */
export function budgetOf(
  env: { UPSTREAM_BUDGET: DurableObjectNamespace<UpstreamBudget> },
  issuerId: string,
) {
  return env.UPSTREAM_BUDGET.get(env.UPSTREAM_BUDGET.idFromName(issuerId));
}
