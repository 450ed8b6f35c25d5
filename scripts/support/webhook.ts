// A loopback receiver for the relay's alert webhook (ALERT_WEBHOOK_URL): it records every request
// and answers with a status and a delay the test sets.

import { once } from "node:events";
import http from "node:http";
import type net from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { LOOPBACK } from "./loopback.ts";

/** One POST the webhook receiver got. */
export interface ReceivedHook {
  /** Epoch ms when the request head arrived. */
  at: number;
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** The body parsed as JSON, or undefined when it is not JSON. */
  json: Record<string, unknown> | undefined;
}

export interface WebhookReceiver {
  port: number;
  /** http://127.0.0.1:<port><path> */
  url(path?: string): string;
  /** Every request received, in order of arrival. */
  readonly received: readonly ReceivedHook[];
  /** Each answer waits this long first (default 0): a slow webhook. */
  delayMs: number;
  /** HTTP status of the answers (default 204). */
  status: number;
  /** The alerts (JSON bodies) of a kind, in order. */
  alerts(kind: string): Record<string, unknown>[];
  close(): Promise<void>;
}

/** An HTTP server on 127.0.0.1 recording every request (bodies capped at 64 KiB). */
export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const received: ReceivedHook[] = [];
  const server = http.createServer(async (req, res) => {
    const at = Date.now();
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size <= 65_536) chunks.push(chunk);
    }
    const body = Buffer.concat(chunks).toString("utf8");
    let json: Record<string, unknown> | undefined;
    try {
      const parsed: unknown = JSON.parse(body);
      if (parsed && typeof parsed === "object") json = parsed as Record<string, unknown>;
    } catch {
      json = undefined;
    }
    received.push({
      at,
      method: req.method ?? "",
      path: req.url ?? "",
      headers: req.headers,
      body,
      json,
    });
    if (receiver.delayMs > 0) await sleep(Math.min(receiver.delayMs, 30_000));
    res.writeHead(receiver.status, { Connection: "close" });
    res.end();
  });
  server.keepAliveTimeout = 1;
  server.listen(0, LOOPBACK);
  await once(server, "listening");
  const { port } = server.address() as net.AddressInfo;
  const receiver: WebhookReceiver = {
    port,
    url: (path = "/") => `http://${LOOPBACK}:${port}${path}`,
    received,
    delayMs: 0,
    status: 204,
    alerts: (kind) => received.flatMap((r) => (r.json && r.json.kind === kind ? [r.json] : [])),
    async close() {
      server.closeAllConnections();
      await new Promise<void>((done) => server.close(() => done()));
    },
  };
  return receiver;
}
