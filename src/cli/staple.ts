// `ocsp-relay staple`: keeps the OCSP staple files of many certificates fresh from the relay
// (files, directories, HAProxy crt-lists; staple-targets.ts), once (for a timer) or as a
// long-running --watch that wakes ahead of each answer's refresh point (staple-plan.ts). Each
// answer is verified before it is written (staple-fetch.ts); changed answers are pushed to
// HAProxy's runtime API and the reload command runs only when a file changed (staple-servers.ts).

import { readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import {
  fleetKey,
  formatDuration,
  parse,
  parseDuration,
  relayUrl,
  say,
  UsageError,
} from "./args.ts";
import { refreshOne, type FetchContext, type Refreshed } from "./staple-fetch.ts";
import {
  exitCode,
  nextAttempt,
  sleepUntil,
  summaryLine,
  type AnswerTimes,
  type Outcome,
  type RunReport,
} from "./staple-plan.ts";
import {
  isPending,
  pushAdvice,
  pushOcspResponse,
  runReloadCommand,
  setPending,
} from "./staple-servers.ts";
import { collectTargets, type Inputs, type Problem, type Target } from "./staple-targets.ts";

interface Options {
  inputs: Inputs;
  ctx: Omit<FetchContext, "signal">;
  concurrency: number;
  haproxySocket: string | undefined;
  reloadCmd: string | undefined;
  verbose: boolean;
}

export async function stapleCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    relay: { type: "string" },
    issuer: { type: "string" },
    out: { type: "string" },
    "crt-list": { type: "string", multiple: true },
    "crt-base": { type: "string" },
    "min-validity": { type: "string" },
    timeout: { type: "string", default: "30s" },
    concurrency: { type: "string", default: "8" },
    watch: { type: "boolean", default: false },
    "haproxy-socket": { type: "string" },
    "reload-cmd": { type: "string" },
    verbose: { type: "boolean", default: false },
    "fleet-key": { type: "string" },
  });
  const concurrency = Number(values.concurrency);
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64)
    throw new UsageError(`--concurrency ${values.concurrency} must be a whole number from 1 to 64`);
  const o: Options = {
    inputs: {
      paths: positionals,
      crtLists: values["crt-list"] ?? [],
      crtBase: values["crt-base"],
      issuerFile: values.issuer,
      out: values.out,
    },
    ctx: {
      relay: relayUrl(values.relay),
      fleetKey: fleetKey(values["fleet-key"]),
      timeoutMs: parseDuration(values.timeout!, "--timeout"),
      minValidityMs: values["min-validity"]
        ? parseDuration(values["min-validity"], "--min-validity")
        : 0,
      minValidityText: values["min-validity"],
      now: () => new Date(),
    },
    concurrency,
    haproxySocket: values["haproxy-socket"] || undefined,
    reloadCmd: values["reload-cmd"] || undefined,
    verbose: values.verbose!,
  };
  return values.watch ? watch(o) : once(o);
}

/** One run over every certificate, for a timer: the exit code says how it went (staple-plan.ts). */
async function once(o: Options): Promise<number> {
  const { targets, problems, notes } = await collectTargets(o.inputs);
  notes.forEach((n) => say(`note: ${n}`));
  announce(o, targets);
  const results = await refreshAll(targets, o, new AbortController().signal);
  const report = await finish(o, [...results, ...problems.map(problemOutcome)]);
  const now = Date.now();
  const due = report.outcomes.reduce((min, r) => Math.min(min, dueAt(r, o, now, 0)), Infinity);
  const next = due < Infinity ? `next refresh due in ${formatDuration(due - now)}` : undefined;
  process.stdout.write(`${summaryLine(report, next)}\n`);
  return exitCode(report);
}

/** What the watch remembers of each certificate between passes. */
interface Scheduled {
  at: number;
  failures: number;
  outcome: Outcome;
  /** The file's bytes after the pass (undefined: none): a file changed or removed is due at once. */
  bytes: Uint8Array | undefined;
}

/**
 * Long-running: each pass refreshes the certificates that are due (and any whose file changed
 * under it), then sleeps until the next is due, at least 30 s and at most an hour (the inputs are
 * read again on every pass, so a certificate added to a crt-list is picked up within the hour).
 * SIGTERM or SIGINT stops it at once (requests in flight are abandoned, nothing half-written) with
 * exit 0.
 */
async function watch(o: Options): Promise<number> {
  const stop = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    say(`staple: ${signal}: stopping`);
    stop.abort();
  };
  process.once("SIGTERM", onSignal);
  process.once("SIGINT", onSignal);
  const schedule = new Map<string, Scheduled>();
  let first = true;
  try {
    while (!stop.signal.aborted) {
      let found: Awaited<ReturnType<typeof collectTargets>>;
      try {
        found = await collectTargets(o.inputs);
      } catch (e) {
        if (first || !(e instanceof UsageError)) throw e;
        say(`ocsp-relay staple: ${e.message}; trying again later`);
        await sleep(sleepUntil([], Date.now()), undefined, { signal: stop.signal }).catch(() => {});
        continue;
      }
      if (first) found.notes.forEach((n) => say(`note: ${n}`));
      const now = Date.now();
      const due = found.targets.filter(
        (t) => isDue(t, schedule.get(t.out), now) || isPending(t.out),
      );
      if (first) announce(o, found.targets);
      const results = await refreshAll(due, o, stop.signal);
      if (stop.signal.aborted) break;
      const asked = results.length > 0 || found.problems.length > 0;
      const report = asked
        ? await finish(o, [...results, ...found.problems.map(problemOutcome)])
        : undefined;
      const after = Date.now();
      for (const r of results) {
        const previous = schedule.get(r.target.out);
        // A failed push or reload is retried as a failed refresh is, with backoff.
        const retry = r.kind === "failed" || isPending(r.target.out);
        const failures = retry ? (previous?.failures ?? 0) + 1 : 0;
        schedule.set(r.target.out, {
          at: dueAt(r, o, after, failures, Math.random()),
          failures,
          outcome: r,
          bytes: readOrUndefined(r.target.out),
        });
      }
      const live = new Set(found.targets.map((t) => t.out));
      for (const key of schedule.keys()) if (!live.has(key)) schedule.delete(key);
      const wait = sleepUntil(
        [...schedule.values()].map((s) => s.at),
        after,
      );
      if (report) {
        // Every certificate counts in the line: those not due are as fresh as their last pass.
        const dueNow = new Set(due.map((t) => t.out));
        const notDue = [...schedule.entries()]
          .filter(([out]) => !dueNow.has(out))
          .map(([, s]) =>
            s.outcome.kind === "failed" ? s.outcome : { ...s.outcome, kind: "fresh" as const },
          );
        const line = summaryLine(
          { ...report, outcomes: [...report.outcomes, ...notDue] },
          `next run in ${formatDuration(wait)}`,
        );
        process.stdout.write(`${line}\n`);
      }
      first = false;
      await sleep(wait, undefined, { signal: stop.signal }).catch(() => {});
    }
  } finally {
    process.off("SIGTERM", onSignal);
    process.off("SIGINT", onSignal);
  }
  return 0;
}

function isDue(t: Target, s: Scheduled | undefined, now: number): boolean {
  if (!s || s.at <= now) return true;
  const bytes = readOrUndefined(t.out);
  if (!bytes || !s.bytes) return bytes !== s.bytes;
  return bytes.length !== s.bytes.length || !bytes.every((b, i) => b === s.bytes![i]);
}

function readOrUndefined(path: string): Uint8Array | undefined {
  try {
    return new Uint8Array(readFileSync(path));
  } catch {
    return undefined;
  }
}

/** When a certificate is next due after this outcome (`random` 0: the latest it may wait). */
function dueAt(r: Outcome, o: Options, now: number, failures: number, random = 0): number {
  const times: AnswerTimes | undefined = r.file.kind === "valid" ? r.file.times : undefined;
  return nextAttempt({
    now,
    times,
    failures: r.kind === "failed" ? Math.max(failures, 1) : failures,
    minValidityMs: o.ctx.minValidityMs,
    random,
  });
}

function announce(o: Options, targets: readonly Target[]): void {
  if (targets.length === 0) return;
  const where = `${o.ctx.relay}${o.ctx.fleetKey ? " (under the fleet key)" : ""}`;
  say(
    targets.length === 1
      ? `asking ${where} for the status of "${targets[0]!.leaf.subjectText}" ...`
      : `asking ${where} for ${targets.length} certificates, ${o.concurrency} at a time ...`,
  );
}

/** Every target refreshed, at most `concurrency` requests at once, in the targets' order. */
async function refreshAll(
  targets: readonly Target[],
  o: Options,
  signal: AbortSignal,
): Promise<Refreshed[]> {
  const results: Refreshed[] = new Array(targets.length);
  let next = 0;
  const worker = async () => {
    while (next < targets.length) {
      const i = next++;
      results[i] = await refreshOne(targets[i]!, { ...o.ctx, signal });
    }
  };
  await Promise.all(Array.from({ length: Math.min(o.concurrency, targets.length) }, worker));
  return results;
}

function problemOutcome(p: Problem): Refreshed & { kind: "failed" } {
  const exists = readOrUndefined(p.out) !== undefined;
  return {
    kind: "failed",
    why: p.why,
    file: exists ? { kind: "unusable", why: "cannot be checked" } : { kind: "missing" },
    target: { cert: p.cert, out: p.out },
  };
}

/**
 * Prints each certificate's line, pushes the changed answers to HAProxy, runs the reload command
 * when a file changed, and returns the report the summary and the exit code are made from.
 */
async function finish(o: Options, results: readonly Refreshed[]): Promise<RunReport> {
  const advice = new Set<string>();
  for (const r of results) {
    if (r.kind === "updated") process.stdout.write(`${r.line}\n`);
    if (r.kind === "fresh" && (o.verbose || results.length === 1)) say(r.line!);
    if (r.warning) say(r.warning);
    if (r.kind !== "failed") continue;
    const kept =
      r.file.kind === "valid"
        ? `${r.target.out} kept (${r.file.status}, valid ${formatDuration(r.file.times.nextUpdate - Date.now())} more)`
        : r.file.kind === "missing"
          ? `${r.target.out} is MISSING: the server has no staple for it`
          : r.file.kind === "expiring"
            ? `${r.target.out} EXPIRES in ${formatDuration(r.file.times.nextUpdate - Date.now())} (within --min-validity)`
            : `${r.target.out} is UNUSABLE (${r.file.why}): the server has no valid staple for it`;
    say(`ocsp-relay staple: ${r.target.cert}: ${r.why}; ${kept}`);
    if (r.next && !advice.has(r.next)) {
      advice.add(r.next);
      say(`  next: ${r.next}`);
    }
  }
  const changed = results.filter((r) => r.kind === "updated");
  // Files an earlier run changed but could not push or reload for: the servers may still serve
  // the older answer, so they are delivered again now, changed or not.
  const owed = results.filter(
    (r) =>
      r.kind !== "updated" &&
      (r.file.kind === "valid" || r.file.kind === "expiring") &&
      isPending(r.target.out),
  );
  const work = [...changed, ...owed];
  const undelivered = new Map<string, string>();
  let pushed = 0;
  let pushFailed = 0;
  if (o.haproxySocket) {
    for (const r of work) {
      pushed++;
      const bytes = r.written ?? readOrUndefined(r.target.out);
      const push = bytes
        ? await pushOcspResponse(o.haproxySocket, bytes)
        : { ok: false, message: "the file cannot be read" };
      if (!push.ok) {
        pushFailed++;
        undelivered.set(r.target.out, `HAProxy refused the push: ${push.message}`);
        say(`ocsp-relay staple: HAProxy refused ${r.target.out}: ${push.message}`);
        const next = pushAdvice(push.message);
        if (!advice.has(next)) say(`  next: ${next}`);
        advice.add(next);
      }
    }
  }
  let reload: RunReport["reload"] = o.reloadCmd ? "skipped" : "none";
  if (o.reloadCmd && work.length > 0) {
    const plural = (n: number) => `${n} staple file${n === 1 ? "" : "s"}`;
    const why = [
      changed.length > 0 ? `${plural(changed.length)} changed` : "",
      owed.length > 0 ? `${plural(owed.length)} not yet taken after an earlier failure` : "",
    ];
    say(`${why.filter(Boolean).join(", ")}: running ${o.reloadCmd}`);
    reload = await runReloadCommand(o.reloadCmd);
    if (reload.code !== 0) {
      say(`ocsp-relay staple: the reload command failed (exit ${reload.code}); retried next run`);
      for (const r of work) undelivered.set(r.target.out, `reload failed (exit ${reload.code})`);
    }
  }
  for (const r of work)
    setPending(r.target.out, undelivered.has(r.target.out), undelivered.get(r.target.out));
  return { outcomes: results, pushed, pushFailed, reload };
}
