// What the benchmark reads about processes from /proc: a process's memory and CPU time, and the
// share of the machine that processes it did not start took during a run (its contention figure).

import { readdirSync, readFileSync } from "node:fs";
import os from "node:os";
import { liveGroups } from "../support/processes.ts";

/** VmRSS and VmHWM of a process, in KiB (from /proc/<pid>/status). */
export function memoryOf(pid: number): { rssKiB: number; hwmKiB: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kib = (field: string) =>
    Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? NaN);
  return { rssKiB: kib("VmRSS"), hwmKiB: kib("VmHWM") };
}

/** CPU seconds (user + system) a process has used (from /proc/<pid>/stat). */
export function cpuSecondsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (100/s)
}

export interface CpuSample {
  at: number;
  busy: number;
  ours: number;
}

/**
 * CPU time (in clock ticks, 100/s) the whole machine spent busy, and the part spent by this
 * benchmark: this process and the children it reaped (wrk, openssl, ...) plus every process in a
 * group started here (workerd, nginx and its workers, openssl ocsp). The difference over a run is
 * what other work on the machine took from it.
 */
export function cpuSample(): CpuSample {
  const line = readFileSync("/proc/stat", "utf8")
    .split("\n")[0]!
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number);
  // user nice system idle iowait irq softirq steal (guest time is already counted in user)
  const busy = line[0]! + line[1]! + line[2]! + line[5]! + line[6]! + (line[7] ?? 0);
  let ours = 0;
  const fieldsOf = (text: string) => text.slice(text.lastIndexOf(")") + 2).split(" ");
  const self = fieldsOf(readFileSync("/proc/self/stat", "utf8"));
  ours += Number(self[11]) + Number(self[12]) + Number(self[13]) + Number(self[14]);
  const groups = liveGroups();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let f: string[];
    try {
      f = fieldsOf(readFileSync(`/proc/${entry}/stat`, "utf8"));
    } catch {
      continue; // gone
    }
    // f[2] is the process group; f[11..14] utime, stime, cutime, cstime
    if (groups.has(Number(f[2])))
      ours += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
  }
  return { at: Date.now(), busy, ours };
}

/** The share of the machine's CPU (0..1) taken by other processes between two samples. */
export function othersShare(a: CpuSample, b: CpuSample): number {
  const capacity = ((b.at - a.at) / 1000) * 100 * os.availableParallelism();
  if (capacity <= 0) return 0;
  return Math.min(1, Math.max(0, (b.busy - a.busy - (b.ours - a.ours)) / capacity));
}
