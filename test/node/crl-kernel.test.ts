// The CRL owner's rules (src/fleet/crl-rules.ts) as a table, in plain Node: an owner, events at
// given times, and what each step returns (effects in order, reply) and leaves (the state).

import { describe, expect, it } from "vitest";
import { err, ok } from "../../src/errors.ts";
import type { IssuerRecord } from "../../src/issuers/issuer.ts";
import {
  crlStep,
  newCrlOwner,
  upgraded,
  watchedStatuses,
  type CrlEffect,
  type CrlEvent,
  type CrlOwner,
  type CrlReply,
  type VerifiedCrl,
} from "../../src/fleet/crl-rules.ts";
import type { CrlMeta, CrlOwnerState, CrlRequest } from "../../src/fleet/crl-types.ts";
import { MAX_WATCHED } from "../../src/fleet/crl-types.ts";
import { DEFAULT_SCHEDULE as S, refreshAt, retryAt } from "../../src/fleet/schedule.ts";

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const T = Date.UTC(2026, 11, 4, 12, 0, 0);
const R = 0.5;
const URL = "http://crl.ca.example/1.crl";
const issuer: IssuerRecord = {
  id: "issuer1",
  subject: "CN=test",
  crlUrls: [URL],
  certificate: "",
  hashes: {} as IssuerRecord["hashes"],
  notAfter: "2036-01-01T00:00:00Z",
  createdAt: "2026-11-28T00:00:00Z",
};
const leaf = { subject: "CN=site.example", mustStaple: false };
const ask = (o: Partial<CrlRequest> = {}): CrlEvent => ({
  on: "request",
  req: { url: URL, issuer, ...o },
});

function crl(thisUpdate: number, o: Partial<VerifiedCrl> = {}): VerifiedCrl {
  return {
    thisUpdate,
    nextUpdate: thisUpdate + 7 * DAY,
    number: "5",
    signatureAlgorithm: "sha256WithRSAEncryption",
    idpUrls: [],
    revoked: [],
    ...o,
  };
}

function meta(v: VerifiedCrl, fetchedAt = v.thisUpdate): CrlMeta {
  return {
    url: URL,
    issuerId: issuer.id,
    thisUpdate: v.thisUpdate,
    nextUpdate: v.nextUpdate,
    number: v.number,
    signatureAlgorithm: v.signatureAlgorithm,
    revokedCount: v.revoked.length,
    chunks: Math.ceil(v.revoked.length / 2000),
    fetchedAt,
    idpUrls: v.idpUrls,
  };
}

function state(o: Partial<CrlOwnerState> = {}): CrlOwnerState {
  return {
    url: URL,
    issuer,
    lastRequestedAt: T,
    fetches: 1,
    failures: 0,
    watched: {},
    allowPrivate: false,
    version: 2,
    ...o,
  };
}

const owner = (s?: Partial<CrlOwnerState>, held?: CrlMeta): CrlOwner => ({
  ...newCrlOwner(),
  state: s ? state(s) : undefined,
  meta: held,
});

function words(effects: CrlEffect[]): string[] {
  return effects.map((f) =>
    f.do === "alarm"
      ? `alarm@${Math.round((f.at - T) / MIN)}`
      : f.do === "log"
        ? `log:${f.event}`
        : f.do,
  );
}

function said(reply: CrlReply | undefined): string | undefined {
  if (!reply) return undefined;
  if ("join" in reply) return "join";
  if ("serve" in reply) return `serve:${reply.serve.number}`;
  if ("unpinned" in reply) return reply.unpinned ? "unpinned" : "not pinned";
  const r = "reply" in reply ? reply.reply : reply.settled;
  const tag = "reply" in reply ? "reply" : "settled";
  return r.ok ? `${tag}:${r.value.number}` : `${tag}:${r.error.kind}`;
}

const held5 = meta(crl(T - HOUR));
const fail = err({ kind: "tryLater" as const, cause: "upstream" as const, detail: "HTTP 503" });
const refreshMin = (v: VerifiedCrl, at: number) =>
  Math.round(
    (refreshAt({ thisUpdate: Math.max(v.thisUpdate, at), nextUpdate: v.nextUpdate }, at, R, S) -
      T) /
      MIN,
  );

interface Row {
  name: string;
  owner: () => CrlOwner;
  steps: [minutes: number, event: CrlEvent, effects: string[], reply?: string][];
  then?: (o: CrlOwner) => void;
}

const rows: Row[] = [
  {
    name: "a first request: recorded, the CRL fetched, the request joins",
    owner: () => owner(),
    steps: [[0, ask({ serial: "01" }), ["save", "fetch"], "join"]],
  },
  {
    name: "a CRL still valid is served without fetching",
    owner: () => owner({}, held5),
    steps: [[10, ask({ serial: "01" }), ["save"], "serve:5"]],
  },
  {
    name: "an anonymous request watches nothing; a pin is recorded before any fetch",
    owner: () => owner(),
    steps: [
      [0, ask({ serial: "01", leaf }), ["save", "fetch"], "join"],
      [0, ask({ serial: "02", leaf, pin: true, names: true }), ["save", "save", "fetch"], "join"],
    ],
    then: (o) => {
      expect(o.state?.watched).toEqual({});
      expect(o.state?.pins).toEqual({ "02": { ...leaf, names: true } });
      expect(o.state?.pinned).toBe(true);
    },
  },
  {
    name: "the watch list is bounded; a pin never waits for room",
    owner: () =>
      owner({
        watched: Object.fromEntries(
          Array.from({ length: MAX_WATCHED }, (_, i) => [i.toString(16), { ...leaf, names: true }]),
        ),
      }),
    steps: [
      [
        0,
        ask({ serial: "ffff", leaf, watch: true, names: true }),
        ["save", "save", "fetch"],
        "join",
      ],
      [0, ask({ serial: "eeee", leaf, pin: true, names: true }), ["save", "save", "fetch"], "join"],
    ],
    then: (o) => {
      expect(o.state?.watched).not.toHaveProperty("ffff");
      expect(o.state?.pins).toHaveProperty("eeee");
    },
  },
  {
    name: "after a failure, no client makes it download the CRL again before the planned retry",
    owner: () => owner({ failures: 1, lastError: "HTTP 503", nextAttemptAt: T + MIN }),
    steps: [[0.5, ask(), ["save"], "reply:tryLater"]],
  },
  {
    name: "a CRL that verified: kept, logged, refresh planned, reported",
    owner: () => owner({ fetches: 0 }),
    steps: [
      [0, { on: "fetching" }, []],
      [
        0,
        { on: "fetched", result: ok(crl(T)), startedAt: T },
        ["keep", "log:upstream.fetch", "save", `alarm@${refreshMin(crl(T), T)}`, "report"],
        "settled:5",
      ],
    ],
    then: (o) => expect(o.state).toMatchObject({ fetches: 1, failures: 0 }),
  },
  {
    name: "an older CRL than the one held is not taken; the held one stays",
    owner: () => owner({}, held5),
    steps: [
      [
        0,
        { on: "fetched", result: ok(crl(T - DAY, { number: "4" })), startedAt: T },
        ["log:cache.kept", "save", `alarm@${refreshMin(crl(T - HOUR), T)}`, "report"],
        "settled:5",
      ],
    ],
    then: (o) => expect(o.meta).toBe(held5),
  },
  {
    name: "a failing server never evicts a valid CRL: retry by backoff, the held one served",
    owner: () => owner({}, held5),
    steps: [
      [
        0,
        { on: "fetched", result: fail, startedAt: T },
        ["log:refresh.failed", "save", `alarm@${(retryAt(1, T, held5, S) - T) / MIN}`, "report"],
        "settled:5",
      ],
    ],
    then: (o) => expect(o.state).toMatchObject({ failures: 1, lastError: "HTTP 503" }),
  },
  {
    name: "a failing server with nothing held: the failure, remembered 3 s",
    owner: () => owner(),
    steps: [
      [0, ask(), ["save", "fetch"], "join"],
      [
        0,
        { on: "fetched", result: fail, startedAt: T },
        ["log:refresh.failed", "save", "alarm@1", "report"],
        "settled:tryLater",
      ],
      [0.02, ask(), ["save"], "reply:tryLater"],
    ],
  },
  {
    name: "idle and unpinned: refresh stops",
    owner: () => owner({}, held5),
    steps: [[S.idleAfterMs / MIN + 1, { on: "alarm" }, ["log:refresh.stopped"]]],
  },
  {
    name: "pinned: the alarm asks the registry, then the CRL server",
    owner: () =>
      owner(
        { pinned: true, pins: { "01": { ...leaf, names: true } }, lastRequestedAt: T - 30 * DAY },
        held5,
      ),
    steps: [
      [0, { on: "alarm" }, ["lookupIssuer"]],
      [0, { on: "issuer", issuer }, ["fetch"]],
    ],
  },
  {
    name: "refresh stops when the CRL is no longer registered for its issuer",
    owner: () => owner({ pinned: true }, held5),
    steps: [[0, { on: "issuer", issuer: { ...issuer, crlUrls: [] } }, ["log:refresh.stopped"]]],
  },
  {
    name: "unpinned: no longer reported by this CRL",
    owner: () => owner({ pinned: true, pins: { "02": { ...leaf, names: true } } }, held5),
    steps: [
      [0, { on: "unpin", serial: "02" }, ["save"], "unpinned"],
      [0, { on: "unpin", serial: "02" }, [], "not pinned"],
    ],
    then: (o) => expect(o.state?.pins).toEqual({}),
  },
  {
    name: "certificates that have ended are watched no more",
    owner: () =>
      owner({
        pins: { "01": { ...leaf, names: true, notAfter: T - MIN }, "02": { ...leaf, names: true } },
        watched: { "03": { ...leaf, names: true, notAfter: T } },
      }),
    steps: [
      [
        0,
        { on: "fetched", result: ok(crl(T)), startedAt: T },
        ["keep", "log:upstream.fetch", "save", `alarm@${refreshMin(crl(T), T)}`, "report"],
        "settled:5",
      ],
    ],
    then: (o) => {
      expect(Object.keys(o.state?.pins ?? {})).toEqual(["02"]);
      expect(o.state?.watched).toEqual({});
    },
  },
  {
    name: "a CRL whose pins were all unpinned or ended goes idle like any other",
    owner: () => owner({ pinned: true, pins: {}, lastRequestedAt: T - 30 * DAY }, held5),
    steps: [[0, { on: "alarm" }, ["log:refresh.stopped"]]],
  },
];

describe("the CRL owner's rules, event by event", () => {
  it.each(rows.map((r) => [r.name, r] as const))("%s", (_, row) => {
    const o = row.owner();
    for (const [minutes, event, effects, reply] of row.steps) {
      const s = crlStep(o, event, T + minutes * MIN, R, S);
      expect(words(s.effects), `${event.on} at ${minutes} min`).toEqual(effects);
      expect(said(s.reply), `${event.on} at ${minutes} min`).toBe(reply);
    }
    row.then?.(o);
  });
});

describe("which watched certificates a CRL reports", () => {
  const watched = {
    "01": { ...leaf, names: true },
    "02": { ...leaf, names: false },
  };
  it.each([
    ["complete (no IDP): every watched certificate", [], ["01", "02"]],
    ["partitioned: only those naming it", [URL], ["01"]],
  ] as const)("%s", (_, idpUrls, serials) => {
    const m = meta(crl(T, { idpUrls: [...idpUrls] }));
    const list = watchedStatuses(state({ watched }), m, (s) =>
      s === "01" ? { revocationTime: T } : undefined,
    );
    expect(list.map((c) => c.serial)).toEqual(serials);
    expect(list[0]).toMatchObject({ serial: "01", status: "revoked" });
  });

  it("watch lists stored before the rule are dropped on reading", () => {
    const legacy = { ...state({ watched }), version: undefined } as unknown as CrlOwnerState;
    expect(upgraded(legacy)).toMatchObject({ state: { watched: {}, version: 2 }, dropped: 2 });
    expect(upgraded(state({ watched })).dropped).toBe(0);
  });
});
