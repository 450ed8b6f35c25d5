// `ocsp-relay staple`: fetches a certificate's OCSP answer from the relay (RFC 6960 Appendix A.1
// GET, SHA-1 CertID as nginx and HAProxy ask), verifies it with the core against the issuer, and
// writes it atomically where nginx's ssl_stapling_file or HAProxy's `<crt>.ocsp` reads it.

import type { UnauthorizedCause } from "../errors.ts";
import { toBase64 } from "../ocsp/bytes.ts";
import { certIdFor, encodeRequest } from "../ocsp/request.ts";
import { MAX_RESPONSE_BYTES } from "../ocsp/response.ts";
import { verifyResponse } from "../ocsp/verify.ts";
import {
  fleetKey,
  formatDuration,
  networkError,
  ocspBase,
  parse,
  parseDuration,
  readCertificates,
  relayUrl,
  required,
  say,
  UsageError,
  writeFileAtomic,
} from "./args.ts";
import { findIssuer, leafOf } from "./pki.ts";

export async function stapleCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    relay: { type: "string" },
    issuer: { type: "string" },
    out: { type: "string" },
    "min-validity": { type: "string" },
    timeout: { type: "string", default: "30s" },
    "fleet-key": { type: "string" },
  });
  const relay = relayUrl(values.relay);
  const key = fleetKey(values["fleet-key"]);
  const out = required(values.out, "--out");
  if (positionals.length !== 1)
    throw new UsageError(
      "give one certificate file: ocsp-relay staple --relay URL site.pem --out site.pem.ocsp",
    );
  const file = positionals[0]!;
  const minValidityMs = values["min-validity"]
    ? parseDuration(values["min-validity"], "--min-validity")
    : 0;
  const timeoutMs = parseDuration(values.timeout!, "--timeout");
  const certs = readCertificates(file, "certificate file");
  const leaf = leafOf(certs) ?? certs[0]!;
  const candidates = values.issuer
    ? readCertificates(values.issuer, "--issuer").map((cert) => ({ cert, source: values.issuer! }))
    : certs.map((cert) => ({ cert, source: file }));
  const issuer = (await findIssuer(leaf, candidates))?.cert;
  if (!issuer)
    throw new UsageError(
      values.issuer
        ? `${values.issuer} did not issue "${leaf.subjectText}" (its issuer is "${leaf.issuerText}"): give the right --issuer`
        : `the issuer of "${leaf.subjectText}" is not in ${file}: give --issuer issuer.pem, or use the fullchain file`,
    );

  const certId = await certIdFor(issuer, leaf, "SHA-1");
  const url = `${ocspBase(relay, key)}/${encodeURIComponent(toBase64(encodeRequest(certId)))}`;
  say(
    `asking ${relay}${key ? " (under the fleet key)" : ""} for the status of "${leaf.subjectText}" ...`,
  );
  let response: Uint8Array;
  /** Why the relay answered with an error (X-OCSP-Relay-Cause, src/http/errors.ts). */
  let cause: string | null = null;
  try {
    const res = await fetch(url, {
      headers: { Accept: "application/ocsp-response" },
      redirect: "error",
      signal: AbortSignal.timeout(timeoutMs),
    });
    const body = new Uint8Array(await res.arrayBuffer());
    cause = res.headers.get("x-ocsp-relay-cause");
    if (res.status !== 200) {
      say(
        `ocsp-relay staple: the relay answered HTTP ${res.status}${res.headers.get("x-ocsp-relay-error") ? ` (${res.headers.get("x-ocsp-relay-error")})` : ""}; nothing written. ` +
          (res.status === 400
            ? "It found the request malformed: is --relay the relay's base URL?"
            : "Check --relay and the relay's logs, then retry."),
      );
      return 1;
    }
    if (body.length > MAX_RESPONSE_BYTES) {
      say(
        `ocsp-relay staple: the answer is ${body.length} bytes, over ${MAX_RESPONSE_BYTES}; nothing written`,
      );
      return 1;
    }
    response = body;
  } catch (e) {
    say(
      `ocsp-relay staple: cannot reach the relay at ${relay}: ${networkError(e)}; nothing written. ` +
        "Check --relay and the network; the current staple file, if any, is left as it was.",
    );
    return 1;
  }

  const now = new Date();
  const verdict = await verifyResponse({ response, issuer, certId, now });
  if (!verdict.ok) {
    say(`ocsp-relay staple: REFUSED, nothing written: ${verdict.reason}: ${verdict.detail}`);
    say(
      `  next: ${
        /unauthorized/.test(verdict.detail) && leaf.ocspUrls.length === 0
          ? `the certificate names no OCSP responder, so it cannot be stapled${leaf.crlUrls[0] ? ` (its CA publishes revocation by CRL at ${leaf.crlUrls[0]})` : ""}: turn stapling off for it (ocsp-relay config nginx|haproxy --cert … prints how); ocsp-relay check --relay URL shows its CRL status`
          : refusalAdvice(verdict.detail, cause)
      }`,
    );
    return 1;
  }
  const status = verdict.certStatus;
  const leftMs = verdict.nextUpdate.getTime() - now.getTime();
  const validity = `thisUpdate ${verdict.thisUpdate.toISOString()}, nextUpdate ${verdict.nextUpdate.toISOString()} (${formatDuration(leftMs)} left)`;
  if (status.status === "unknown") {
    say(
      `ocsp-relay staple: REFUSED, nothing written: the CA answers "unknown" for this certificate (${validity})`,
    );
    say(
      "  next: check that --issuer is the certificate's issuer and the relay forwards to its CA's responder",
    );
    return 1;
  }
  if (leftMs < minValidityMs) {
    say(
      `ocsp-relay staple: REFUSED, nothing written: the answer is valid ${formatDuration(leftMs)} more, less than --min-validity ${values["min-validity"]} (${validity})`,
    );
    say(
      "  next: the CA's answers may be shorter-lived than that: lower --min-validity, or retry later",
    );
    return 1;
  }
  writeFileAtomic(out, response);
  process.stdout.write(`wrote ${out} (${response.length} bytes): ${status.status}, ${validity}\n`);
  if (status.status === "revoked") {
    // A valid "revoked" answer is the truth about the certificate and stapling it lets clients
    // refuse it at once; it is written, and the exit code says something is badly wrong.
    say(
      `WARNING: the certificate is REVOKED (at ${status.revocationTime.toISOString()}${status.revocationReason ? `, ${status.revocationReason}` : ""}): replace it now`,
    );
    return 1;
  }
  return 0;
}

/** What to do about each cause the relay gives for `unauthorized`. */
const UNAUTHORIZED_ADVICE: Record<UnauthorizedCause, string> = {
  issuerNotRegistered:
    "the relay does not know the certificate's issuer: register it (ocsp-relay register --relay URL --token T fullchain.pem)",
  crlOnly:
    "the relay has the issuer registered for CRLs only: register it again with its OCSP responder (ocsp-relay register --responder URL)",
  fleetKey:
    "the relay is closed with OCSP_KEYS: give one of its fleet keys (--fleet-key or $OCSP_RELAY_KEY)",
  registeredOnly:
    "the relay answers only for registered certificates (OCSP_ACCESS=registered): register this one (ocsp-relay register --relay URL --token T fullchain.pem)",
};

function refusalAdvice(detail: string, cause: string | null): string {
  if (/unauthorized/.test(detail) && cause && Object.hasOwn(UNAUTHORIZED_ADVICE, cause))
    return UNAUTHORIZED_ADVICE[cause as UnauthorizedCause];
  if (/unauthorized/.test(detail))
    return "the relay does not serve this certificate: register its issuer (ocsp-relay register --relay URL --token T fullchain.pem); if the relay is closed with OCSP_KEYS, give its fleet key (--fleet-key or $OCSP_RELAY_KEY); with OCSP_ACCESS=registered, register the certificate itself";
  if (/tryLater/.test(detail))
    return "the relay could not reach the CA and holds no valid answer: retry later; the current staple file is left as it was";
  if (/malformedRequest/.test(detail)) return "is --relay the relay's base URL?";
  return "the answer does not verify against the issuer: check --issuer, and report it if it persists";
}
