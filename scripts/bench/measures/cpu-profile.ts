// Where the time goes: a V8 CPU profile of one relay run through the inspector (the functions
// with the most self time, mapped back to the bundle's modules), taken when the relay is under
// 0.9x the floor (--profile auto), always, or never.

import { readFile } from "node:fs/promises";
import { log, type Bench } from "../context.ts";
import { Inspector } from "../inspector.ts";
import { describeRun, type Load, type WrkScript } from "../load.ts";
import { bundleModuleAt, topSelfTime } from "../profile.ts";
import { rpsVs, seriesStats, type BenchResults } from "../report.ts";
import type { Bundle } from "../setup.ts";
import { ratio, round } from "../stats.ts";
import type { Workerd } from "../workerd.ts";
import type { Hits } from "./hits.ts";
import type { Scaling } from "./scaling.ts";

export interface Profiles {
  profile: BenchResults["profile"];
  profileScaling: NonNullable<BenchResults["profileScaling"]> | null;
}

export async function profileWhenSlow(
  b: Bench,
  w: Workerd,
  load: Load,
  bundle: Bundle,
  hitUrl: string,
  hits: Hits,
  s: Scaling,
): Promise<Profiles> {
  const { o } = b;
  const wanted = (vs: number | null) =>
    o.profile === "always" || (o.profile === "auto" && vs !== null && vs < 0.9);
  const vsFloor = rpsVs(hits.series.relay, hits.series.floor);
  let profile: Profiles["profile"] = null;
  if (wanted(vsFloor)) {
    log(
      `profiling one ${Math.min(5, o.durationS)} s relay hit run (hits are ${vsFloor === null ? "n/a" : round(vsFloor, 2)}x the floor)`,
    );
    profile = await profileRun(b, w, load, hitUrl, bundle);
  }
  const largest = s.scaling.points[s.scaling.points.length - 1]!;
  const vsFloorLua = ratio(seriesStats(largest.relay).rps, seriesStats(s.scaling.floorLua).rps);
  let profileScaling: Profiles["profileScaling"] = null;
  if (wanted(vsFloorLua)) {
    log(
      `profiling one ${Math.min(5, o.scalingDurationS)} s relay run over ${largest.certs} certificates (${vsFloorLua === null ? "n/a" : round(vsFloorLua, 2)}x the floor with the same script)`,
    );
    profileScaling = await profileRun(b, w, load, w.url, bundle, s.script(largest.certs));
  }
  return { profile, profileScaling };
}

async function profileRun(
  b: Bench,
  w: Workerd,
  load: Load,
  url: string,
  bundle: Bundle,
  script?: WrkScript,
) {
  const { o, notes } = b;
  if (w.inspectorPort === undefined) return null;
  let inspector: Inspector | undefined;
  try {
    inspector = await Inspector.connect(w.inspectorPort, "relay");
    await inspector.startProfile();
    const r = await load.wrk(url, Math.min(5, script ? o.scalingDurationS : o.durationS), script);
    const profile = await inspector.stopProfile();
    notes.add(
      `profiled relay run${script ? ` over ${script.args[1]} certificates` : ""} (inspector attached, so slower): ${describeRun("relay", r)}`,
    );
    const moduleAt = bundleModuleAt(await readFile(bundle.path, "utf8"));
    return topSelfTime(profile, 15).map((e) => ({
      ...e,
      url: e.url ? `${moduleAt(e.line) ?? e.url} (bundle line ${e.line + 1})` : "",
    }));
  } catch (e) {
    notes.add(`profile failed: ${e instanceof Error ? e.message : e}`);
    return null;
  } finally {
    await inspector?.close();
  }
}
