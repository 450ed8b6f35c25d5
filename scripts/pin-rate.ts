// What a CA sees of a bulk pin (issue 18 §4): N certificates of one issuer sent to POST
// /admin/certificates the way `ocsp-relay pin` sends them (batches under the 256 KiB cap, about 150
// PEM leaves each, one after another), stored by the issuer's pin queue and drained by its alarm.
// The queue is the worker's own code (src/fleet/pin-queue-logic.ts, as the PinQueue Durable Object
// runs it) over storage in memory on a virtual clock; each drained pin stands for one CA request.
// Prints the CA requests per minute over time, and the queue's own figures.
//
//   npx tsx scripts/pin-rate.ts [--leaves 10000] [--rate 60] [--batch 150] [--fail 0]
//
// --rate: PIN_RATE_PER_MINUTE; --fail: the share of CA requests that fail (retried by the queue).

import { parseArgs } from "node:util";
import type { IssuerRecord } from "../src/issuers/issuer.ts";
import { MAX_CALLS_PER_DRAIN, type PinRequest } from "../src/fleet/pin-queue.ts";
import { PinQueueLogic } from "../src/fleet/pin-queue-logic.ts";
import { MemoryPinStorage } from "../test/support/memory-pin-storage.ts";

const { values } = parseArgs({
  options: {
    leaves: { type: "string", default: "10000" },
    rate: { type: "string", default: "60" },
    batch: { type: "string", default: "150" },
    fail: { type: "string", default: "0" },
  },
});
const LEAVES = Number(values.leaves);
const RATE = Number(values.rate);
const BATCH = Number(values.batch);
const FAIL = Number(values.fail);
const MIN = 60_000;
const T0 = Date.UTC(2026, 11, 10, 12, 0, 0);

const issuer: IssuerRecord = {
  id: "a1b2c3d4e5f60718",
  subject: "C=XX, O=Example CA, CN=Example Issuing CA",
  responderUrl: "http://ocsp.example-ca.com/",
  certificate: "",
  hashes: {} as IssuerRecord["hashes"],
  notAfter: "2036-01-01T00:00:00Z",
  createdAt: "2026-12-01T00:00:00Z",
};

function leaf(i: number): PinRequest {
  const serial = (0x4000000 + i).toString(16);
  const serialNumber = Uint8Array.from(serial.match(/../g)!, (h) => parseInt(h, 16));
  return {
    serial,
    leaf: { subject: `C=XX, CN=host${i}.example.net`, mustStaple: false },
    target: {
      kind: "ocsp",
      certIdKey: `SHA-1:00:00:${serial}`,
      certId: {
        hashAlgorithm: "1.3.14.3.2.26",
        hashName: "SHA-1",
        issuerNameHash: new Uint8Array(20),
        issuerKeyHash: new Uint8Array(20),
        serialNumber,
      },
    },
  };
}

let clock = T0;
const storage = new MemoryPinStorage();
const fetches: number[] = [];
const drains: number[] = [];
let random = 0x2545f491; // a fixed xorshift stream: the same failures every run
const draw = () => {
  random ^= random << 13;
  random ^= random >>> 17;
  random ^= random << 5;
  return (random >>> 0) / 2 ** 32;
};
const queue = new PinQueueLogic({
  storage,
  now: () => clock,
  perMinute: RATE,
  currentIssuer: async () => issuer,
  pin: async () => {
    fetches.push(clock);
    drains[drains.length - 1]!++;
    return draw() < FAIL ? { ok: false, error: "HTTP 503" } : { ok: true };
  },
});

// The bulk requests: one batch every 0.5 s (each answered at once: 202), the alarm firing between.
let receipt: Awaited<ReturnType<PinQueueLogic["enqueue"]>> | undefined;
let requests = 0;
for (let from = 0; from < LEAVES; from += BATCH) {
  const ids = Array.from({ length: Math.min(BATCH, LEAVES - from) }, (_, i) => from + i);
  requests++;
  receipt = await queue.enqueue(issuer.id, ids.map(leaf));
  await advanceTo(clock + 500);
}
const lastRequestAt = clock - 500;
await advanceTo(Number.POSITIVE_INFINITY);

/** Fires the queue's alarm as the platform would, up to time `t`. */
async function advanceTo(t: number): Promise<void> {
  for (;;) {
    const at = storage.alarm;
    if (at === undefined || at > t) break;
    clock = Math.max(clock, at);
    storage.alarm = undefined;
    drains.push(0);
    await queue.alarm();
  }
  if (Number.isFinite(t)) clock = Math.max(clock, t);
}

const progress = await queue.progress(issuer.id);
const minutes = Math.floor((Math.max(...fetches) - T0) / MIN) + 1;
const perMinute = Array.from({ length: minutes }, () => 0);
for (const t of fetches) perMinute[Math.floor((t - T0) / MIN)]!++;

const mmss = (ms: number) =>
  `${String(Math.floor(ms / 3_600_000)).padStart(2, "0")}:${String(Math.floor((ms % 3_600_000) / MIN)).padStart(2, "0")}`;
const out = (line = "") => process.stdout.write(`${line}\n`);

out(`bulk pin of ${LEAVES} certificates of one issuer, PIN_RATE_PER_MINUTE=${RATE}`);
out(
  `requests: ${requests} POST /admin/certificates of up to ${BATCH} leaves, one every 0.5 s, each answered 202 at once (the last ${(lastRequestAt - T0) / 1000} s after the first)`,
);
out(
  `queue: ${drains.length} alarms, at most ${Math.max(...drains)} owner calls in one (bound ${MAX_CALLS_PER_DRAIN}); ` +
    `done ${progress.done}, failed ${progress.failed}, CA requests ${fetches.length}`,
);
out(
  `last fetch at ${mmss(Math.max(...fetches) - T0)}; the last request's 202 estimated ${receipt?.lastExpectedAt === undefined ? "-" : mmss(receipt.lastExpectedAt - T0)}`,
);
out();
out("CA requests per minute (hh:mm since the first request):");
const scale = Math.max(...perMinute) / 50;
const shown = new Set<number>();
for (let m = 0; m < minutes; m++) {
  // Every minute of the first 5 and the last 3; one line per 10 minutes between (their range).
  if (m < 5 || m >= minutes - 3) shown.add(m);
  else if (m % 10 === 0) shown.add(m);
}
for (let m = 0; m < minutes; m++) {
  if (!shown.has(m)) continue;
  const block = m >= 5 && m < minutes - 3 ? perMinute.slice(m, Math.min(m + 10, minutes - 3)) : [];
  const n = perMinute[m]!;
  const range =
    block.length > 1
      ? `  (minutes ${mmss(m * MIN)}–${mmss((m + block.length - 1) * MIN)}: ${Math.min(...block)}–${Math.max(...block)} per minute)`
      : "";
  out(`${mmss(m * MIN)}  ${String(n).padStart(4)}  ${"#".repeat(Math.round(n / scale))}${range}`);
}
out();
out(
  `per minute: max ${Math.max(...perMinute)}, median ${[...perMinute].sort((a, b) => a - b)[Math.floor(minutes / 2)]}, over ${minutes} minutes`,
);
