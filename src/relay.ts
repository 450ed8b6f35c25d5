// The relay in one isolate, as routes see it: the Source chain (wired once, in wiring.ts) and the
// small questions routes ask of it: answer a CertID as the OCSP endpoint serves it, inspect what
// each tier holds without contacting the CA, pin a certificate. One function turns an answer into
// an OCSP response, for the hot path (a GET whose URL was answered before, before any routing)
// and for the routed path alike, with the bookkeeping both owe: counters, touching the owner. What
// it owes depends only on what the answering tier declared (sources/source.ts TierInfo), so any
// tier wired between memory and the owner is counted and treated without a line here.

import { isFresh } from "./cache/record.ts";
import type { Config } from "./config.ts";
import type { Deps } from "./deps.ts";
import type { RelayError, Result } from "./errors.ts";
import type { OwnerAnswer, OwnerState } from "./fleet/owner.ts";
import type { BudgetSnapshot } from "./fleet/budget.ts";
import { budgetOf } from "./fleet/budget-do.ts";
import { crlOwnerOf } from "./fleet/crl-owner-do.ts";
import { isComplete, type CrlInspection } from "./fleet/crl-owner.ts";
import { ledgerOf } from "./fleet/ledger-do.ts";
import { ocspErrorResponse } from "./http/errors.ts";
import type { FleetKeys } from "./http/fleet-keys.ts";
import { answerHeaders, matchesIfNoneMatch, type PreparedHeaders } from "./http/ocsp-headers.ts";
import { ops } from "./instrumentation.ts";
import type { IssuerRecord } from "./issuers/issuer.ts";
import type { IssuerRegistry } from "./issuers/registry.ts";
import {
  crlVerdict,
  relaysOcsp,
  httpCrlUrls,
  type CertificateNames,
  type CrlReading,
  type CrlVerdict,
  type RevocationSource,
} from "./issuers/revocation.ts";
import { log } from "./log.ts";
import { Counters, ERROR_SERIES, type TierCount } from "./metrics/counters.ts";
import { MEMORY_TIER, type MemoryTier } from "./sources/memory.ts";
import { OWNER_TIER, type OwnerSource } from "./sources/owner.ts";
import { served, type LeafInfo, type Lookup, type Served, type Source } from "./sources/source.ts";
import type { Touches } from "./sources/touch.ts";
import { RememberedUrls } from "./sources/urls.ts";

/** What a certificate's lookup needs besides the clock: the CertID and its registered issuer. */
export type CertLookup = Pick<Lookup, "key" | "certId" | "issuer" | "issuerCert">;

type Background = Lookup["background"];
/** Where work owed after the response goes (ExecutionContext.waitUntil). */
type AfterResponse = Pick<ExecutionContext, "waitUntil">;

/** What a registered CRL's owner holds for a certificate, as its status is judged. */
export type CrlHeld = CrlReading & CrlInspection & { fetched: boolean };

/** What /check shows of a certificate without contacting the CA. */
export interface Inspection {
  /** The copy the first tier holding one has (fresh, or the newest expired one). */
  served: Served | undefined;
  owner: OwnerState | undefined;
}

export interface RelayParts {
  deps: Deps;
  config: Config;
  fleetKeys: FleetKeys;
  registry: IssuerRegistry;
  /** The whole chain: memory -> the cache tiers (edge cache, KV, ...) -> owner. */
  chain: Source;
  /** The chain's first tier, in its own role: the hot path reads its entries. */
  memory: MemoryTier;
  /** The chain's last tier, in its own role: the owners' control operations (inspect, pin, touch). */
  owners: OwnerSource;
  touches: Touches;
}

export class Relay {
  readonly config: Config;
  readonly fleetKeys: FleetKeys;
  readonly registry: IssuerRegistry;
  private readonly deps: Deps;
  private readonly chain: Source;
  private readonly memory: MemoryTier;
  private readonly owners: OwnerSource;
  private readonly touches: Touches;
  private readonly counters: Counters;
  /** The memory tier's count, held for the hot path (counting a hit is one draw and an add). */
  private readonly memoryHits: TierCount;
  /** Request URL → what it asks for, learnt from answered GETs: lets a repeat GET skip decoding. */
  private readonly paths = new RememberedUrls<CertLookup>();

  constructor(parts: RelayParts) {
    this.deps = parts.deps;
    this.config = parts.config;
    this.fleetKeys = parts.fleetKeys;
    this.registry = parts.registry;
    this.chain = parts.chain;
    this.memory = parts.memory;
    this.owners = parts.owners;
    this.touches = parts.touches;
    this.counters = new Counters(parts.deps.random, parts.config.metricsSample);
    this.memoryHits = this.counters.tier(MEMORY_TIER);
  }

  now(): number {
    return this.deps.now();
  }

  /**
   * The hot path: a GET whose exact URL was answered before, for an issuer still registered, with
   * the answer current in isolate memory. No decoding, no routing, no KV, no verification; what it
   * owes (counters, touching the owner, refreshing the registry copy) runs after the response.
   * Undefined: the routed path answers.
   */
  remembered(request: Request, ctx: Pick<ExecutionContext, "waitUntil">): Response | undefined {
    const entry = this.paths.get(request.url);
    if (!entry) return undefined;
    const now = this.deps.now();
    const index = this.registry.forHotPath(now, ctx);
    // Deleted, or registered for CRLs only now (issuers/revocation.ts): the routed path answers.
    if (!relaysOcsp(index?.get(entry.issuer.id))) return undefined;
    const held = this.memory.peekEntry(entry.key, now);
    if (!held) return undefined;
    ops.hotPathHits++;
    return this.respond(held.answer, this.memoryHits, held.headers, request, now, ctx);
  }

  /**
   * The routed path: the answer for the one CertID of a request (looked up through the chain), or
   * the error, as an OCSP response. `getUrl`: the URL of a GET whose request is canonical (one
   * CertID, no extensions), remembered once the CA's answer for it is `good` or `revoked` (a guessed
   * serial's `unknown` is not: made-up serials never fill the map).
   */
  async respondTo(
    request: Request,
    asked: Result<CertLookup>,
    background: Background,
    getUrl?: string,
  ): Promise<Response> {
    const now = this.deps.now();
    if (!asked.ok) return this.refuse(asked.error, now, background);
    const answered = await this.answer(asked.value, { now, background });
    if (!answered.ok) return this.refuse(answered.error, now, background);
    const { answer, from } = answered.value;
    // A URL with a query is not remembered: varying it must not fill the map.
    if (getUrl && answer.status !== "unknown" && !getUrl.includes("?"))
      this.paths.remember(getUrl, asked.value);
    const after = background ? { waitUntil: background } : undefined;
    const counted = this.counters.tier(from);
    return this.respond(answer, counted, undefined, request, now, after);
  }

  /**
   * The answer the OCSP endpoint serves for a certificate (through every tier, the CA last), and
   * whatever took a copy from a tier whose hits tell the owner (TierInfo.touches: KV) tells it,
   * on every path (GET, POST, POST /check): a location's copy refilled by any request is one the
   * owner heard of. `watch`: an authenticated caller asked; its owner is told whenever a copy
   * answered.
   */
  async answer(
    lookup: CertLookup,
    o: { now?: number; background?: Background; leaf?: Lookup["leaf"]; watch?: boolean } = {},
  ): Promise<Result<Served, RelayError>> {
    const now = o.now ?? this.deps.now();
    const result = await this.chain.get({
      ...lookup,
      now,
      ...(o.background ? { background: o.background } : {}),
      ...(o.leaf ? { leaf: o.leaf } : {}),
      ...(o.watch ? { watch: true } : {}),
    });
    if (!result.ok) return result;
    const from = result.value.from;
    if (o.watch && from.cached)
      await this.owners.touch({ ...lookup, watch: true, ...(o.leaf ? { leaf: o.leaf } : {}) });
    else if (from.touches && this.touches.due(lookup.key, now)) {
      // After the response when the caller has a background (the OCSP endpoint), else now.
      let pending: Promise<unknown> | undefined;
      this.touches.send(lookup, now, {
        waitUntil: o.background ?? ((work) => void (pending = work)),
      });
      if (pending) await pending;
    }
    return result;
  }

  /**
   * What each tier holds for a certificate, and what its owner knows (one call to it, unless
   * `owner` is false: then only the cache tiers are read); the CA is not contacted.
   */
  async inspect(lookup: CertLookup, o: { owner?: boolean } = {}): Promise<Inspection> {
    const now = this.deps.now();
    const [cached, held] = await Promise.all([
      this.chain.inspect({ ...lookup, now, cachedOnly: true }),
      o.owner === false ? undefined : this.owners.inspectOwner(lookup.key),
    ]);
    const owned = held?.answer ? served(OWNER_TIER, held.answer) : undefined;
    // The first current copy, else the newest expired one (as the tiers' own inspect).
    const shown =
      cached && isFresh(cached.answer, now)
        ? cached
        : owned && (isFresh(owned.answer, now) || !cached)
          ? owned
          : cached && owned && owned.answer.thisUpdate > cached.answer.thisUpdate
            ? owned
            : cached;
    return { served: shown, owner: held?.state };
  }

  /** Pins a certificate (admin API) and fetches its answer unless its owner holds one. */
  pin(lookup: CertLookup & Pick<Lookup, "leaf">): Promise<Result<OwnerAnswer>> {
    return this.owners.pin(lookup);
  }

  /** Unpins a certificate from its owner (OCSP) or its issuer's CRL owners; false: not pinned. */
  async unpin(issuer: IssuerRecord, key: string | undefined, serial: string): Promise<boolean> {
    const crls = (issuer.crlUrls ?? []).map((url) =>
      crlOwnerOf({ CRL_OWNER: this.deps.crlOwners }, issuer.id, url).unpin(serial),
    );
    const found = await Promise.all([key ? this.owners.unpin(key) : false, ...crls]);
    return found.some(Boolean);
  }

  /**
   * A certificate's status in its issuer's CRLs (`source`: which to consult, from
   * issuers/revocation.ts): each fetched when none is valid, or only what their owners hold
   * (`fetch`: "all", "none", or "named": those the certificate names, or its issuer's only CRL,
   * which is what an anonymous caller may make the relay fetch); `leaf` is pinned (`pin`) or
   * watched (`watch`) there.
   */
  async crlVerdict(q: {
    issuer: IssuerRecord;
    source: Extract<RevocationSource, { kind: "crl" }>;
    serial: string;
    /** What the certificate names: undefined when only its serial is known. */
    names: CertificateNames | undefined;
    leaf?: LeafInfo;
    fetch: "all" | "named" | "none";
    pin?: boolean;
    watch?: boolean;
  }): Promise<CrlVerdict<CrlHeld>> {
    const now = this.deps.now();
    const named = q.names ? httpCrlUrls(q.names) : undefined;
    const problems: string[] = [];
    const readings = await Promise.all(
      q.source.consult.map(async (url): Promise<CrlHeld> => {
        const owner = crlOwnerOf({ CRL_OWNER: this.deps.crlOwners }, q.issuer.id, url);
        let fetched = false;
        const fetch =
          q.fetch === "all" ||
          (q.fetch === "named" &&
            (q.source.named.includes(url) ||
              (q.source.named.length === 0 && q.source.consult.length === 1)));
        if (fetch) {
          const status = await owner.status({
            url,
            issuer: q.issuer,
            serial: q.serial,
            names: named?.includes(url) ?? false,
            allowPrivate: this.config.allowPrivateResponders,
            ...(q.leaf ? { leaf: q.leaf } : {}),
            ...(q.pin ? { pin: true } : {}),
            ...(q.watch ? { watch: true } : {}),
          });
          if (!status.ok) problems.push(status.error.detail);
          else fetched = status.value.fetched;
        }
        const held = await owner.inspect(q.serial);
        return {
          url,
          current: held.crl !== undefined && now < held.crl.nextUpdate,
          complete: held.crl !== undefined && isComplete(held.crl),
          listed: held.revoked !== undefined,
          fetched,
          ...held,
        };
      }),
    );
    return crlVerdict(
      readings,
      named,
      problems.length ? { fetchProblem: problems.join("; ") } : {},
    );
  }

  /** Answers held in this isolate's memory. */
  memoryEntries(): number {
    return this.memory.size.entries;
  }

  /** The upstream budget of each issuer (for /metrics and /status). */
  budgets(issuers: readonly { id: string }[]): Promise<BudgetSnapshot[]> {
    const ns = { UPSTREAM_BUDGET: this.deps.budgets };
    return Promise.all(issuers.map((r) => budgetOf(ns, r.id).snapshot(r.id, this.config.budget)));
  }

  /** The fleet ledger's stub. A stub belongs to the request that made it: make one per use. */
  ledger() {
    return ledgerOf({ FLEET_LEDGER: this.deps.ledger });
  }

  /** Sends this isolate's counters to the fleet ledger (they are kept if that fails). */
  async flushCounters(now: number): Promise<void> {
    const { deltas, restore } = this.counters.take(now);
    if (Object.keys(deltas).length === 0) return;
    ops.ledgerFlushes++;
    await this.ledger().addCounters(deltas).catch(restore);
  }

  /**
   * The one way an answer becomes a response: counted in the series of the tier that answered, RFC
   * 5019 headers (the hot path
   * reuses the entry's prepared ones, max-age at most 1 % + 1 s shorter; the routed path builds
   * them for `now`, X-Cache: MISS for a fetch made for this request), If-None-Match, HEAD.
   */
  private respond(
    answer: Served["answer"],
    /** The answering tier's count (Counters.tier), which carries its declaration. */
    tier: TierCount,
    /** The memory entry's prepared headers: the hot path's (the routed path builds its own). */
    prepared: PreparedHeaders | undefined,
    request: Request,
    now: number,
    after: AfterResponse | undefined,
  ): Response {
    const hot = prepared !== undefined;
    ops.requests++;
    this.counters.count(tier);
    // (The owner was told in answer() when the answer's tier touches; the hot path's never does.)
    if (after && this.counters.due(now)) after.waitUntil(this.flushCounters(now));
    const headers = prepared
      ? prepared.at(now)
      : answerHeaders(answer, now, tier.from.fetched ? "MISS" : "HIT");
    if (matchesIfNoneMatch(request.headers.get("If-None-Match"), answer.etag)) {
      const notModified = new Headers(headers); // the prepared object is shared: copy it
      notModified.delete("Content-Type");
      return new Response(null, { status: 304, headers: notModified });
    }
    // The hot path takes GETs only (index.ts), so it need not read the method again.
    const head = !hot && request.method === "HEAD";
    return new Response(head ? null : answer.der, { headers });
  }

  /** An error as an OCSP response, counted. */
  private refuse(error: RelayError, now: number, background: Background): Response {
    ops.requests++;
    this.counters.countSeries(ERROR_SERIES[error.kind]);
    if (background && this.counters.due(now)) background(this.flushCounters(now));
    if (error.kind === "internal") log("request.error", { detail: error.detail });
    return ocspErrorResponse(error);
  }

  /** The hot path's URL map: how much it holds (tests, the heap measurement). */
  rememberedUrls(): RememberedUrls<CertLookup>["size"] {
    return this.paths.size;
  }
}
