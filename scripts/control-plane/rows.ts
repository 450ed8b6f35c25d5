// The fleet the control-plane scripts fill the ledger with (time.ts, status-screenshot.ts): the
// i-th certificate's CertSummary row, as its owner's reports would leave it. Bundled into the
// workerd worker those scripts run, so both fill the FleetLedger with exactly these rows.

import type { CertSummary } from "../../src/fleet/ledger-types.ts";

const HOUR = 3_600_000;

/** Two issuers by default (time.ts): the ids need not be registered for the ledger's rows. */
export const DEFAULT_ISSUERS = [
  "0123456789abcdef0123456789abcdef01234567",
  "fedcba9876543210fedcba9876543210fedcba98",
];

/** The serial of the i-th certificate (hex, as the ledger keeps it). */
export const fleetSerial = (i: number) => (0x10000000 + i).toString(16).padStart(32, "0");

/**
 * The i-th row: issuers in turn, SHA-256 CertIDs, one in 997 failing, one in 4001 Must-Staple and at
 * risk (an hour left, refresh failing), one in 5000 revoked; the rest good, 3 h to 7 days left.
 */
export function fleetRow(i: number, now: number, issuers = DEFAULT_ISSUERS): CertSummary {
  const serial = fleetSerial(i);
  const risky = i % 4001 === 3;
  const failing = risky || i % 997 === 5;
  const revoked = i % 5000 === 1;
  return {
    certIdKey: `SHA-256:${"ab".repeat(32)}:${"cd".repeat(32)}:${serial}`,
    issuerId: issuers[i % issuers.length]!,
    serial,
    subject: `CN=host-${i}.fleet.example,O=Example Fleet`,
    mustStaple: risky,
    pinned: true,
    status: revoked ? "revoked" : "good",
    ...(revoked ? { revocationTime: now - 2 * HOUR, revocationReason: "keyCompromise" } : {}),
    thisUpdate: now - 4 * HOUR,
    nextUpdate: now + (risky ? HOUR : 3 * HOUR + (i % 10_000) * 60_000),
    lastFetchAt: now - HOUR,
    lastSuccessAt: now - HOUR,
    failures: failing ? 2 : 0,
    // Its fetches, counted in its row (fleet/ledger-totals.ts): the pages add them up.
    fetched: {
      fetches: 3 + (i % 5),
      errors: failing ? 2 : 0,
      rejections: 0,
      latencyMsSum: 120 * (3 + (i % 5)),
    },
    ...(failing
      ? { lastError: "the CA's responder failed: HTTP 503", lastErrorAt: now - HOUR }
      : {}),
  };
}

/** What fillLedger uses of a Durable Object's storage (DurableObjectStorage). */
export interface FillableStorage {
  deleteAll(): Promise<void>;
  /** Many entries in one write. */
  put(entries: Record<string, unknown>): Promise<void>;
}

/** The FleetLedger's storage emptied, then filled with rows 0 to n-1, 128 a write. */
export async function fillLedger(
  storage: FillableStorage,
  n: number,
  now: number,
  issuers = DEFAULT_ISSUERS,
): Promise<number> {
  await storage.deleteAll();
  for (let from = 0; from < n; from += 128) {
    const entries: Record<string, CertSummary> = {};
    for (let i = from; i < Math.min(n, from + 128); i++) {
      const c = fleetRow(i, now, issuers);
      entries[`cert:${c.certIdKey}`] = c;
    }
    await storage.put(entries);
  }
  return n;
}
