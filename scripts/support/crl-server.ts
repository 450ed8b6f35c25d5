// The CA's CRL distribution point (RFC 5280 §4.2.1.13) as the e2e tests run it: an HTTP server on
// 127.0.0.1 serving CRL files from disk (read afresh on every request, so replacing a file, or
// pointing a path at another one, applies at once), recording every request, so a test can count
// what reached the CA.

import { once } from "node:events";
import { readFile } from "node:fs/promises";
import http from "node:http";
import type net from "node:net";
import { LOOPBACK } from "./loopback.ts";

export interface CrlFetch {
  /** Epoch ms when the request arrived. */
  at: number;
  method: string;
  path: string;
  /** HTTP status sent back. */
  status: number;
  bytes: number;
  userAgent: string | undefined;
}

export interface CrlServer {
  /** http://127.0.0.1:<port> (no trailing slash). */
  base: string;
  /** The URL of `path` (e.g. "/ca.crl") on this server, for a certificate's CRL distribution point. */
  url(path: string): string;
  /** Serves `file` at `path` from now on (its bytes are read on each request). */
  serve(path: string, file: string): void;
  /** Every request, in order of arrival. */
  readonly log: readonly CrlFetch[];
  /** The requests for `path`. */
  fetchesOf(path: string): CrlFetch[];
  close(): Promise<void>;
}

/** Starts the CRL server; `files` maps URL paths ("/ca.crl") to DER files. */
export async function startCrlServer(files: Record<string, string> = {}): Promise<CrlServer> {
  const routes = new Map(Object.entries(files));
  const log: CrlFetch[] = [];
  const server = http.createServer(async (req, res) => {
    const path = new URL(req.url ?? "/", "http://x").pathname;
    const record: CrlFetch = {
      at: Date.now(),
      method: req.method ?? "",
      path,
      status: 0,
      bytes: 0,
      userAgent: req.headers["user-agent"],
    };
    log.push(record);
    req.resume();
    const file = routes.get(path);
    const body =
      file && req.method === "GET" ? await readFile(file).catch(() => undefined) : undefined;
    record.status = body ? 200 : req.method === "GET" ? 404 : 405;
    record.bytes = body?.length ?? 0;
    res.writeHead(record.status, {
      "Content-Type": body ? "application/pkix-crl" : "text/plain",
      Connection: "close",
    });
    res.end(body ?? "no CRL here\n");
  });
  server.keepAliveTimeout = 1;
  server.listen(0, LOOPBACK);
  await once(server, "listening");
  const { port } = server.address() as net.AddressInfo;
  const base = `http://${LOOPBACK}:${port}`;
  return {
    base,
    url: (path) => `${base}${path}`,
    serve: (path, file) => void routes.set(path, file),
    log,
    fetchesOf: (path) => log.filter((r) => r.path === path),
    async close() {
      server.closeAllConnections();
      await new Promise<void>((done) => server.close(() => done()));
    },
  };
}
