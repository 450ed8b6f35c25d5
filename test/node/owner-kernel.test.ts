// The OCSP owner's rules (src/fleet/ocsp-rules.ts) as a table, in plain Node: each case is an owner,
// a sequence of events at given times, and what each step must return (its effects, in order, and
// its reply) and leave (the state). What an owner does when X happens at time T, read in one place.

import { describe, expect, it } from "vitest";
import type { CachedAnswer } from "../../src/cache/record.ts";
import { serveUntil } from "../../src/cache/freshness.ts";
import { err, ok } from "../../src/errors.ts";
import type { IssuerRecord } from "../../src/issuers/issuer.ts";
import { newOwner, step, touchWriteAfter } from "../../src/fleet/ocsp-rules.ts";
import type {
  OcspEffect,
  OcspEvent,
  OcspOwner,
  OwnerRequest,
  OwnerState,
  Reply,
} from "../../src/fleet/owner-types.ts";
import { DEFAULT_SCHEDULE as S, refreshAt, retryAt } from "../../src/fleet/schedule.ts";

const MIN = 60_000;
const HOUR = 60 * MIN;
const T = Date.UTC(2026, 11, 4, 12, 0, 0);
const R = 0.5; // the random draw of every step
const KEY = "SHA-1:aa:bb:01";
const issuer: IssuerRecord = {
  id: "issuer1",
  subject: "CN=test",
  responderUrl: "http://ocsp.ca.example/",
  certificate: "",
  hashes: {} as IssuerRecord["hashes"],
  notAfter: "2036-01-01T00:00:00Z",
  createdAt: "2026-11-28T00:00:00Z",
};
const certId = {
  hashAlgorithm: "1.3.14.3.2.26",
  hashName: "SHA-1" as const,
  issuerNameHash: new Uint8Array([0xaa]),
  issuerKeyHash: new Uint8Array([0xbb]),
  serialNumber: new Uint8Array([1]),
};
const req = (o: Partial<OwnerRequest> = {}): OwnerRequest => ({
  certIdKey: KEY,
  certId,
  issuer,
  ...o,
});
const pin = req({ pin: true });
const registeredOnly = req({
  policy: { access: "registered", budget: { burst: 1, perMinute: 1 } },
});

function answer(status: CachedAnswer["status"], thisUpdate: number, window = HOUR): CachedAnswer {
  const base = { status, nextUpdate: thisUpdate + window, fetchedAt: thisUpdate };
  return {
    der: new Uint8Array([0x30, 0]),
    certIdKey: KEY,
    issuerId: issuer.id,
    ...base,
    thisUpdate,
    producedAt: thisUpdate,
    serveUntil: serveUntil(base, S),
    etag: `"${status}-${thisUpdate}"`,
    ...(status === "revoked" ? { revocationTime: thisUpdate - HOUR } : {}),
  };
}

function state(o: Partial<OwnerState> = {}): OwnerState {
  return {
    certIdKey: KEY,
    certId,
    issuer,
    pinned: false,
    lastRequestedAt: T,
    failures: 0,
    fetches: 1,
    access: "open",
    ...o,
  };
}

const owner = (s?: Partial<OwnerState>, held?: CachedAnswer): OcspOwner => ({
  ...newOwner(),
  state: s ? state(s) : undefined,
  held,
});

/**
 * Effects as short words: save, publish, alarm@<min from T>, alarm?@…, fetch, log:<event>,
 * report (a fetch's), report:<reason> (a certificate let go)…
 */
function words(effects: OcspEffect[]): string[] {
  return effects.map((f) => {
    switch (f.do) {
      case "alarm":
        return `alarm${f.ifNone ? "?" : ""}@${(f.at - T) / MIN}`;
      case "log":
        return `log:${f.event}`;
      case "report":
        return "retired" in f.report ? `report:${f.report.retired}` : "report";
      default:
        return f.do;
    }
  });
}

function said(reply: Reply | undefined): string | undefined {
  if (!reply) return undefined;
  if ("join" in reply) return "join";
  if ("spend" in reply) return "spend";
  if ("unpinned" in reply) return reply.unpinned ? "unpinned" : "not pinned";
  const r = "reply" in reply ? reply.reply : reply.settled;
  const tag = "reply" in reply ? "reply" : "settled";
  if (!r.ok)
    return `${tag}:${r.error.kind}${"cause" in r.error && r.error.cause ? `/${r.error.cause}` : ""}`;
  const a = "answer" in r.value ? r.value.answer : r.value;
  return `${tag}:${a.status}${"fetched" in r.value ? (r.value.fetched ? "(fetched)" : "(held)") : ""}`;
}

interface Row {
  name: string;
  owner: () => OcspOwner;
  steps: [minutes: number, event: OcspEvent, effects: string[], reply?: string][];
  then?: (o: OcspOwner) => void;
}

const good = answer("good", T);
const unknown = answer("unknown", T);
const revoked = answer("revoked", T);
const fail = err({ kind: "tryLater" as const, cause: "upstream" as const, detail: "HTTP 503" });
const fetched = (result: Extract<OcspEvent, { on: "fetched" }>["result"], startedAt = T) =>
  ({ on: "fetched", result, startedAt }) as OcspEvent;
const request = (r: OwnerRequest, fetching = false) =>
  ({ on: "request", req: r, fetching }) as OcspEvent;
const refreshMin = (a: CachedAnswer, at = T) =>
  (refreshAt(
    { thisUpdate: Math.max(a.thisUpdate, a.fetchedAt), nextUpdate: a.serveUntil },
    at,
    R,
    S,
  ) -
    T) /
  MIN;

/** touchWriteAfter(S) in minutes: 3 days with the default 7-day idle limit. */
const W = touchWriteAfter(S) / MIN;
it("touchWriteAfter: 3 days with the default 7-day idle limit, an hour at the least", () => {
  expect(W).toBe(3 * 24 * 60);
  expect(touchWriteAfter({ ...S, idleAfterMs: 4 * 24 * HOUR })).toBe(HOUR);
});

const rows: Row[] = [
  {
    name: "a first request for a CertID nobody pinned is a guess: the budget first",
    owner: () => owner(),
    steps: [[0, request(req()), [], "spend"]],
  },
  {
    name: "over budget: tryLater, nothing stored",
    owner: () => owner(),
    steps: [
      [
        0,
        { on: "admitted", req: req(), admitted: false, fetching: false, requestedAt: T },
        [],
        "reply:tryLater/budget",
      ],
    ],
    then: (o) => expect(o.state).toBeUndefined(),
  },
  {
    name: "admitted: the request is recorded and the CA asked",
    owner: () => owner(),
    steps: [
      [
        0,
        { on: "admitted", req: req(), admitted: true, fetching: false, requestedAt: T },
        ["save", "fetch"],
        "join",
      ],
    ],
  },
  {
    name: "admitted while another request's fetch is in flight: it joins that fetch",
    owner: () => owner(),
    steps: [
      [
        0,
        { on: "admitted", req: req(), admitted: true, fetching: true, requestedAt: T },
        ["save", "fetch"],
        "join",
      ],
    ],
  },
  {
    name: "a pinned certificate never waits for the budget",
    owner: () => owner(),
    steps: [[0, request(pin), ["save", "fetch"], "join"]],
    then: (o) => expect(o.state?.pinned).toBe(true),
  },
  {
    name: "OCSP_ACCESS=registered: an unpinned CertID is unauthorized, nothing stored",
    owner: () => owner(),
    steps: [[0, request(registeredOnly), [], "reply:unauthorized/registeredOnly"]],
    then: (o) => expect(o.state).toBeUndefined(),
  },
  {
    name: "a fresh answer held is served without the CA",
    owner: () => owner({ vouched: true }, good),
    steps: [[5, request(req()), ["save"], "reply:good(held)"]],
  },
  {
    name: "newly pinned with a fresh answer held: refresh planned, published to KV",
    owner: () => owner({ vouched: true }, good),
    steps: [
      [
        5,
        request(pin),
        ["save", "save", `alarm@${refreshMin(good, T + 5 * MIN)}`, "publish"],
        "reply:good(held)",
      ],
    ],
  },
  {
    name: "a pin does not trust a held unknown (planted before issuance): asked again",
    owner: () => owner({}, unknown),
    steps: [[1, request(pin), ["save", "fetch"], "join"]],
  },
  {
    name: "a failure is remembered 3 s: the CA is not asked again before",
    owner: () => ({
      ...owner({ pinned: true, failures: 1 }),
      memory: { recentFailure: { until: T + 3_000, error: fail.error } },
    }),
    steps: [[0, request(pin), [], "reply:tryLater/upstream"]],
  },
  {
    name: "the CA says good for a guess: vouched for, kept, published, refresh planned, reported",
    owner: () => owner({ fetches: 1 }),
    steps: [
      [
        0,
        fetched(ok(good)),
        // Kept in the owner's one row (the save) before KV is written.
        ["save", `alarm@${refreshMin(good)}`, "publish", "report"],
        "settled:good",
      ],
    ],
    then: (o) => {
      expect(o.state).toMatchObject({ vouched: true, lastStatus: "good", failures: 0 });
      expect(o.held).toBe(good);
    },
  },
  {
    name: "the CA says unknown for a guess: kept, never published, forgotten at its serveUntil",
    owner: () => owner({ fetches: 1 }),
    steps: [
      [
        0,
        fetched(ok(unknown)),
        ["save", `alarm@${(unknown.serveUntil - T) / MIN}`, "report"],
        "settled:unknown",
      ],
    ],
    then: (o) => {
      expect(o.state?.forgetAt).toBe(unknown.serveUntil);
      expect(o.held).toBe(unknown);
    },
  },
  {
    name: "a failing CA for a certificate vouched for: retry planned, the valid answer kept and served",
    owner: () => owner({ vouched: true }, good),
    steps: [
      [
        10,
        fetched(fail, T + 10 * MIN),
        ["save", `alarm@${10 + S.backoffBaseMs / MIN}`, "log:refresh.failed", "report"],
        "settled:good",
      ],
    ],
    then: (o) => expect(o.state).toMatchObject({ failures: 1, lastError: "HTTP 503" }),
  },
  {
    name: "a failing CA for a guess: no retry, forgotten after unknownMaxAge",
    owner: () => owner({ fetches: 1 }),
    steps: [
      [
        0,
        fetched(fail),
        ["save", `alarm@${S.unknownMaxAgeMs / MIN}`, "log:refresh.failed", "report"],
        "settled:tryLater/upstream",
      ],
    ],
    then: (o) => expect(o.state?.nextAttemptAt).toBeUndefined(),
  },
  {
    name: "an answer older than the one held is not taken",
    owner: () => owner({ vouched: true }, answer("good", T + 30 * MIN)),
    steps: [
      [
        31,
        fetched(ok(good), T + 31 * MIN),
        [
          "log:cache.kept",
          "save",
          `alarm@${refreshMin(answer("good", T + 30 * MIN), T + 31 * MIN)}`,
          "report",
        ],
        "settled:good",
      ],
    ],
    then: (o) => expect(o.held?.thisUpdate).toBe(T + 30 * MIN),
  },
  {
    name: "good after a validly signed revoked is never served",
    owner: () =>
      owner({ vouched: true, revokedSeen: { revocationTime: T - HOUR, seenAt: T } }, revoked),
    steps: [
      [
        30,
        fetched(ok(answer("good", T + 30 * MIN)), T + 30 * MIN),
        ["log:ca.inconsistent", "save", `alarm@${refreshMin(revoked, T + 30 * MIN)}`, "report"],
        "settled:revoked",
      ],
    ],
    then: (o) => expect(o.held?.status).toBe("revoked"),
  },
  {
    name: "a first revoked is remembered (and reported as the first sighting)",
    owner: () => owner({ pinned: true }),
    steps: [
      [0, { on: "fetching" }, []],
      [
        0,
        fetched(ok(revoked)),
        ["save", `alarm@${refreshMin(revoked)}`, "publish", "report"],
        "settled:revoked",
      ],
    ],
    then: (o) => expect(o.state?.revokedSeen).toEqual({ revocationTime: T - HOUR, seenAt: T }),
  },
  {
    name: "a guess's alarm before its window ends asks nobody; at its end everything is forgotten, unreported (the ledger has its forgetAt)",
    owner: () => owner({ forgetAt: T + 5 * MIN }, unknown),
    steps: [
      [2, { on: "alarm" }, ["alarm@5"]],
      [5, { on: "alarm" }, ["forget", "log:owner.forgotten"]],
    ],
    then: (o) => expect([o.state, o.held]).toEqual([undefined, undefined]),
  },
  {
    name: "idle and unpinned: forgotten; a revocation seen is kept; the ledger told either way",
    owner: () => owner({ vouched: true, revokedSeen: { revocationTime: T, seenAt: T } }, revoked),
    steps: [[S.idleAfterMs / MIN + 1, { on: "alarm" }, ["log:refresh.stopped", "report:idle"]]],
    then: (o) => expect(o.state?.revokedSeen).toBeDefined(),
  },
  {
    name: "idle and unpinned without a revocation: forgotten, and the ledger told (its row goes)",
    owner: () => owner({ vouched: true }, good),
    steps: [
      [S.idleAfterMs / MIN + 1, { on: "alarm" }, ["forget", "log:owner.forgotten", "report:idle"]],
    ],
  },
  {
    name: "a pinned certificate's alarm asks the registry, then the CA",
    owner: () => owner({ pinned: true, lastRequestedAt: T - 30 * 24 * HOUR }, good),
    steps: [
      [30, { on: "alarm" }, ["lookupIssuer"]],
      [
        30,
        { on: "issuer", issuer: { ...issuer, responderUrl: "http://new.ca.example/" } },
        ["fetch"],
      ],
    ],
    then: (o) => expect(o.state?.issuer.responderUrl).toBe("http://new.ca.example/"),
  },
  {
    name: "refresh stops once the issuer is deleted, or registered for CRLs only",
    owner: () => owner({ pinned: true }, good),
    steps: [
      [30, { on: "issuer", issuer: undefined }, ["log:refresh.stopped"]],
      [
        31,
        { on: "issuer", issuer: { ...issuer, responderUrl: undefined as unknown as string } },
        ["log:refresh.stopped"],
      ],
    ],
  },
  {
    name: "a touch revives nothing: absent, or a guess",
    owner: () => owner({}, unknown),
    steps: [[1, { on: "touch", req: req() }, []]],
  },
  {
    name: "a touch keeps a vouched certificate from going idle, and sets an alarm if none",
    owner: () => owner({ vouched: true }, good),
    steps: [[W + 1, { on: "touch", req: req() }, ["save", `alarm?@${W + 1}`]]],
    then: (o) => expect(o.state?.lastRequestedAt).toBe(T + (W + 1) * MIN),
  },
  {
    name: "a touch within touchWriteAfter (3 days) of the last request recorded writes nothing",
    owner: () => owner({ vouched: true }, good),
    steps: [
      [20, { on: "touch", req: req() }, []],
      [W - 1, { on: "touch", req: req() }, []],
      [W + 1, { on: "touch", req: req() }, ["save", `alarm?@${W + 1}`]],
      [W + 2, { on: "touch", req: req() }, []],
      // A touch carrying something new (an authenticated /check's watch) is kept at once.
      [W + 3, { on: "touch", req: req({ watch: true }) }, ["save", `alarm?@${W + 3}`]],
    ],
    then: (o) => expect(o.state?.lastRequestedAt).toBe(T + (W + 3) * MIN),
  },
  {
    name: "an authenticated touch already recorded (watched, the same leaf) writes nothing within the hour",
    owner: () =>
      owner({ vouched: true, watched: true, leaf: { subject: "CN=x", mustStaple: true } }, good),
    steps: [
      [
        10,
        { on: "touch", req: req({ watch: true, leaf: { subject: "CN=x", mustStaple: true } }) },
        [],
      ],
      // A leaf that says something new (its notAfter learnt) is kept.
      [
        11,
        {
          on: "touch",
          req: req({
            watch: true,
            leaf: { subject: "CN=x", mustStaple: true, notAfter: T + 24 * HOUR },
          }),
        },
        ["save", "alarm?@11"],
      ],
    ],
  },
  {
    name: "a touch of a pinned certificate writes nothing: noted in memory, stored by the next save",
    owner: () => owner({ pinned: true, vouched: true }, good),
    steps: [
      [20, { on: "touch", req: req() }, []],
      [W + 1, { on: "touch", req: req() }, []],
      [2 * W, { on: "touch", req: req() }, []],
    ],
    then: (o) => expect(o.state?.lastRequestedAt).toBe(T + 2 * W * MIN),
  },
  {
    name: "a pinned certificate's first touch past touchWriteAfter checks the alarm (set if none)",
    owner: () => owner({ pinned: true }, good),
    steps: [
      [W + 1, { on: "touch", req: req() }, [`alarm?@${W + 1}`]],
      [W + 2, { on: "touch", req: req() }, []],
      // Something new (a first watch) is stored at once, as for any certificate.
      [W + 3, { on: "touch", req: req({ watch: true }) }, ["save", `alarm?@${W + 3}`]],
    ],
    then: (o) =>
      expect(o.state).toMatchObject({ watched: true, lastRequestedAt: T + (W + 3) * MIN }),
  },
  {
    name: "a touch never revives an ended certificate (its state kept for a revocation seen)",
    owner: () =>
      owner(
        {
          vouched: true,
          revokedSeen: { revocationTime: T - HOUR, seenAt: T },
          leaf: { subject: "CN=x", mustStaple: false, notAfter: T + 30 * MIN },
        },
        good,
      ),
    steps: [[120, { on: "touch", req: req() }, []]],
  },
  {
    name: "a watch from an authenticated /check is recorded (it alerts like a pin)",
    owner: () => owner({ vouched: true }, good),
    steps: [[1, request(req({ watch: true })), ["save"], "reply:good(held)"]],
    then: (o) => expect(o.state?.watched).toBe(true),
  },
  {
    name: "a retry with nothing held backs off from the first minute",
    owner: () => owner({ pinned: true }),
    steps: [
      [
        0,
        fetched(fail),
        [
          "save",
          `alarm@${(retryAt(1, T, undefined, S) - T) / MIN}`,
          "log:refresh.failed",
          "report",
        ],
        "settled:tryLater/upstream",
      ],
    ],
  },
  {
    name: "a certificate that ends: its refresh is planned no later than its notAfter",
    owner: () =>
      owner({ pinned: true, leaf: { subject: "CN=a", mustStaple: false, notAfter: T + 10 * MIN } }),
    steps: [[0, fetched(ok(good)), ["save", "alarm@10", "publish", "report"], "settled:good"]],
  },
  {
    name: "at its notAfter a pinned certificate is forgotten: the CA is asked no more, the ledger told",
    owner: () =>
      owner(
        { pinned: true, leaf: { subject: "CN=a", mustStaple: true, notAfter: T + 10 * MIN } },
        good,
      ),
    steps: [[10, { on: "alarm" }, ["forget", "log:owner.forgotten", "report:ended"]]],
    then: (o) => expect(o.state).toBeUndefined(),
  },
  {
    name: "an ended certificate whose revocation was seen keeps it (no later good), refresh stopped",
    owner: () =>
      owner(
        {
          pinned: true,
          leaf: { subject: "CN=a", mustStaple: false, notAfter: T },
          revokedSeen: { revocationTime: T, seenAt: T },
        },
        revoked,
      ),
    steps: [[1, { on: "alarm" }, ["log:refresh.stopped", "report:ended"]]],
    then: (o) => expect(o.state?.revokedSeen).toBeDefined(),
  },
  {
    name: "unpinned: a certificate the CA vouched for is refreshed only while clients ask; told once",
    owner: () => owner({ pinned: true, vouched: true, watched: true }, good),
    steps: [
      [1, { on: "unpin" }, ["save", "report:unpinned"], "unpinned"],
      [2, { on: "unpin" }, [], "not pinned"],
    ],
    // Its idle clock starts at the unpin (a pinned one's touches are not all stored).
    then: (o) =>
      expect([o.state?.pinned, o.state?.watched, o.state?.lastRequestedAt]).toEqual([
        false,
        undefined,
        T + MIN,
      ]),
  },
  {
    name: "unpinned long after its last recorded request: a full idle period from the unpin",
    owner: () => owner({ pinned: true, vouched: true, lastRequestedAt: T - 30 * 24 * HOUR }, good),
    steps: [
      [0, { on: "unpin" }, ["save", "report:unpinned"], "unpinned"],
      [S.idleAfterMs / MIN - 1, { on: "alarm" }, ["lookupIssuer"]],
      [S.idleAfterMs / MIN + 1, { on: "alarm" }, ["forget", "log:owner.forgotten", "report:idle"]],
    ],
  },
  {
    name: "unpinned, never vouched for (its unknown): forgotten at the end of its window",
    owner: () => owner({ pinned: true }, unknown),
    steps: [
      [
        1,
        { on: "unpin" },
        ["save", `alarm@${(unknown.serveUntil - T) / MIN}`, "report:unpinned"],
        "unpinned",
      ],
      // The ledger was given that forgetAt with the unpin: the forgetting itself is not reported.
      [(unknown.serveUntil - T) / MIN, { on: "alarm" }, ["forget", "log:owner.forgotten"]],
    ],
  },
  {
    name: "never fetched (no row in the ledger): letting it go tells the ledger nothing",
    owner: () =>
      owner({
        pinned: true,
        vouched: true,
        fetches: 0,
        leaf: { subject: "CN=a", mustStaple: true, notAfter: T + 20 * MIN },
      }),
    steps: [
      [1, { on: "unpin" }, ["save"], "unpinned"],
      [20, { on: "alarm" }, ["forget", "log:owner.forgotten"]],
    ],
  },
];

describe("the OCSP owner's rules, event by event", () => {
  it.each(rows.map((r) => [r.name, r] as const))("%s", (_, row) => {
    const o = row.owner();
    for (const [minutes, event, effects, reply] of row.steps) {
      const s = step(o, event, T + minutes * MIN, R, S);
      expect(words(s.effects), `${event.on} at ${minutes} min`).toEqual(effects);
      expect(said(s.reply), `${event.on} at ${minutes} min`).toBe(reply);
    }
    row.then?.(o);
  });
});

describe("what the ledger is told when an owner lets a certificate go", () => {
  const told = (o: OcspOwner, e: OcspEvent, minutes: number) =>
    step(o, e, T + minutes * MIN, R, S).effects.flatMap((f) =>
      f.do === "report" ? [f.report] : [],
    );
  const who = { certIdKey: KEY, issuerId: issuer.id, serial: "01" };

  it("ended, idle: the CertID and the reason, so that its row goes", () => {
    const ending = owner({
      pinned: true,
      leaf: { subject: "CN=a", mustStaple: true, notAfter: T },
    });
    expect(told(ending, { on: "alarm" }, 1)).toEqual([{ retired: "ended", ...who, at: T + MIN }]);
    const idle = owner({ vouched: true }, good);
    const at = S.idleAfterMs / MIN + 1;
    expect(told(idle, { on: "alarm" }, at)).toEqual([
      { retired: "idle", ...who, at: T + at * MIN },
    ]);
  });

  it("unpinned: with the time its owner forgets it, when it is no longer refreshed", () => {
    expect(told(owner({ pinned: true, vouched: true }, good), { on: "unpin" }, 1)).toEqual([
      { retired: "unpinned", ...who, at: T + MIN },
    ]);
    expect(told(owner({ pinned: true }, unknown), { on: "unpin" }, 1)).toEqual([
      { retired: "unpinned", ...who, at: T + MIN, forgetAt: unknown.serveUntil },
    ]);
  });
});
