// The CA's OCSP responder, two ways. The recording CA (e2e tests): an HTTP server on 127.0.0.1
// that answers each request with a one-shot `openssl ocsp -index ... -reqin` run, so nothing
// listens beyond loopback, there is no keep-alive to spin on, edits to the index apply at once, and
// every exchange is recorded. openssl's own server (the benchmark): `openssl ocsp -port`, fast
// enough to be measured behind.

import { once } from "node:events";
import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import http from "node:http";
import type net from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { join } from "node:path";
import { freePort, LOOPBACK, waitFor } from "./loopback.ts";
import { openssl, startProcess, type Managed } from "./processes.ts";
import type { Pki } from "./pki.ts";

export type CaMode =
  /** Answer with openssl's responder. */
  | "up"
  /** Answer 503 Service Unavailable. */
  | "unavailable"
  /** Accept the connection, then drop it without a byte (the CA crashed mid-request). */
  | "reset"
  /** Accept and never answer, until the mode changes or the CA closes. */
  | "hang";

export interface RecordedRequest {
  seq: number;
  /** Epoch ms when the request head arrived / the exchange ended. */
  receivedAt: number;
  finishedAt: number;
  method: string;
  url: string;
  /** Header [name, value] pairs exactly as received (names as sent, in order). */
  rawHeaders: [string, string][];
  bodyBytes: number;
  mode: CaMode;
  /** HTTP status sent back, or "reset"/"hang". */
  outcome: number | "reset" | "hang";
  /** Serial numbers asked about (uppercase hex), from `openssl ocsp -req_text`. */
  serials: string[];
  /** A GET answered with `refuseGet`'s status (mode "up"): not a fetch the responder answered. */
  getRefused?: true;
}

export interface OcspCa {
  url: string;
  port: number;
  mode: CaMode;
  /** Every request received, in order of arrival. */
  readonly log: readonly RecordedRequest[];
  setMode(mode: CaMode): void;
  /** Answers in "up" mode wait this long first (default 0), to widen races on purpose. */
  answerDelayMs: number;
  /**
   * In "up" mode, every GET is answered with this HTTP status and POSTs as usual (a responder
   * whose GET handling is broken); undefined: GET answered too.
   */
  refuseGet: number | undefined;
  /**
   * Requests about the certificate with this serial that the responder answered (mode "up"; a GET
   * refused by `refuseGet` is not one).
   */
  fetchesFor(serial: string): RecordedRequest[];
  /** Every request about the certificate with this serial, answered or not. */
  requestsFor(serial: string): RecordedRequest[];
  close(): Promise<void>;
}

export interface OcspCaOptions {
  pki: Pki;
  /** Scratch space for request/response files. */
  workDir: string;
  /** nextUpdate = thisUpdate + this many minutes (openssl -nmin). */
  nextUpdateMinutes: number;
  /** Signer; defaults to the CA itself. */
  signerPem?: string;
  signerKey?: string;
  /** The CA's `refuseGet` at start (e.g. 400). */
  refuseGet?: number;
}

export async function startOcspCa(options: OcspCaOptions): Promise<OcspCa> {
  await mkdir(options.workDir, { recursive: true });
  const log: RecordedRequest[] = [];
  const held = new Set<http.ServerResponse>();
  let seq = 0;

  /** The DER request of an exchange, saved as `req-<seq>.der` (RFC 6960 A.1: GET or POST). */
  const saveRequest = async (record: RecordedRequest, body: Buffer) => {
    const der =
      record.method === "GET"
        ? Buffer.from(decodeURIComponent(record.url.replace(/^\/+/, "")), "base64")
        : body;
    const file = join(options.workDir, `req-${record.seq}.der`);
    await writeFile(file, der);
    return file;
  };
  const serialsIn = (reqText: string) =>
    [...reqText.matchAll(/Serial Number: ([0-9A-F]+)/g)].map((m) => m[1]!);

  /** openssl's responder, one shot: reads the index afresh, signs, prints the request too. */
  const answer = async (record: RecordedRequest, reqFile: string) => {
    const respFile = join(options.workDir, `resp-${record.seq}.der`);
    const result = await openssl([
      "ocsp", "-index", options.pki.indexPath, "-CA", options.pki.caPem,
      "-rsigner", options.signerPem ?? options.pki.caPem,
      "-rkey", options.signerKey ?? options.pki.caKey,
      "-nmin", String(options.nextUpdateMinutes),
      "-reqin", reqFile, "-req_text", "-respout", respFile,
    ], { timeoutMs: 10_000 }); // prettier-ignore
    record.serials = serialsIn(result.stdout);
    return result.code === 0 && existsSync(respFile) ? readFile(respFile) : undefined;
  };

  const server = http.createServer(async (req, res) => {
    const record: RecordedRequest = {
      seq: ++seq,
      receivedAt: Date.now(),
      finishedAt: 0,
      method: req.method ?? "",
      url: req.url ?? "",
      rawHeaders: pairs(req.rawHeaders),
      bodyBytes: 0,
      mode: ca.mode,
      outcome: 0,
      serials: [],
    };
    log.push(record);
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size <= 65_536) chunks.push(chunk);
    }
    record.bodyBytes = size;
    const reqFile = await saveRequest(record, Buffer.concat(chunks));
    const finish = (outcome: RecordedRequest["outcome"]) => {
      record.outcome = outcome;
      record.finishedAt = Date.now();
    };
    const refused = record.mode === "up" && record.method === "GET" ? ca.refuseGet : undefined;
    if (record.mode !== "up" || refused !== undefined) {
      const text = await openssl(["ocsp", "-reqin", reqFile, "-req_text"], { timeoutMs: 10_000 });
      record.serials = serialsIn(text.stdout);
    }
    switch (record.mode) {
      case "reset":
        finish("reset");
        req.socket.destroy();
        return;
      case "hang":
        finish("hang");
        held.add(res);
        res.on("close", () => held.delete(res));
        return;
      case "unavailable":
        finish(503);
        res.writeHead(503, { "Content-Type": "text/plain", Connection: "close" });
        res.end("CA down for the test\n");
        return;
      case "up": {
        if (refused !== undefined) {
          record.getRefused = true;
          finish(refused);
          res.writeHead(refused, { "Content-Type": "text/plain", Connection: "close" });
          res.end("GET is not supported here: POST the request\n");
          return;
        }
        if (ca.answerDelayMs > 0) await sleep(ca.answerDelayMs);
        const der = await answer(record, reqFile);
        finish(der ? 200 : 500);
        res.writeHead(der ? 200 : 500, {
          "Content-Type": der ? "application/ocsp-response" : "text/plain",
          Connection: "close",
        });
        res.end(der ?? "openssl ocsp failed\n");
      }
    }
  });
  server.keepAliveTimeout = 1; // HTTP/1.0 manners: one exchange per connection
  server.listen(0, LOOPBACK);
  await once(server, "listening");
  const { port } = server.address() as net.AddressInfo;

  const ca: OcspCa = {
    url: `http://${LOOPBACK}:${port}/`,
    port,
    mode: "up",
    answerDelayMs: 0,
    refuseGet: options.refuseGet,
    log,
    setMode(mode) {
      ca.mode = mode;
      if (mode !== "hang") for (const res of held) res.destroy();
    },
    fetchesFor: (serial) => ca.requestsFor(serial).filter((r) => r.mode === "up" && !r.getRefused),
    requestsFor: (serial) => log.filter((r) => r.serials.includes(serial.toUpperCase())),
    async close() {
      for (const res of held) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((done) => server.close(() => done()));
    },
  };
  return ca;
}

function pairs(raw: string[]): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) out.push([raw[i]!, raw[i + 1]!]);
  return out;
}

// ---------------------------------------------------------------------------------------------
// openssl's responder as a server

export interface OpensslResponder {
  port: number;
  process: Managed;
}

/**
 * `openssl ocsp -index -port` for the PKI's CA, signing with the CA itself and `-ndays 1`. Ready
 * when it says so on stderr: a TCP probe would not do, since a connection closed before sending a
 * request wedges openssl ocsp (3.0), which then spins at 100 % CPU and answers nothing more.
 */
export async function startOpensslResponder(pki: Pki, logDir: string): Promise<OpensslResponder> {
  const port = await freePort();
  const proc = startProcess(
    "openssl-ocsp",
    "openssl",
    [
      "ocsp", "-index", pki.indexPath, "-port", String(port),
      "-rsigner", pki.caPem, "-rkey", pki.caKey, "-CA", pki.caPem, "-ndays", "1", "-ignore_err",
    ], // prettier-ignore
    { logDir, cwd: pki.dir },
  );
  await waitFor(
    "openssl ocsp to listen",
    async () => {
      if (proc.exited) throw new Error(`openssl ocsp exited:\n${proc.tail()}`);
      return proc.tail().includes("waiting for OCSP client connections") ? true : undefined;
    },
    { timeoutMs: 10_000, intervalMs: 100 },
  );
  return { port, process: proc };
}
