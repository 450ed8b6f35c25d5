// `ocsp-relay register`: tells a relay about a certificate's issuing CA through the admin API
// (POST /admin/issuers with the leaf followed by its issuer), so the relay pins the leaf and fetches
// its first answer at once; the responder comes from the leaf's AIA (RFC 5280 §4.2.2.1) or --responder.
// A leaf without an OCSP responder cannot be stapled: the issuer is registered for CRL status
// instead (the relay learns the CRL URL from the leaf's CRL distribution point, RFC 5280 §4.2.1.13,
// or from --crl), and what the CRL says of the leaf is printed.

import { serialHex } from "../ocsp/certificate.ts";
import { toBase64 } from "../ocsp/bytes.ts";
import { certIdFor, encodeRequest } from "../ocsp/request.ts";
import { decodeResponse } from "../ocsp/response.ts";
import {
  adminToken,
  fleetKey,
  formatDuration,
  networkError,
  ocspBase,
  parse,
  parseDuration,
  relayUrl,
  say,
  UsageError,
} from "./args.ts";
import { leafAndIssuer, toPem } from "./pki.ts";
import type { ErrorJson, RegisteredIssuerJson } from "../wire.ts";
import { crlAdvice, crlVerdict, crlWindow, httpCrlUrl } from "./crl-status.ts";

export async function registerCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    relay: { type: "string" },
    token: { type: "string" },
    responder: { type: "string" },
    crl: { type: "string" },
    json: { type: "boolean", default: false },
    timeout: { type: "string", default: "30s" },
    "fleet-key": { type: "string" },
  });
  const relay = relayUrl(values.relay);
  const key = fleetKey(values["fleet-key"]);
  const token = adminToken(values.token);
  if (positionals.length !== 1)
    throw new UsageError(
      "give one chain file: ocsp-relay register --relay URL --token T fullchain.pem",
    );
  const file = positionals[0]!;
  const timeoutMs = parseDuration(values.timeout!, "--timeout");
  const { leaf, issuer } = await leafAndIssuer(file);
  // No OCSP responder to relay: the certificate cannot be stapled, and its status comes from a CRL.
  const byCrl = !values.responder && leaf.ocspUrls.length === 0;
  const crlUrl = values.crl ?? httpCrlUrl(leaf);
  if (byCrl && !crlUrl)
    throw new UsageError(
      `"${leaf.subjectText}" names neither an OCSP responder (AIA) nor an http(s) CRL distribution point: ` +
        "give --responder URL if its CA runs an OCSP responder the certificate does not name, or --crl URL for its CA's CRL",
    );
  if (byCrl) {
    say(
      `"${leaf.subjectText}" has no OCSP responder in its AIA extension: it cannot be stapled ` +
        "(nginx: ssl_stapling off; HAProxy: no .ocsp file). Its CA publishes revocation by CRL at " +
        `${crlUrl}${values.crl ? " (--crl)" : ""}.`,
    );
  }

  const query = new URLSearchParams();
  if (values.responder) query.set("responder", values.responder);
  if (values.crl) query.set("crl", values.crl);
  const url = `${relay}/admin/issuers${query.toString() ? `?${query.toString()}` : ""}`;
  say(
    byCrl
      ? `registering "${issuer.cert.subjectText}" with ${relay} for CRL status (the relay fetches and verifies the CRL now) ...`
      : `registering "${issuer.cert.subjectText}" with ${relay} (the relay fetches the leaf's first answer now) ...`,
  );
  let res: Response;
  try {
    res = await fetch(url, {
      method: "POST",
      headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/x-pem-file" },
      body: toPem(leaf) + toPem(issuer.cert),
      redirect: "error",
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (e) {
    say(
      `ocsp-relay register: cannot reach the relay at ${relay}: ${networkError(e)}. Check --relay (its base URL) and that it is running.`,
    );
    return 1;
  }
  const text = await res.text();
  let reply: unknown;
  try {
    reply = JSON.parse(text);
  } catch {
    say(
      `ocsp-relay register: HTTP ${res.status} from ${url} is not the relay's JSON (${text.slice(0, 200)}): is --relay the relay's base URL?`,
    );
    return 1;
  }
  if (res.status !== 200 && res.status !== 201) {
    const refused = reply as ErrorJson;
    say(`ocsp-relay register: the relay refused (HTTP ${res.status}): ${JSON.stringify(refused)}`);
    say(`  next: ${fixFor(res.status, refused)}`);
    if (values.json)
      process.stdout.write(`${JSON.stringify({ status: res.status, ...refused })}\n`);
    return 1;
  }
  const body = reply as RegisteredIssuerJson; // 200 (updated) or 201 (new)

  const out = values.json ? say : (line: string) => process.stdout.write(`${line}\n`);
  out(
    res.status === 201
      ? `registered issuer "${body.subject}" (HTTP 201, new)`
      : `issuer "${body.subject}" was already registered (HTTP 200; ${byCrl ? "CRL URLs" : "responder"} as sent now)`,
  );
  out(`  id         ${body.id}`);
  if (body.responderUrl || !byCrl) out(`  responder  ${body.responderUrl ?? "none"}`);
  if (body.crlUrls?.length) out(`  crl        ${body.crlUrls.join(", ")}`);
  let failed = false;
  const now = Date.now();
  for (const w of body.warmed ?? []) {
    const serial = (w.serial ?? serialHex(leaf)).toUpperCase();
    if (w.revocationSource === "crl") {
      // The leaf's status in its CA's CRL, as the relay verified it; anything but good fails.
      const verdict = crlVerdict(w);
      out(`  leaf       serial ${serial}: cannot be stapled (no OCSP responder)`);
      out(`  CRL status ${verdict}`);
      const window = crlWindow(w.crl, now);
      if (window) out(`             ${window}`);
      if (w.status !== "good") {
        failed = true;
        say(
          `ocsp-relay register: the issuer is registered, but the CRL does not say good: ${crlAdvice(w)}`,
        );
      }
    } else if (w.error) {
      failed = true;
      out(`  leaf       serial ${serial}: first fetch FAILED: ${w.error}`);
    } else {
      const next = w.nextUpdate ? Date.parse(w.nextUpdate) : NaN;
      out(
        `  leaf       serial ${serial}: ${w.status}, nextUpdate ${w.nextUpdate}${Number.isNaN(next) ? "" : ` (${formatDuration(next - now)} left)`}`,
      );
      if (w.status !== "good") failed = true;
    }
  }
  if (byCrl && !(body.warmed ?? []).some((w) => w.revocationSource === "crl")) {
    failed = true;
    say(
      "ocsp-relay register: the relay's answer carries no CRL status for the leaf: does this relay version check CRLs?",
    );
  }
  if (byCrl) {
    out(
      "  servers    no stapling for this certificate: ssl_stapling off; (ocsp-relay config nginx --cert … prints it)",
    );
    out(
      `  status     ocsp-relay check <host:port> --relay ${relay}  (or curl --data-binary @leaf.pem ${relay}/check)`,
    );
  }
  const ocspFailed = failed && !byCrl;
  if (key && byCrl) {
    out("  fleet key  not used: this certificate has no OCSP answer for servers to fetch");
  } else if (key) {
    // What the fleet's servers will send: a GET under the fleet key, as nginx makes it.
    const certId = await certIdFor(issuer.cert, leaf, "SHA-1");
    const get = `${ocspBase(relay, key)}/${encodeURIComponent(toBase64(encodeRequest(certId)))}`;
    const seen = await fetch(get, { redirect: "error", signal: AbortSignal.timeout(timeoutMs) })
      .then(async (r) => decodeResponse(new Uint8Array(await r.arrayBuffer())))
      .catch(() => undefined);
    const status = seen?.ok ? seen.value.status : "no answer";
    out(`  fleet key  the OCSP endpoint under /k/<key>/ answers: ${status}`);
    if (status === "unauthorized") {
      failed = true;
      say(
        "ocsp-relay register: the relay refuses OCSP requests under that fleet key: give one of the keys in its OCSP_KEYS secret",
      );
    }
    out(
      `  servers    ssl_stapling_responder ${ocspBase(relay, "<key>")}/;  (ocsp-relay config nginx --fleet-key … prints it)`,
    );
  }
  if (ocspFailed) {
    say(
      "ocsp-relay register: the issuer is registered, but the leaf's answer is not good: " +
        "if the fetch failed, check that the relay can reach the responder (and the responder URL); " +
        "if revoked or unknown, check the certificate with its CA",
    );
  }
  if (values.json)
    process.stdout.write(
      `${JSON.stringify({ status: res.status, revocationSource: byCrl ? "crl" : "ocsp", ...body })}\n`,
    );
  return failed ? 1 : 0;
}

function fixFor(status: number, body: ErrorJson): string {
  switch (status) {
    case 401:
      return "the token is wrong: give the relay's ADMIN_TOKEN (npx wrangler secret put ADMIN_TOKEN sets it)";
    case 403:
      return "the relay's admin API is disabled: set its ADMIN_TOKEN secret (npx wrangler secret put ADMIN_TOKEN), then retry";
    case 404:
    case 405:
      return "no admin API at that URL: --relay must be the relay's base URL (e.g. https://relay.example.net)";
    case 413:
      return "the PEM is too large: send only the leaf and its issuer";
  }
  switch (body.error) {
    case "responder URL refused":
      return "the relay refuses that responder URL (it must be http(s), public unless ALLOW_PRIVATE_RESPONDERS=true): check --responder or the leaf's AIA";
    case "responder URL required":
      return "give the responder with --responder URL, or the CA's CRL with --crl URL";
    case "CRL URL refused":
      return "the relay refuses that CRL URL (it must be http(s), public unless ALLOW_PRIVATE_RESPONDERS=true): check --crl or the leaf's CRL distribution point";
    case "not the issuer":
    case "not a CA certificate":
      return "the file must hold the leaf followed by the CA that issued it (fullchain.pem)";
    default:
      return "read the relay's detail above; fix the input and retry";
  }
}
