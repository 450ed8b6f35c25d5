// Everything started here listens on and talks to 127.0.0.1 only, and every wait is bounded in
// time and in count: free ports, polling, and the one guard against a non-loopback URL.

import { once } from "node:events";
import net from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import type { Managed } from "./processes.ts";

export const LOOPBACK = "127.0.0.1";

/** Refuses anything but a loopback http(s) URL: nothing here talks to the outside world. */
export function assertLoopbackUrl(url: string): URL {
  const parsed = new URL(url);
  if (![LOOPBACK, "[::1]"].includes(parsed.hostname)) {
    throw new Error(`refusing non-loopback URL ${url}`);
  }
  return parsed;
}

/** `fetch` to a loopback URL, redirects not followed, bounded to `timeoutMs`. */
export function loopbackFetch(
  url: string,
  init: RequestInit = {},
  timeoutMs = 30_000,
): Promise<Response> {
  assertLoopbackUrl(url);
  return fetch(url, { ...init, redirect: "manual", signal: AbortSignal.timeout(timeoutMs) });
}

/** A free TCP port on 127.0.0.1 (bind to port 0, read it, close). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, LOOPBACK);
  await once(server, "listening");
  const { port } = server.address() as net.AddressInfo;
  server.close();
  await once(server, "close");
  return port;
}

export interface WaitOptions {
  timeoutMs: number;
  intervalMs?: number;
}

/**
 * Polls `probe` until it returns something other than `undefined`, at most `timeoutMs` and at most
 * ceil(timeoutMs / intervalMs) + 1 times. Throws with `what` and the last probe error on timeout.
 */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  { timeoutMs, intervalMs = 250 }: WaitOptions,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  const maxTries = Math.ceil(timeoutMs / intervalMs) + 1;
  let lastError: unknown;
  for (let attempt = 0; attempt < maxTries; attempt++) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (e) {
      lastError = e;
    }
    if (Date.now() + intervalMs > deadline) break;
    await sleep(intervalMs);
  }
  const detail = lastError instanceof Error ? `: ${lastError.message}` : "";
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail}`);
}

/** Resolves once `url` answers with a status accepted by `ok` (each try bounded to 2 s). */
export async function waitForHttp(
  url: string,
  {
    timeoutMs,
    intervalMs = 250,
    ok = (s: number) => s === 200,
    process: proc,
  }: WaitOptions & { ok?: (status: number) => boolean; process?: Managed },
): Promise<number> {
  assertLoopbackUrl(url);
  return waitFor(
    `HTTP ${url}${proc ? ` (${proc.name})` : ""}`,
    async () => {
      if (proc?.exited) throw new Error(`${proc.name} exited ${JSON.stringify(proc.exited)}`);
      const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      await res.body?.cancel();
      return ok(res.status) ? res.status : undefined;
    },
    { timeoutMs, intervalMs },
  );
}

/**
 * Resolves once something accepts TCP connections on 127.0.0.1:`port`; with `process`, fails at
 * once (with its log) when that process has exited.
 */
export async function waitForPort(
  port: number,
  { process: proc, ...options }: WaitOptions & { process?: Managed },
): Promise<void> {
  await waitFor(
    `${LOOPBACK}:${port}${proc ? ` (${proc.name})` : ""} to accept connections`,
    () => {
      if (proc?.exited) {
        throw new Error(`${proc.name} exited ${JSON.stringify(proc.exited)}:\n${proc.tail()}`);
      }
      return new Promise<true | undefined>((done) => {
        const socket = net.connect({ host: LOOPBACK, port });
        const finish = (value: true | undefined) => {
          socket.destroy();
          done(value);
        };
        socket.setTimeout(1_000, () => finish(undefined));
        socket.once("connect", () => finish(true));
        socket.once("error", () => finish(undefined));
      });
    },
    options,
  );
}
