// One shape's simulation: the worker deployed in a World on a virtual clock, the issuer registered
// and the certificates pinned through the admin API, then the fleet's traffic for the shape's days,
// counting what each hit and each certificate costs.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseWranglerToml } from "../bench/wrangler-toml.ts";
import { loadWorker, type WorkerModule } from "./bundle.ts";
import { simCa, RESPONDER_URL, type SimCa } from "./ca.ts";
import { Clock, seeded, takeOverTime } from "./clock.ts";
import { Bill } from "./platform.ts";
import { NGINX, type Shape } from "./shapes.ts";
import { World } from "./world.ts";

const ORIGIN = "http://ocsp-relay.sim.example";
const TOKEN = "sim-admin-token";
export const START = Date.parse("2026-12-07T00:00:00Z");
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** What one admin request pins (the admin API answers inline up to a handful). */
const PIN_BATCH = 8;

export interface SimOptions {
  src: string;
  days?: number;
  cacheApi: boolean;
  seed: number;
  /** Progress lines on stderr. */
  progress: boolean;
}

export interface SimResult {
  shape: string;
  days: number;
  scale: number;
  certificates: number;
  /** Requests of the fleet (nginx, staple jobs): each one a hit, a miss or an error answer. */
  fleetRequests: number;
  answered: number;
  hostileRequests: number;
  setup: Bill;
  traffic: Bill;
  caRequests: { setup: number; traffic: number; byMonth: number[] };
  liveObjects: Record<string, number>;
  isolatesStarted: number;
  logs: Record<string, number>;
  backgroundErrors: string[];
}

export async function simulate(shape: Shape, o: SimOptions): Promise<SimResult> {
  const days = o.days ?? shape.days;
  const clock = new Clock(START);
  const random = seeded(o.seed);
  const restoreTime = takeOverTime(clock, random);
  const logs: Record<string, number> = {};
  const restoreConsole = quietLogs(logs);
  try {
    const mod = await loadWorker(join(o.src, "src"));
    const ca = await simCa({ windowMs: shape.windowMs, now: () => clock.now });
    const restorePlatform = mod.useDurableObjectPlatform({
      now: () => clock.now,
      random,
      fetch: ca.fetch,
    });
    try {
      return await run(shape, days, mod, ca, clock, random, o, logs);
    } finally {
      restorePlatform();
    }
  } finally {
    restoreConsole();
    restoreTime();
  }
}

async function run(
  shape: Shape,
  days: number,
  mod: WorkerModule,
  ca: SimCa,
  clock: Clock,
  random: () => number,
  o: SimOptions,
  logs: Record<string, number>,
): Promise<SimResult> {
  const wrangler = parseWranglerToml(readFileSync(join(o.src, "wrangler.toml"), "utf8"));
  const world = new World(mod, clock, random, {
    locations: shape.locations,
    isolatesPerLocation: shape.isolatesPerLocation,
    isolateIdleMs: 5 * 60_000,
    isolateLifeMs: HOUR,
    cacheApi: o.cacheApi,
    vars: { ...wrangler.vars, ADMIN_TOKEN: TOKEN },
    durableObjects: wrangler.durableObjects,
  });
  const admin = async (path: string, body: string) => {
    const res = await world.request(
      0,
      new Request(ORIGIN + path, {
        method: "POST",
        headers: { Authorization: `Bearer ${TOKEN}`, "Content-Type": "application/x-pem-file" },
        body,
      }),
    );
    const text = await res.text();
    await clock.settle();
    if (res.status >= 300) throw new Error(`POST ${path}: ${res.status} ${text.slice(0, 300)}`);
    return text;
  };

  // Setup: the issuer and every certificate registered, as an operator would.
  await admin(`/admin/issuers?responder=${encodeURIComponent(RESPONDER_URL)}`, ca.pem);
  let nextSerial = 0x100000;
  interface Slot {
    index: number;
    serial: number;
    path: string;
    generation: number;
  }
  const slots: Slot[] = [];
  const pending: string[] = [];
  const flushPins = async (query = "") => {
    while (pending.length)
      await admin(`/admin/certificates${query}`, pending.splice(0, PIN_BATCH).join(""));
  };
  const lifetime = shape.rotation?.lifetimeMs ?? 90 * DAY;
  for (let i = 0; i < shape.certificates; i++) {
    const serial = nextSerial++;
    const issued = START - (shape.rotation ? random() * shape.rotation.renewAfterMs : 10 * DAY);
    if (shape.pinned) pending.push(await ca.leaf(serial, issued, issued + lifetime));
    if (pending.length >= PIN_BATCH) await flushPins();
    slots.push({ index: i, serial, path: await ca.getPath(serial), generation: 0 });
    if (shape.rotation) scheduleRenewal(slots[i]!, issued + shape.rotation.renewAfterMs);
  }
  await flushPins();
  await clock.runUntil(clock.now + 60_000); // the pins' own work (KV writes, reports) lands
  const setup = structuredClone(world.bill);
  const setupCa = ca.requests;
  const before = snapshot(world.bill);

  function scheduleRenewal(slot: Slot, at: number) {
    const renewal = shape.rotation!;
    clock.at(at, async () => {
      const old = slot.serial;
      const serial = nextSerial++;
      const pem = await ca.leaf(serial, clock.now, clock.now + renewal.lifetimeMs);
      // Half the renewals retire the certificate they replace; the others leave it to end.
      await admin(
        `/admin/certificates${slot.index % 2 === 0 ? `?replaces=${old.toString(16)}` : ""}`,
        pem,
      );
      slot.serial = serial;
      slot.path = await ca.getPath(serial);
      slot.generation++;
      scheduleRenewal(slot, clock.now + renewal.renewAfterMs);
    });
  }

  // Traffic: every server's nginx workers (and staple jobs) ask for their certificates.
  let fleetRequests = 0;
  let answered = 0;
  let hostileRequests = 0;
  const locationOf = (cert: number, server: number) =>
    (cert * shape.serversPerCert + server) % shape.locations;
  const ask = (slot: Slot, location: number, post: boolean) => async () => {
    fleetRequests++;
    const request = post
      ? new Request(ORIGIN + "/", {
          method: "POST",
          headers: { "Content-Type": "application/ocsp-request" },
          body: Buffer.from(decodeURIComponent(slot.path.slice(1)), "base64"),
        })
      : new Request(ORIGIN + slot.path);
    const res = await world.request(location, request);
    const body = new Uint8Array(await res.arrayBuffer());
    const good = res.status === 200 && responseStatus(body) === 0;
    if (good) answered++;
    const next = good ? NGINX.refreshMs + random() * 30_000 : NGINX.retryMs;
    clock.at(clock.now + next, ask(slot, location, post));
  };
  for (const slot of slots) {
    for (let s = 0; s < shape.serversPerCert; s++) {
      for (let w = 0; w < shape.workersPerServer; w++)
        clock.at(clock.now + random() * HOUR, ask(slot, locationOf(slot.index, s), false));
    }
    if (shape.stapleJobs)
      clock.at(clock.now + random() * HOUR, ask(slot, locationOf(slot.index, 0), true));
  }
  if (shape.hostilePerSecond) {
    const every = 1000 / shape.hostilePerSecond;
    const hostile = async () => {
      hostileRequests++;
      const path = await ca.getPath(0x7000_0000 + Math.floor(random() * 0x0fff_ffff));
      const res = await world.request(
        Math.floor(random() * shape.locations),
        new Request(ORIGIN + path),
      );
      await res.arrayBuffer();
      clock.at(clock.now + every, hostile);
    };
    clock.at(clock.now + every, hostile);
  }

  const end = clock.now + days * DAY;
  const byMonth: number[] = [];
  let caAtMonth = ca.requests;
  const t0 = process.hrtime.bigint();
  for (let day = 1; clock.now < end; day++) {
    await clock.runUntil(Math.min(end, clock.now + DAY));
    if (day % 30 === 0 || clock.now >= end) {
      byMonth.push(ca.requests - caAtMonth);
      caAtMonth = ca.requests;
    }
    if (o.progress && (day % 7 === 0 || clock.now >= end))
      process.stderr.write(
        `  ${shape.name}: day ${day}/${days}, ${fleetRequests} requests, CA ${ca.requests}, ` +
          `${(Number(process.hrtime.bigint() - t0) / 1e9).toFixed(0)} s\n`,
      );
  }
  return {
    shape: shape.name,
    days,
    scale: shape.scale,
    certificates: shape.certificates,
    fleetRequests,
    answered,
    hostileRequests,
    setup,
    traffic: diff(world.bill, before),
    caRequests: { setup: setupCa, traffic: ca.requests - setupCa, byMonth },
    liveObjects: world.liveObjects(),
    isolatesStarted: world.isolatesStarted,
    logs,
    backgroundErrors: clock.backgroundErrors,
  };
}

function snapshot(b: Bill): Bill {
  return structuredClone(b);
}

/** What was counted since `before`. */
function diff(now: Bill, before: Bill): Bill {
  const out = new Bill();
  for (const [k, v] of Object.entries(now) as [keyof Bill, unknown][]) {
    const b = before[k] as unknown;
    if (typeof v === "number") (out as unknown as Record<string, number>)[k] = v - (b as number);
    else if (v && typeof v === "object") {
      const o = (out as unknown as Record<string, Record<string, number>>)[k]!;
      for (const [kk, vv] of Object.entries(v as Record<string, number>))
        o[kk] = vv - ((b as Record<string, number>)[kk] ?? 0);
    }
  }
  return out;
}

/** The worker's JSON logs, counted by event instead of printed. */
function quietLogs(counts: Record<string, number>): () => void {
  const original = console.log;
  console.log = (line: unknown) => {
    const event = typeof line === "string" ? /"event":"([^"]+)"/.exec(line)?.[1] : undefined;
    counts[event ?? "other"] = (counts[event ?? "other"] ?? 0) + 1;
  };
  return () => {
    console.log = original;
  };
}

/** An OCSPResponse's responseStatus (0: successful): SEQUENCE { ENUMERATED, ... }. */
function responseStatus(der: Uint8Array): number | undefined {
  if (der[0] !== 0x30 || der[1] === undefined) return undefined;
  const at = der[1] < 0x80 ? 2 : 2 + (der[1] & 0x7f);
  return der[at] === 0x0a && der[at + 1] === 1 ? der[at + 2] : undefined;
}
