// One TLS handshake with a server, to read what it sends: its certificate chain in the order served
// and, when asked for (RFC 6066 §8 status_request), its stapled OCSP response. The chain is read
// with rejectUnauthorized off, so a broken chain can still be inspected; whether Node accepted it
// (trust and name) is reported beside it.

import { isIP } from "node:net";
import { connect, type ConnectionOptions } from "node:tls";
import { parseCertificate, type CertificateFacts } from "../ocsp/certificate.ts";
import { parseHostPort, UsageError } from "./args.ts";

export interface ProbeOptions {
  host: string;
  port: number;
  /** SNI and the name checked; defaults to `host` unless it is an IP address (RFC 6066 §3). */
  servername: string | undefined;
  /** PEM text of trusted roots (replaces Node's store for the verdict), or undefined. */
  ca: string | undefined;
  requestOCSP: boolean;
  timeoutMs: number;
}

export interface Probe {
  /** The certificates as served, leaf first. */
  served: CertificateFacts[];
  /** The stapled OCSPResponse DER, or null when the server sent none. */
  staple: Uint8Array | null;
  /** Whether Node would accept the chain and name; with the reason when not. */
  authorized: boolean;
  authorizationError: string | undefined;
  protocol: string | null;
  servername: string | undefined;
}

/** Connects, handshakes, reads, closes. Throws a ProbeError with advice when that fails. */
export function probeTls(o: ProbeOptions): Promise<Probe> {
  const servername = o.servername ?? (isIP(o.host) ? undefined : o.host);
  // tls.connect passes requestOCSP on to the TLSSocket; @types/node only declares it there.
  const options: ConnectionOptions & { requestOCSP: boolean } = {
    host: o.host,
    port: o.port,
    rejectUnauthorized: false,
    requestOCSP: o.requestOCSP,
    ...(servername ? { servername } : {}),
    ...(o.ca ? { ca: o.ca } : {}),
  };
  return new Promise((resolve, reject) => {
    let staple: Uint8Array | null = null;
    let settled = false;
    const socket = connect(options);
    const timer = setTimeout(
      () =>
        fail(
          new ProbeError(
            `no TLS handshake with ${o.host}:${o.port} within ${o.timeoutMs / 1000}s: is it a TLS port, and reachable from here?`,
          ),
        ),
      o.timeoutMs,
    );
    const fail = (e: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      reject(e instanceof ProbeError ? e : new ProbeError(advice(e, o)));
    };
    socket.on("OCSPResponse", (response: Buffer | null) => {
      staple = response && response.length > 0 ? new Uint8Array(response) : null;
    });
    socket.once("error", fail);
    socket.once("secureConnect", () => {
      try {
        const served: CertificateFacts[] = [];
        const seen = new Set<string>();
        // Node links the peer's certificates in the order the server sent them.
        for (
          let x = socket.getPeerX509Certificate();
          x && !seen.has(x.fingerprint256) && served.length < 20;
          x = x.issuerCertificate
        ) {
          seen.add(x.fingerprint256);
          const cert = parseCertificate(new Uint8Array(x.raw));
          if (!cert.ok)
            throw new ProbeError(`the server sent an unreadable certificate: ${cert.error.detail}`);
          served.push(cert.value);
        }
        if (served.length === 0) throw new ProbeError("the server sent no certificate");
        const result: Probe = {
          served,
          staple,
          authorized: socket.authorized,
          authorizationError: socket.authorizationError
            ? String(socket.authorizationError)
            : undefined,
          protocol: socket.getProtocol(),
          servername,
        };
        settled = true;
        clearTimeout(timer);
        socket.end();
        socket.destroy();
        resolve(result);
      } catch (e) {
        fail(e instanceof Error ? e : new Error(String(e)));
      }
    });
  });
}

/** A failure to talk TLS with the server; the message says what to try. */
export class ProbeError extends Error {}

function advice(e: Error, o: ProbeOptions): string {
  const code = (e as NodeJS.ErrnoException).code ?? "";
  const where = `${o.host}:${o.port}`;
  switch (code) {
    case "ECONNREFUSED":
      return `connection to ${where} refused: is the server running and listening on that port?`;
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return `cannot resolve ${o.host}: check the host name and DNS`;
    case "ETIMEDOUT":
    case "EHOSTUNREACH":
    case "ENETUNREACH":
      return `cannot reach ${where} (${code}): check routing and firewalls`;
    case "ECONNRESET":
      return `${where} closed the connection during the handshake: is it a TLS port? Does it need --servername?`;
  }
  if (/wrong version number|packet length too long|unknown protocol/i.test(e.message))
    return `${where} does not speak TLS (${e.message}): is that the HTTPS port?`;
  if (/alert/i.test(e.message))
    return `the TLS handshake with ${where} failed (${e.message}): try --servername with the site's name`;
  return `TLS connection to ${where} failed: ${e.message}`;
}

/** The `host:port` positional of `chain` and `check`, as a usage error when malformed. */
export function targetOf(
  text: string | undefined,
  command: string,
): { host: string; port: number } {
  const target = text ? parseHostPort(text) : undefined;
  if (!target)
    throw new UsageError(
      `${command} needs host:port (e.g. example.com:443 or [::1]:8443), got "${text ?? ""}"`,
    );
  return target;
}
