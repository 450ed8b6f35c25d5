// The certificate's owner: the CertOwner Durable Object for this CertID, which alone fetches from
// the CA (fleet/owner.ts). Concurrent misses in this isolate share one call to it.

import type { CertOwner } from "../fleet/durable-object.ts";
import { ok, type Result } from "../errors.ts";
import type { OwnerAnswer, OwnerPolicy, OwnerRequest } from "../fleet/owner.ts";
import { served, type Lookup, type Served, type Source, type TierInfo } from "./source.ts";
import { ops } from "../instrumentation.ts";

/** What the owner held (its storage): not a copy, the owner saw the request. */
export const OWNER_TIER: TierInfo = { name: "owner", cached: false };
/** What the owner fetched from the CA for this request: a miss. */
export const UPSTREAM_TIER: TierInfo = { name: "upstream", cached: false, fetched: true };

export class OwnerSource implements Source {
  private readonly inflight = new Map<string, Promise<Result<Served>>>();

  constructor(
    private readonly owners: DurableObjectNamespace<CertOwner>,
    /** The worker's policy for unpinned certificates, sent with every request to an owner. */
    private readonly policy: OwnerPolicy,
  ) {}

  get(lookup: Lookup): Promise<Result<Served>> {
    let pending = this.inflight.get(lookup.key);
    if (!pending) {
      pending = this.ask(lookup).finally(() => this.inflight.delete(lookup.key));
      this.inflight.set(lookup.key, pending);
    }
    return pending;
  }

  /** What the owner holds (the CA is not asked). */
  async inspect(lookup: Lookup): Promise<Served | undefined> {
    if (lookup.cachedOnly) return undefined;
    const { answer } = await this.inspectOwner(lookup.key);
    return answer ? served(OWNER_TIER, answer) : undefined;
  }

  /** The owner's state and answer, as it keeps them. */
  inspectOwner(key: string) {
    ops.ownerInspections++;
    return this.stub(key).inspect();
  }

  /** Tells the owner a client asked (keeps the certificate's refresh going). */
  touch(lookup: Pick<Lookup, "key" | "certId" | "issuer" | "leaf" | "watch">): Promise<void> {
    return this.stub(lookup.key).touch(ownerRequest(lookup, false, this.policy));
  }

  /** Pins a certificate (admin API) and gets its answer, fetched now unless the owner holds one. */
  pin(lookup: Pick<Lookup, "key" | "certId" | "issuer" | "leaf">): Promise<Result<OwnerAnswer>> {
    return this.stub(lookup.key).answer(ownerRequest(lookup, true, this.policy));
  }

  /** Unpins a certificate (admin API); false: it was not pinned. */
  unpin(key: string): Promise<boolean> {
    return this.stub(key).unpin();
  }

  private async ask(lookup: Lookup): Promise<Result<Served>> {
    ops.ownerCalls++;
    const result = await this.stub(lookup.key).answer(ownerRequest(lookup, false, this.policy));
    if (!result.ok) return result;
    return ok(served(result.value.fetched ? UPSTREAM_TIER : OWNER_TIER, result.value.answer));
  }

  private stub(key: string) {
    return this.owners.get(this.owners.idFromName(key));
  }
}

export function ownerRequest(
  lookup: Pick<Lookup, "key" | "certId" | "issuer" | "leaf" | "watch">,
  pin: boolean,
  policy: OwnerPolicy,
): OwnerRequest {
  return {
    certIdKey: lookup.key,
    certId: lookup.certId,
    issuer: lookup.issuer,
    policy,
    ...(pin ? { pin } : {}),
    ...(lookup.leaf ? { leaf: lookup.leaf } : {}),
    ...(lookup.watch ? { watch: true } : {}),
  };
}
