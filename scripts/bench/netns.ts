// A private network namespace: nothing started in it can reach anything but its own loopback.

import { spawn } from "node:child_process";
import os from "node:os";
import { run } from "../support/processes.ts";
import { log } from "./context.ts";

/** Set in the re-executed benchmark: the unshare flags it runs under. */
export const NETNS_ENV = "OCSP_RELAY_BENCH_NETNS";

/** Re-runs this script inside `unshare -n` (loopback up) and returns its exit code, or undefined. */
export async function reexecInNetns(): Promise<number | undefined> {
  const isRoot = process.getuid?.() === 0;
  const variants = isRoot ? [["-n"], ["-rn"]] : [["-rn"]];
  for (const flags of variants) {
    const probe = await run("unshare", [...flags, "--", "sh", "-c", "ip link set lo up"], {
      timeoutMs: 5000,
    }).catch(() => undefined);
    if (probe?.code !== 0) continue;
    log(
      `running inside a private network namespace (unshare ${flags.join(" ")}; only its loopback exists)`,
    );
    const child = spawn(
      "unshare",
      [
        ...flags, "--", "sh", "-c", 'ip link set lo up && exec "$0" "$@"',
        process.execPath, ...process.execArgv, process.argv[1]!, ...process.argv.slice(2),
      ], // prettier-ignore
      { stdio: "inherit", env: { ...process.env, [NETNS_ENV]: flags.join(" ") } },
    );
    const forward = (signal: NodeJS.Signals) => () => child.kill(signal);
    for (const s of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(s, forward(s));
    const [code, signal] = (await new Promise((resolve) =>
      child.on("exit", (c, s) => resolve([c, s])),
    )) as [number | null, NodeJS.Signals | null];
    return code ?? (signal ? 128 + (os.constants.signals[signal] ?? 1) : 1);
  }
  log(
    "no private network namespace (unshare -n unavailable): running in this one, loopback addresses only",
  );
  return undefined;
}
