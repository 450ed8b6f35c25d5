// HAProxy in the foreground on a configuration file (e2e: around what `ocsp-relay config haproxy`
// printed), in its own process group, on 127.0.0.1 only.

import { readFile } from "node:fs/promises";
import { waitForPort } from "./loopback.ts";
import type { Server } from "./nginx.ts";
import { runOk, startProcess } from "./processes.ts";

export const HAPROXY = "/usr/sbin/haproxy";

/** HAProxy in the foreground on a configuration file (checked with `-c` first); must bind 127.0.0.1:`port`. */
export async function startHaproxy(o: {
  dir: string;
  configFile: string;
  port: number;
}): Promise<Server> {
  const text = await readFile(o.configFile, "utf8");
  if (!new RegExp(`bind\\s+127\\.0\\.0\\.1:${o.port}\\s`).test(text))
    throw new Error(`${o.configFile} does not bind 127.0.0.1:${o.port}`);
  await runOk(HAPROXY, ["-c", "-f", o.configFile], { timeoutMs: 10_000 });
  const proc = startProcess("haproxy", HAPROXY, ["-f", o.configFile, "-db"], { logDir: o.dir });
  try {
    await waitForPort(o.port, { timeoutMs: 10_000, intervalMs: 100 });
  } catch (e) {
    await proc.stop();
    throw new Error(`${e instanceof Error ? e.message : e}\n${proc.tail()}`);
  }
  return { port: o.port, dir: o.dir, process: proc, stop: () => proc.stop() };
}
