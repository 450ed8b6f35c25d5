// The worker's configuration: the text variables of the Env (wrangler.toml [vars] and secrets),
// typed once and parsed in one place. Durable Objects take only these (and the bindings they use),
// so nothing here depends on a Durable Object class.

import { MIN_IDLE_MS } from "./cache/freshness.ts";
import { DEFAULT_BUDGET, type BudgetConfig } from "./fleet/budget.ts";
import type { AlertConfig } from "./fleet/ledger.ts";
import { DEFAULT_PIN_RATE_PER_MINUTE } from "./fleet/pin-queue.ts";
import { DEFAULT_SCHEDULE, type ScheduleConfig } from "./fleet/schedule.ts";
import { DEFAULT_METRICS_SAMPLE } from "./metrics/counters.ts";
import { VERSION } from "./version.ts";

/** The text variables every part of the worker may read (README "Configuration"). */
export interface ConfigVars {
  /** Bearer token of the admin API; without it the admin API is refused. */
  ADMIN_TOKEN?: string;
  /** Upstream timeout in milliseconds (default 5000, at most 30000). */
  UPSTREAM_TIMEOUT_MS?: string;
  /** "true" lets issuers use loopback/private responder URLs (local setups and tests). */
  ALLOW_PRIVATE_RESPONDERS?: string;
  /** Seconds without a client request after which a certificate stops being refreshed (default 7 days). */
  IDLE_REFRESH_SECONDS?: string;
  /** First retry delay after a failed refresh, in seconds (default 60; doubles, capped). */
  REFRESH_BACKOFF_SECONDS?: string;
  /** Longest retry delay, in seconds (default 3600). */
  REFRESH_BACKOFF_CAP_SECONDS?: string;
  /** How long an `unknown` answer is served, in seconds (default 300). */
  UNKNOWN_MAX_AGE_SECONDS?: string;
  /** "true" exposes GET /__bench/ops (operation counts) for the benchmark. */
  BENCH_MODE?: string;
  /** "true" serves /status and /metrics without the admin token. */
  STATUS_PUBLIC?: string;
  /** Where alerts are POSTed as JSON (optional). */
  ALERT_WEBHOOK_URL?: string;
  /** A Must-Staple certificate whose answer has less than this left while refresh fails is at risk (default 86400). */
  ALERT_MUST_STAPLE_MARGIN_SECONDS?: string;
  /** Consecutive failed fetches after which a responder is reported failing (default 3). */
  ALERT_RESPONDER_FAILURES?: string;
  /** "registered": only pinned certificates are relayed (default "open"). */
  OCSP_ACCESS?: string;
  /** Fleet keys (secret, comma or space separated): the OCSP endpoint answers only under /k/<key>/. */
  OCSP_KEYS?: string;
  /** First fetches of unpinned certificates one issuer may spend at once (default 40). */
  UPSTREAM_BUDGET_BURST?: string;
  /** ... and per minute after that (default 60). */
  UPSTREAM_BUDGET_PER_MINUTE?: string;
  /** A URL or mail address added to the User-Agent the CA sees. */
  UPSTREAM_CONTACT?: string;
  /** Queued pins (bulk POST /admin/certificates) fetched per minute per issuer (default 60). */
  PIN_RATE_PER_MINUTE?: string;
  /** Requests counted for /metrics: one in this many, as this many (default 512; 1 = every one). */
  METRICS_SAMPLE?: string;
}

/** Who may make the relay ask a CA: anyone (a registered issuer's certificates), or pinned only. */
export type OcspAccess = "open" | "registered";

/** A fleet key: URL-safe, long enough not to be guessed. */
const FLEET_KEY = /^[A-Za-z0-9._~-]{16,256}$/;

export interface Config {
  adminToken: string | undefined;
  upstreamTimeoutMs: number;
  allowPrivateResponders: boolean;
  schedule: ScheduleConfig;
  statusPublic: boolean;
  alertWebhookUrl: string | undefined;
  alerts: AlertConfig;
  access: OcspAccess;
  /** Fleet keys; undefined when OCSP_KEYS is unset (the endpoint is open), empty when none is valid (closed). */
  fleetKeys: readonly string[] | undefined;
  budget: BudgetConfig;
  /** Queued pins first fetched per minute, per issuer (fleet/pin-queue.ts). */
  pinRatePerMinute: number;
  /** One request in this many is counted, as this many (metrics/counters.ts). */
  metricsSample: number;
  userAgent: string;
}

export function configFrom(env: ConfigVars): Config {
  /** A positive number of seconds, in milliseconds. */
  const seconds = (value: string | undefined, fallbackMs: number) =>
    positiveNumber(value, fallbackMs / 1000) * 1000;
  const timeout = Number(env.UPSTREAM_TIMEOUT_MS ?? "5000");
  return {
    adminToken: env.ADMIN_TOKEN || undefined,
    upstreamTimeoutMs: Number.isFinite(timeout) && timeout > 0 ? Math.min(timeout, 30_000) : 5000,
    allowPrivateResponders: env.ALLOW_PRIVATE_RESPONDERS === "true",
    statusPublic: env.STATUS_PUBLIC === "true",
    alertWebhookUrl: env.ALERT_WEBHOOK_URL || undefined,
    alerts: {
      mustStapleMarginMs: seconds(env.ALERT_MUST_STAPLE_MARGIN_SECONDS, 24 * 60 * 60 * 1000),
      responderFailures: positiveInteger(env.ALERT_RESPONDER_FAILURES, 3),
    },
    // Anything but "open" (or unset) closes the endpoint: a typo fails safe.
    access: ["", "open"].includes((env.OCSP_ACCESS ?? "").trim()) ? "open" : "registered",
    fleetKeys: parseFleetKeys(env.OCSP_KEYS),
    budget: {
      burst: positiveInteger(env.UPSTREAM_BUDGET_BURST, DEFAULT_BUDGET.burst),
      perMinute: positiveNumber(env.UPSTREAM_BUDGET_PER_MINUTE, DEFAULT_BUDGET.perMinute),
    },
    pinRatePerMinute: positiveNumber(env.PIN_RATE_PER_MINUTE, DEFAULT_PIN_RATE_PER_MINUTE),
    metricsSample: positiveInteger(env.METRICS_SAMPLE, DEFAULT_METRICS_SAMPLE),
    userAgent: userAgent(env.UPSTREAM_CONTACT),
    schedule: {
      ...DEFAULT_SCHEDULE,
      // Never below MIN_IDLE_MS: a certificate still asked for is heard of every 3 days at least.
      idleAfterMs: Math.max(
        MIN_IDLE_MS,
        seconds(env.IDLE_REFRESH_SECONDS, DEFAULT_SCHEDULE.idleAfterMs),
      ),
      backoffBaseMs: seconds(env.REFRESH_BACKOFF_SECONDS, DEFAULT_SCHEDULE.backoffBaseMs),
      backoffCapMs: seconds(env.REFRESH_BACKOFF_CAP_SECONDS, DEFAULT_SCHEDULE.backoffCapMs),
      unknownMaxAgeMs: seconds(env.UNKNOWN_MAX_AGE_SECONDS, DEFAULT_SCHEDULE.unknownMaxAgeMs),
    },
  };
}

function positiveInteger(value: string | undefined, fallback: number): number {
  const n = Number(value);
  return value !== undefined && Number.isInteger(n) && n > 0 ? n : fallback;
}

function positiveNumber(value: string | undefined, fallback: number): number {
  const n = Number(value);
  return value !== undefined && value !== "" && Number.isFinite(n) && n > 0 ? n : fallback;
}

/** OCSP_KEYS: keys separated by commas or white space; malformed ones are dropped. */
export function parseFleetKeys(value: string | undefined): readonly string[] | undefined {
  // Set, even to nothing usable, closes the endpoint: an empty secret never opens it.
  if (value === undefined) return undefined;
  return value.split(/[\s,]+/).filter((k) => FLEET_KEY.test(k));
}

/** The User-Agent the CA sees: the product and version, and the operator's contact when given. */
export function userAgent(contact: string | undefined): string {
  const c = (contact ?? "")
    .replace(/[^\x20-\x7e]/g, "")
    .replace(/[()]/g, "")
    .trim()
    .slice(0, 200);
  return c ? `ocsp-relay/${VERSION} (+${c})` : `ocsp-relay/${VERSION}`;
}
