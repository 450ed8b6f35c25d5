// `ocsp-relay register`: tells a relay about a certificate's issuing CA through the admin API
// (POST /admin/issuers with the leaf followed by its issuer), so the relay pins the leaf and fetches
// its first answer at once; the responder comes from the leaf's AIA (RFC 5280 §4.2.2.1) or --responder.

import { serialHex } from "../ocsp/certificate.ts";
import { toBase64 } from "../ocsp/bytes.ts";
import { certIdFor, encodeRequest } from "../ocsp/request.ts";
import { decodeResponse } from "../ocsp/response.ts";
import {
  fleetKey,
  formatDuration,
  networkError,
  ocspBase,
  parse,
  parseDuration,
  readCertificates,
  relayUrl,
  say,
  UsageError,
} from "./args.ts";
import { findIssuer, leafOf, toPem } from "./pki.ts";

interface Warmed {
  serial?: string;
  subject?: string;
  status?: string;
  nextUpdate?: string;
  error?: string;
}

interface Registered {
  id?: string;
  subject?: string;
  responderUrl?: string;
  warmed?: Warmed[];
  error?: string;
  detail?: string;
}

export async function registerCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    relay: { type: "string" },
    token: { type: "string" },
    responder: { type: "string" },
    json: { type: "boolean", default: false },
    timeout: { type: "string", default: "30s" },
    "fleet-key": { type: "string" },
  });
  const relay = relayUrl(values.relay);
  const key = fleetKey(values["fleet-key"]);
  const token = values.token ?? process.env.OCSP_RELAY_TOKEN;
  if (!token)
    throw new UsageError(
      "--token is required (the relay's ADMIN_TOKEN; or set OCSP_RELAY_TOKEN to keep it out of the process list)",
    );
  if (positionals.length !== 1)
    throw new UsageError(
      "give one chain file: ocsp-relay register --relay URL --token T fullchain.pem",
    );
  const file = positionals[0]!;
  const timeoutMs = parseDuration(values.timeout!, "--timeout");
  const certs = readCertificates(file, "chain file");
  const leaf = leafOf(certs);
  if (!leaf)
    throw new UsageError(
      `${file} holds only CA certificates: give the leaf followed by its issuer (fullchain.pem)`,
    );
  const issuer = await findIssuer(
    leaf,
    certs.map((cert) => ({ cert, source: file })),
  );
  if (!issuer)
    throw new UsageError(
      `the issuer of "${leaf.subjectText}" ("${leaf.issuerText}") is not in ${file}: use the fullchain file (leaf, then intermediates)`,
    );
  if (!values.responder && leaf.ocspUrls.length === 0)
    throw new UsageError(
      `"${leaf.subjectText}" names no OCSP responder in its AIA extension: give one with --responder URL`,
    );

  const url = `${relay}/admin/issuers${values.responder ? `?responder=${encodeURIComponent(values.responder)}` : ""}`;
  say(
    `registering "${issuer.cert.subjectText}" with ${relay} (the relay fetches the leaf's first answer now) ...`,
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
  let body: Registered;
  try {
    body = JSON.parse(text) as Registered;
  } catch {
    say(
      `ocsp-relay register: HTTP ${res.status} from ${url} is not the relay's JSON (${text.slice(0, 200)}): is --relay the relay's base URL?`,
    );
    return 1;
  }
  if (res.status !== 200 && res.status !== 201) {
    say(`ocsp-relay register: the relay refused (HTTP ${res.status}): ${JSON.stringify(body)}`);
    say(`  next: ${fixFor(res.status, body)}`);
    if (values.json) process.stdout.write(`${JSON.stringify({ status: res.status, ...body })}\n`);
    return 1;
  }

  const out = values.json ? say : (line: string) => process.stdout.write(`${line}\n`);
  out(
    res.status === 201
      ? `registered issuer "${body.subject}" (HTTP 201, new)`
      : `issuer "${body.subject}" was already registered (HTTP 200; responder as sent now)`,
  );
  out(`  id         ${body.id}`);
  out(`  responder  ${body.responderUrl}`);
  let failed = false;
  const now = Date.now();
  for (const w of body.warmed ?? []) {
    const serial = (w.serial ?? serialHex(leaf)).toUpperCase();
    if (w.error) {
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
  if (key) {
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
  if (failed) {
    say(
      "ocsp-relay register: the issuer is registered, but the leaf's answer is not good: " +
        "if the fetch failed, check that the relay can reach the responder (and the responder URL); " +
        "if revoked or unknown, check the certificate with its CA",
    );
  }
  if (values.json) process.stdout.write(`${JSON.stringify({ status: res.status, ...body })}\n`);
  return failed ? 1 : 0;
}

function fixFor(status: number, body: Registered): string {
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
      return "give the responder with --responder URL";
    case "not the issuer":
    case "not a CA certificate":
      return "the file must hold the leaf followed by the CA that issued it (fullchain.pem)";
    default:
      return "read the relay's detail above; fix the input and retry";
  }
}
