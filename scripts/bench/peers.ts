// The benchmark's peers: the CA (`openssl ocsp` over the index, behind nginx speaking HTTP/1.0 to
// it and writing one access-log line per CA fetch) and, from the same nginx, the proxy_cache
// baseline in front of the same responder.

import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { startOpensslResponder } from "../support/ca.ts";
import { freePort, LOOPBACK, loopbackFetch } from "../support/loopback.ts";
import { runNginx } from "../support/nginx.ts";
import { nginxConfig, parseCaLog, type CaFetch } from "./configs.ts";
import { log, type Bench } from "./context.ts";
import type { Ca } from "./setup.ts";

export interface Peers {
  /** The CA's responder URL as the relay is given it (nginx in front of openssl ocsp). */
  caFront: string;
  /** nginx proxy_cache's URL for a GET path. */
  nginxUrl(path: string): string;
  /** The CA's access log size now: pass it to caFetchesSince. */
  caLogSize(): number;
  /** The CA fetches logged since `offset` (after a short wait: nginx logs when an exchange ends). */
  caFetchesSince(offset: number): Promise<CaFetch[]>;
}

/** Starts the CA and nginx, and checks one real exchange through the CA's front (`probePath`). */
export async function startPeers(b: Bench, ca: Ca, probePath: string): Promise<Peers> {
  const [responder, caFrontPort, cachePort] = await Promise.all([
    startOpensslResponder(ca, b.logDir),
    freePort(),
    freePort(),
  ]);
  const dir = join(b.tmp, "nginx");
  const conf = nginxConfig({
    dir,
    caFrontPort,
    cachePort,
    responderPort: responder.port,
    workerProcesses: b.o.nginxWorkers,
    asRoot: process.getuid?.() === 0,
  });
  await runNginx({
    dir,
    conf,
    ports: [caFrontPort, cachePort],
    logDir: b.logDir,
    alias: "ocsp-bench-nginx",
  });
  const caFront = `http://${LOOPBACK}:${caFrontPort}/`;
  const caLog = join(dir, "ca-access.log");
  const caLogSize = () => (existsSync(caLog) ? statSync(caLog).size : 0);
  // One real exchange through the CA's front (nginx to openssl; the relay is not involved).
  const probe = await loopbackFetch(`${caFront}${probePath.slice(1)}`);
  await probe.arrayBuffer();
  if (probe.status !== 200) throw new Error(`the CA (through nginx) answered HTTP ${probe.status}`);
  log(
    `openssl ocsp on :${responder.port}, nginx: CA front :${caFrontPort}, proxy_cache :${cachePort}`,
  );
  return {
    caFront,
    nginxUrl: (path) => `http://${LOOPBACK}:${cachePort}${path}`,
    caLogSize,
    caFetchesSince: async (offset) => {
      await sleep(300);
      return parseCaLog(readFileSync(caLog).subarray(offset).toString("utf8"));
    },
  };
}
