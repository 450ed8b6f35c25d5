// Summarises a V8 CPU profile (the inspector's Profiler.stop result) into the functions with the
// most self time. Pure (no I/O): unit-tested in Node (test/node/bench-report.test.ts).

import type { ProfileEntry } from "./report.ts";

export interface CpuProfile {
  nodes: {
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
    hitCount?: number;
  }[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

/** Frames that are not the worker's code being run. */
const IGNORED = new Set(["(root)", "(idle)"]);

/**
 * The `top` functions by self time, aggregated by function, script and line. Self time comes from
 * the sample time deltas when present (each sample's delta is charged to the node it hit), else
 * from hit counts spread evenly over the profile's duration. Shares are of the non-idle time.
 */
export function topSelfTime(profile: CpuProfile, top = 15): ProfileEntry[] {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  if (samples.length > 0 && deltas.length === samples.length) {
    // timeDeltas[i] is the time since the previous sample: it belongs to sample i - 1.
    for (let i = 0; i < samples.length; i++) {
      const us = deltas[i + 1] ?? 0;
      selfUs.set(samples[i]!, (selfUs.get(samples[i]!) ?? 0) + Math.max(0, us));
    }
  } else {
    const hits = profile.nodes.reduce((a, n) => a + (n.hitCount ?? 0), 0);
    const perHit = hits > 0 ? (profile.endTime - profile.startTime) / hits : 0;
    for (const n of profile.nodes) selfUs.set(n.id, (n.hitCount ?? 0) * perHit);
  }
  const agg = new Map<string, ProfileEntry>();
  let total = 0;
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (!node || IGNORED.has(node.callFrame.functionName) || us <= 0) continue;
    total += us;
    const f = node.callFrame;
    const key = `${f.functionName}\u0000${f.url}\u0000${f.lineNumber}`;
    const e = agg.get(key) ?? {
      functionName: f.functionName,
      url: f.url,
      line: f.lineNumber,
      selfMs: 0,
      selfPct: 0,
    };
    e.selfMs += us / 1000;
    agg.set(key, e);
  }
  return [...agg.values()]
    .map((e) => ({ ...e, selfPct: total > 0 ? (e.selfMs * 1000 * 100) / total : 0 }))
    .sort((a, b) => b.selfMs - a.selfMs)
    .slice(0, top);
}

/**
 * Maps a 0-based line of an esbuild bundle to the source module it came from: esbuild writes a
 * `// path/to/module.ts` comment line before each module's code.
 */
export function bundleModuleAt(bundle: string): (line: number) => string | undefined {
  const starts: { line: number; module: string }[] = [];
  const lines = bundle.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const m = /^\/\/ (\S+\.[cm]?[jt]sx?)$/.exec(lines[i]!);
    if (!m) continue;
    const path = m[1]!;
    const nm = path.lastIndexOf("node_modules/");
    starts.push({ line: i, module: nm >= 0 ? path.slice(nm) : path.replace(/^(\.\.?\/)+/, "") });
  }
  return (line) => {
    let lo = 0;
    let hi = starts.length - 1;
    let found: string | undefined;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (starts[mid]!.line <= line) {
        found = starts[mid]!.module;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  };
}
