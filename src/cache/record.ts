// The cached form of a verified OCSP answer and its KV layout (storage-schema.md, STYLE habit 7).
// The exact DER that was verified is stored as the KV value; the facts the core extracted ride in
// the KV metadata, so one read gives both. Pure.

import type { Accepted } from "../ocsp/verify.ts";
import { toHex, digest } from "../ocsp/bytes.ts";
import { serveUntil } from "./freshness.ts";

/** Version of the key layout and record format; bump to never read old bytes wrong. */
export const SCHEMA_VERSION = "v1";

export const KV_KEYS = {
  /** The verified DER of the answer for one CertID (see certIdKey()). */
  response: (certIdKey: string) => `${SCHEMA_VERSION}:resp:${certIdKey}`,
  /** The registered issuers, one JSON document. */
  issuers: `${SCHEMA_VERSION}:issuers`,
} as const;

/** KV refuses expirations sooner than 60 s from now. */
export const KV_MIN_TTL_SECONDS = 60;

export type CertStatusName = "good" | "revoked" | "unknown";

/** What the relay knows about a verified answer, beside its bytes. Times are epoch milliseconds. */
export interface AnswerFacts {
  certIdKey: string;
  issuerId: string;
  status: CertStatusName;
  revocationTime?: number;
  revocationReason?: string;
  thisUpdate: number;
  nextUpdate: number;
  producedAt: number;
  fetchedAt: number;
  /** Served until this time: nextUpdate, or sooner for `unknown` (fleet/schedule.ts serveUntil). */
  serveUntil: number;
  /** Strong validator of the DER: "<first 16 bytes of SHA-256, hex>". */
  etag: string;
}

export interface CachedAnswer extends AnswerFacts {
  der: Uint8Array;
}

export async function answerFromVerdict(
  verdict: Accepted,
  issuerId: string,
  certIdKey: string,
  fetchedAt: number,
  unknownMaxAgeMs: number,
): Promise<CachedAnswer> {
  const s = verdict.certStatus;
  const der = verdict.basic.der;
  return {
    der,
    certIdKey,
    issuerId,
    status: s.status,
    ...(s.status === "revoked"
      ? {
          revocationTime: s.revocationTime.getTime(),
          ...(s.revocationReason ? { revocationReason: s.revocationReason } : {}),
        }
      : {}),
    thisUpdate: verdict.thisUpdate.getTime(),
    nextUpdate: verdict.nextUpdate.getTime(),
    producedAt: verdict.producedAt.getTime(),
    fetchedAt,
    serveUntil: serveUntil(
      { status: s.status, nextUpdate: verdict.nextUpdate.getTime(), fetchedAt },
      { unknownMaxAgeMs },
    ),
    etag: `"${toHex((await digest("SHA-256", der)).subarray(0, 16))}"`,
  };
}

/** An answer may be served while now < serveUntil (≤ nextUpdate); never at or after it. */
export function isFresh(facts: Pick<AnswerFacts, "serveUntil">, now: number): boolean {
  return now < facts.serveUntil;
}

/**
 * KV `expirationTtl` (seconds from now) for an answer: until serveUntil, but never under KV's
 * 60-second minimum. Relative, so a clock difference between the worker and KV cannot make a
 * write fail or an entry live longer; every read checks serveUntil anyway.
 */
export function kvExpirationTtl(facts: Pick<AnswerFacts, "serveUntil">, now: number): number {
  return Math.max(KV_MIN_TTL_SECONDS, Math.ceil((facts.serveUntil - now) / 1000));
}

/** Metadata from KV, checked: undefined unless every field has the right type. */
export function parseFacts(meta: unknown): AnswerFacts | undefined {
  if (!meta || typeof meta !== "object") return undefined;
  const m = meta as Record<string, unknown>;
  const num = (k: string) => typeof m[k] === "number" && Number.isFinite(m[k]);
  const str = (k: string) => typeof m[k] === "string";
  if (!str("certIdKey") || !str("issuerId") || !str("etag")) return undefined;
  if (!["good", "revoked", "unknown"].includes(m.status as string)) return undefined;
  const times = ["thisUpdate", "nextUpdate", "producedAt", "fetchedAt", "serveUntil"];
  if (!times.every(num)) {
    return undefined;
  }
  return m as unknown as AnswerFacts;
}

export function factsOf(answer: CachedAnswer): AnswerFacts {
  const { der: _der, ...facts } = answer;
  return facts;
}
