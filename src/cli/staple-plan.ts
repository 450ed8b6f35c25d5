// The rules of `ocsp-relay staple` over many certificates, with no I/O: `now` and `random` are
// arguments. Which answer a file keeps (RFC 6960 §4.2.2.1: the later thisUpdate is the newer
// statement), when a certificate is next due (RFC 5019 §6: refresh well before nextUpdate), the
// summary line and the exit code a monitor reads.

export interface AnswerTimes {
  thisUpdate: number;
  nextUpdate: number;
}

/** What a staple file holds, judged by the core's verifier at the time of the run. */
export type FileState =
  | { kind: "valid"; status: "good" | "revoked"; times: AnswerTimes }
  | { kind: "missing" }
  /** Valid now, but for less than --min-validity: about to expire. */
  | { kind: "expiring"; times: AnswerTimes }
  /** Unreadable, not a valid answer for this certificate (expired, "unknown", ...). */
  | { kind: "unusable"; why: string };

/** One certificate after one run. */
export type Outcome =
  /** The file already held this answer (or a newer one): not written. */
  | { kind: "fresh"; file: FileState & { kind: "valid" } }
  /** A different, newer, verified answer was written. */
  | { kind: "updated"; file: FileState & { kind: "valid" } }
  /** No acceptable answer: nothing written; `file` is what the server still has. */
  | { kind: "failed"; why: string; file: FileState };

/**
 * Whether a verified answer from the relay replaces the file: only when it differs and is not
 * older than a valid answer the file already holds (another edge may hand out an older copy).
 */
export function replaces(
  fetched: { bytes: Uint8Array; times: AnswerTimes },
  file: { bytes: Uint8Array; state: FileState } | undefined,
): boolean {
  if (!file) return true;
  if (sameBytes(fetched.bytes, file.bytes)) return false;
  if (file.state.kind !== "valid") return true;
  return fetched.times.thisUpdate >= file.state.times.thisUpdate;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** A file whose answer is valid at `now` for at least `minValidityMs` more. */
export function usable(times: AnswerTimes, now: number, minValidityMs: number): boolean {
  return times.thisUpdate <= now && times.nextUpdate - now >= Math.max(minValidityMs, 1);
}

// ---------------------------------------------------------------------------------------------
// Exit code and summary

export const EXIT = {
  /** Every certificate's file holds a valid, good answer, and nothing failed. */
  ok: 0,
  /** Something failed (or is revoked, or the push/reload failed), but every file is still valid. */
  degraded: 1,
  /** Usage error or unreadable input (the CLI's usual 2). */
  usage: 2,
  /** At least one certificate has no usable staple file: missing, unusable, or expiring. */
  noStaple: 3,
} as const;

export interface RunReport {
  outcomes: readonly Outcome[];
  /** Changed answers pushed to HAProxy's runtime API, and how many of those pushes failed. */
  pushed: number;
  pushFailed: number;
  /** The reload command: not run (nothing changed, or none given), or its exit code. */
  reload: "none" | "skipped" | { code: number | null };
}

export function exitCode(r: RunReport): number {
  if (r.outcomes.some((o) => o.file.kind !== "valid")) return EXIT.noStaple;
  const reloadFailed = typeof r.reload === "object" && r.reload.code !== 0;
  if (
    r.pushFailed > 0 ||
    reloadFailed ||
    r.outcomes.some(
      (o) => o.kind === "failed" || (o.file.kind === "valid" && o.file.status === "revoked"),
    )
  )
    return EXIT.degraded;
  return EXIT.ok;
}

/**
 * One line for people and monitors, e.g.
 * `staple: 50 certificates, 48 fresh, 2 updated, 0 failed; pushed 2 to HAProxy; next refresh due in 3h 12m`.
 */
export function summaryLine(r: RunReport, next: string | undefined): string {
  const count = (kind: Outcome["kind"]) => r.outcomes.filter((o) => o.kind === kind).length;
  const revoked = r.outcomes.filter((o) => o.file.kind === "valid" && o.file.status === "revoked");
  const without = r.outcomes.filter((o) => o.file.kind !== "valid").length;
  const n = r.outcomes.length;
  const parts = [
    `staple: ${n} certificate${n === 1 ? "" : "s"}, ${count("fresh")} fresh, ${count("updated")} updated, ${count("failed")} failed` +
      (revoked.length > 0 ? `, ${revoked.length} REVOKED` : "") +
      (without > 0 ? `, ${without} without a usable staple` : ""),
  ];
  if (r.pushed > 0 || r.pushFailed > 0)
    parts.push(
      `pushed ${r.pushed - r.pushFailed} to HAProxy${r.pushFailed > 0 ? ` (${r.pushFailed} refused)` : ""}`,
    );
  if (typeof r.reload === "object")
    parts.push(r.reload.code === 0 ? "reloaded" : `reload FAILED (exit ${r.reload.code})`);
  if (next) parts.push(next);
  return parts.join("; ");
}

// ---------------------------------------------------------------------------------------------
// Schedule (--watch)

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
/** A watch never sleeps less (no busy loop) nor more (it re-reads its inputs at least hourly). */
export const MIN_SLEEP_MS = 30_000;
export const MAX_SLEEP_MS = HOUR;

/**
 * The refresh point of an answer: halfway from thisUpdate to nextUpdate (RFC 5019 §6 asks for a
 * refresh well before nextUpdate; the relay itself has a newer answer by then), and never later
 * than the moment the answer stops meeting --min-validity.
 */
export function refreshPoint(times: AnswerTimes, minValidityMs: number): number {
  const half = times.thisUpdate + (times.nextUpdate - times.thisUpdate) / 2;
  return Math.min(half, times.nextUpdate - minValidityMs);
}

/**
 * When a certificate is next asked about. `times`: the answer its file holds (if valid);
 * `failures`: attempts in a row that got no acceptable answer; `random` in [0, 1).
 * - Before its refresh point: wake ahead of it by up to a tenth of the answer's span (at most an
 *   hour), so servers holding the same answer do not all ask in the same second.
 * - Past it (the relay still had the same answer) or failing: retry with backoff from a minute,
 *   doubling per failure, at most an hour, and at most a quarter of the time the file has left.
 */
export function nextAttempt(o: {
  now: number;
  times: AnswerTimes | undefined;
  failures: number;
  minValidityMs: number;
  random: number;
}): number {
  const { now, times, failures, random } = o;
  if (times && failures === 0) {
    const point = refreshPoint(times, o.minValidityMs);
    if (point > now) {
      const spread = Math.min((times.nextUpdate - times.thisUpdate) / 10, HOUR);
      return Math.max(now, point - random * spread);
    }
  }
  let delay = Math.min(MINUTE * 2 ** Math.min(Math.max(failures - 1, 0), 6), HOUR);
  if (failures === 0) delay = HOUR; // unchanged past its refresh point: the relay refreshes soon
  if (times && times.nextUpdate > now)
    delay = Math.min(delay, Math.max(MINUTE, (times.nextUpdate - now) / 4));
  return now + delay * (1 - 0.2 * random);
}

/** How long a watch sleeps until its earliest due certificate, within its bounds. */
export function sleepUntil(dueTimes: readonly number[], now: number): number {
  const earliest = dueTimes.reduce((min, t) => Math.min(min, t), now + MAX_SLEEP_MS);
  return Math.min(Math.max(earliest - now, MIN_SLEEP_MS), MAX_SLEEP_MS);
}
