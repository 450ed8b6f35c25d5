// A certificate's revocation status from its CA's CRL, as the relay holds it (POST /check with the
// leaf, and its issuer as a hint): for certificates without an OCSP responder, which cannot be
// stapled (RFC 5280 §4.2.1.13 CRL distribution points; the relay verifies the CRL, RFC 5280 §6.3).

import type { CertificateFacts } from "../ocsp/certificate.ts";
import type { CheckJson, CrlJson, CrlPinJson, ErrorJson } from "../wire.ts";
import { formatDuration, networkError } from "./args.ts";
import { toPem } from "./pki.ts";

export type CrlAnswer =
  /** The relay's /check answer (revocationSource "crl", or "ocsp" when it relays OCSP for it). */
  | { ok: true; body: CheckJson }
  /** The relay could not be asked, or refused: `problem` says why, `next` what to do. */
  | { ok: false; problem: string; next: string; body?: ErrorJson };

/** What the relay said of a leaf's status: its /check answer, or the pin of its registration. */
type StatusJson = CheckJson | CrlPinJson;

/** POST /check on the relay for `leaf` (followed by `issuer` when known): what its CRL says. */
export async function askRelayCrl(
  relay: string,
  leaf: CertificateFacts,
  issuer: CertificateFacts | undefined,
  timeoutMs: number,
  /** The fleet key, when the relay is closed with OCSP_KEYS (its /check asks for it). */
  key?: string,
): Promise<CrlAnswer> {
  let res: Response;
  try {
    res = await fetch(`${relay}/check`, {
      method: "POST",
      headers: {
        "Content-Type": "application/x-pem-file",
        ...(key ? { Authorization: `Bearer ${key}` } : {}),
      },
      body: toPem(leaf) + (issuer ? toPem(issuer) : ""),
      redirect: "error",
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (e) {
    return {
      ok: false,
      problem: `cannot reach the relay at ${relay}: ${networkError(e)}`,
      next: "check --relay (the relay's base URL) and that it is running",
    };
  }
  const text = await res.text();
  let reply: unknown;
  try {
    reply = JSON.parse(text);
  } catch {
    return {
      ok: false,
      problem: `HTTP ${res.status} from ${relay}/check is not the relay's JSON (${text.slice(0, 200)})`,
      next: "is --relay the relay's base URL?",
    };
  }
  if (res.status !== 200) return refused(res.status, reply as ErrorJson, leaf);
  return { ok: true, body: reply as CheckJson };
}

/** A JSON error from /check, as the problem and the next step. */
function refused(status: number, body: ErrorJson, leaf: CertificateFacts): CrlAnswer {
  if (status === 404 && body.error === "issuer not registered")
    return {
      ok: false,
      problem: `the relay does not know the issuer "${leaf.issuerText}"`,
      next: "register it: ocsp-relay register --relay URL --token T fullchain.pem (the relay learns the CRL URL from the leaf)",
      body,
    };
  return {
    ok: false,
    problem: `the relay refused (HTTP ${status}): ${body.error ?? ""}${body.detail ? `: ${body.detail}` : ""}`,
    next: "read the relay's detail; fix the input and retry",
    body,
  };
}

/** The one-line verdict on a /check answer: good, REVOKED at … (reason), or unknown: why. */
export function crlVerdict(body: StatusJson): string {
  switch (body.status) {
    case "good":
      return "good (not listed in the CRL)";
    case "revoked":
      return `REVOKED${body.revocationTime ? ` at ${body.revocationTime}` : ""}${body.revocationReason ? ` (${body.revocationReason})` : ""}`;
    default:
      return `unknown: ${body.problem ?? "the relay holds no verified CRL for it"}`;
  }
}

/** Where the verdict comes from: the CRL's URL, number and validity window. */
export function crlWindow(crl: CrlJson | undefined, now: number): string | undefined {
  if (!crl?.thisUpdate || !crl.nextUpdate) return undefined;
  const left = Date.parse(crl.nextUpdate) - now;
  return `CRL ${crl.number != null ? `number ${crl.number}, ` : ""}thisUpdate ${crl.thisUpdate}, nextUpdate ${crl.nextUpdate}${Number.isNaN(left) ? "" : ` (${formatDuration(left)} left)`}`;
}

/** What the next step is for a status that is not good. */
export function crlAdvice(body: StatusJson): string | undefined {
  switch (body.status) {
    case "good":
      return undefined;
    case "revoked":
      return "the CA has revoked this certificate: replace it now (issue a new one and reload the server)";
    default:
      return "the relay believes only a CRL that verifies (signed by the registered issuer, current, its number never going back): check the CRL at its URL and the relay's /status";
  }
}

/** The first http(s) CRL distribution point: the one the relay fetches (ldap is not). */
export function httpCrlUrl(cert: CertificateFacts): string | undefined {
  return cert.crlUrls.find((u) => /^https?:/i.test(u));
}
