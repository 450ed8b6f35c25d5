// The fleet simulator (scripts/simulate) counts what the real worker counts: one short scenario
// through the simulator's stand-ins of KV, the Cache API and Durable Objects, and through the worker
// bundled as deployed on plain workerd (BENCH_MODE's operation counts), with the same CA.

import { describe, expect, it } from "vitest";
import { agree } from "../../scripts/simulate/agree.ts";

describe("the fleet simulator", () => {
  it("counts the same billable operations as the worker on workerd", async () => {
    const r = await agree();
    // Every count the same, and the scenario did something of each kind.
    expect(r.sim).toEqual(r.workerd);
    expect(r.sim).toMatchObject({ caRequests: 11, touches: 8, ledgerFlushes: 1 });
    for (const k of ["kvReads", "kvWrites", "ownerWrites"]) expect(r.sim[k]).toBeGreaterThan(0);
  });
});
