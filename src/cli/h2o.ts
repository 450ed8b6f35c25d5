// `ocsp-relay fetch-ocsp-response`: the command h2o runs to refresh a staple (its `ocsp-update-cmd`),
// asking the relay instead of the responder in the certificate's AIA. It keeps the contract of
// h2o's own share/h2o/fetch-ocsp-response: one argument, the certificate file (leaf, then its
// chain); the DER OCSPResponse (RFC 6960 §4.2.1) on stdout and exit 0; exit 75 (EX_TEMPFAIL) for a
// temporary failure, when h2o keeps the staple it has and asks again after ocsp-update-interval.
// Any other exit h2o takes as permanent: it stops refreshing that certificate until restarted.

import { certIdFor } from "../ocsp/request.ts";
import { MAX_RESPONSE_BYTES } from "../ocsp/response.ts";
import { verifyResponse } from "../ocsp/verify.ts";
import {
  fleetKey,
  formatDuration,
  parse,
  parseDuration,
  readCertificates,
  relayUrl,
  say,
  UsageError,
} from "./args.ts";
import { findIssuer, leafOf } from "./pki.ts";
import { askRelay } from "./staple-fetch.ts";

/** sysexits.h EX_TEMPFAIL: h2o reuses its current staple and retries later. */
export const EX_TEMPFAIL = 75;

export async function fetchOcspResponseCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    relay: { type: "string" },
    issuer: { type: "string" },
    "min-validity": { type: "string" },
    timeout: { type: "string", default: "10s" },
    "fleet-key": { type: "string" },
  });
  const relay = relayUrl(values.relay);
  const key = fleetKey(values["fleet-key"]);
  if (positionals.length !== 1)
    throw new UsageError(
      "give one certificate file (h2o passes its certificate-file): ocsp-relay fetch-ocsp-response --relay URL site-fullchain.pem",
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
      `the issuer of "${leaf.subjectText}" is not in ${values.issuer ?? file}: use the fullchain file as h2o's certificate-file, or give --issuer`,
    );

  // GET with a SHA-1 CertID, as the relay's other clients ask (one cache entry per certificate).
  const certId = await certIdFor(issuer, leaf, "SHA-1");
  const fail = (why: string) => {
    say(`ocsp-relay fetch-ocsp-response: ${file}: ${why}; h2o keeps its current staple`);
    return EX_TEMPFAIL;
  };
  const asked = await askRelay(relay, key, certId, undefined, timeoutMs);
  if (!asked.ok) {
    if (asked.status !== undefined)
      return fail(
        `the relay answered HTTP ${asked.status}${asked.error ? ` (${asked.error}${asked.cause ? `: ${asked.cause}` : ""})` : ""}`,
      );
    if (asked.over !== undefined)
      return fail(`the answer is over ${MAX_RESPONSE_BYTES} bytes (refused after ${asked.over})`);
    return fail(`cannot reach the relay at ${relay}: ${asked.network}`);
  }
  const response = asked.bytes;

  const now = new Date();
  const verdict = await verifyResponse({ response, issuer, certId, now });
  if (!verdict.ok)
    return fail(
      `the relay's answer is refused: ${verdict.reason}: ${verdict.detail}` +
        (/unauthorized/.test(verdict.detail)
          ? " (is the issuer registered with the relay, and the fleet key given?)"
          : ""),
    );
  const status = verdict.certStatus;
  const leftMs = verdict.nextUpdate.getTime() - now.getTime();
  if (status.status === "unknown")
    return fail(`the CA answers "unknown" for "${leaf.subjectText}"`);
  if (leftMs < minValidityMs)
    return fail(
      `the answer is valid ${formatDuration(leftMs)} more, less than --min-validity ${values["min-validity"]}`,
    );
  // A valid "revoked" answer is printed too, with exit 0: it is the truth, stapling it makes
  // clients refuse the certificate at once, and exit 75 would keep an older "good" staple.
  if (status.status === "revoked")
    say(
      `ocsp-relay fetch-ocsp-response: WARNING: ${file} is REVOKED (at ${status.revocationTime.toISOString()}): replace it now`,
    );
  say(
    `ocsp-relay fetch-ocsp-response: ${file}: ${status.status}, nextUpdate ${verdict.nextUpdate.toISOString()} (${formatDuration(leftMs)} left), ${response.length} bytes from ${relay}`,
  );
  process.stdout.write(response);
  return 0;
}
