// `ocsp-relay chain`: the certificate path of a server (as it serves it) or of a PEM file, and the
// bundle nginx's `ssl_trusted_certificate` needs for `ssl_stapling_verify`: the intermediates, then
// the root (RFC 6960 §4.2.2.2: the answer is checked against the leaf's issuer and its chain).
// With --relay, a leaf without OCSP also gets its CRL status from the relay (POST /check).

import { existsSync } from "node:fs";
import { bytesEqual } from "../ocsp/bytes.ts";
import type { CertificateFacts } from "../ocsp/certificate.ts";
import {
  parse,
  parseDuration,
  parseHostPort,
  readCertificates,
  relayUrl,
  say,
  UsageError,
  writeFileAtomic,
  fleetKey,
} from "./args.ts";
import { buildPath, isSelfSigned, leafOf, rootStore, toPem, type Sourced } from "./pki.ts";
import { describeSearched } from "./roots.ts";
import { askRelayCrl, crlAdvice, crlVerdict, crlWindow } from "./crl-status.ts";
import { probeTls, ProbeError, type Probe } from "./tls-probe.ts";

export async function chainCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    "ca-file": { type: "string" },
    servername: { type: "string" },
    out: { type: "string" },
    timeout: { type: "string", default: "10s" },
    relay: { type: "string" },
    "fleet-key": { type: "string" },
  });
  const relay = values.relay === undefined ? undefined : relayUrl(values.relay);
  if (positionals.length !== 1)
    throw new UsageError(
      "give one host:port or one PEM file: ocsp-relay chain example.com:443 | chain fullchain.pem",
    );
  const target = positionals[0]!;
  const now = new Date();
  const caFile = values["ca-file"];
  const trusted: Sourced[] = caFile
    ? readCertificates(caFile, "--ca-file").map((cert) => ({ cert, source: `--ca-file ${caFile}` }))
    : [];
  const hostPort = existsSync(target) ? undefined : parseHostPort(target);
  const store = rootStore();
  const stores = describeSearched(store);

  let leaf: Sourced;
  let others: Sourced[];
  let probe: Probe | undefined;
  if (!hostPort) {
    if (values.servername) throw new UsageError("--servername applies to host:port only");
    const certs = readCertificates(target, "chain file");
    const first = leafOf(certs) ?? certs[0]!;
    leaf = { cert: first, source: target };
    others = certs.filter((c) => c !== first).map((cert) => ({ cert, source: target }));
    say(`${target}: ${certs.length} certificate(s)`);
  } else {
    const timeoutMs = parseDuration(values.timeout!, "--timeout");
    say(`connecting to ${hostPort.host}:${hostPort.port} ...`);
    try {
      probe = await probeTls({
        ...hostPort,
        servername: values.servername,
        // The verdict is against what the path is built from: --ca-file, or Node's and the system's roots.
        ca: (caFile ? trusted : store.roots).map((t) => toPem(t.cert)).join(""),
        requestOCSP: false,
        timeoutMs,
      });
    } catch (e) {
      if (!(e instanceof ProbeError)) throw e;
      say(`ocsp-relay chain: ${e.message}`);
      return 2;
    }
    const [first, ...rest] = probe.served;
    leaf = { cert: first!, source: "served" };
    others = rest.map((cert) => ({ cert, source: "served" }));
    say(
      `${target} serves ${probe.served.length} certificate(s) (${probe.protocol ?? "TLS"}` +
        `${probe.servername ? `, servername ${probe.servername}` : ", no SNI"})`,
    );
    say(
      probe.authorized
        ? `chain verified: yes (against ${caFile ?? stores}, name matches)`
        : `chain verified: NO (${probe.authorizationError}${caFile ? `, against ${caFile}` : ""})`,
    );
    servedOrderWarnings(probe.served);
  }

  const anchors = [...trusted, ...store.roots];
  const { path, complete } = await buildPath(leaf, others, anchors);
  say("");
  for (const [i, step] of path.entries()) describe(step, i, path.length, complete, now);
  say("");
  describeLeaf(leaf.cert);
  // Asked for (--relay) and the leaf has no OCSP: what its CRL says, exit 1 unless good.
  let revocationFailed = false;
  if (relay && leaf.cert.ocspUrls.length === 0) {
    const timeoutMs = parseDuration(values.timeout!, "--timeout");
    const crl = await askRelayCrl(
      relay,
      leaf.cert,
      path[1]?.cert,
      timeoutMs,
      fleetKey(values["fleet-key"]),
    );
    if (crl.ok) {
      say(`leaf CRL status (from the relay ${relay}): ${crlVerdict(crl.body)}`);
      const window = crlWindow(crl.body.crl, now.getTime());
      if (window) say(`    ${window}`);
      const advice = crlAdvice(crl.body);
      if (advice) say(`    next: ${advice}`);
      revocationFailed = crl.body.status !== "good";
    } else {
      say(`leaf CRL status: not known: ${crl.problem}`);
      say(`    next: ${crl.next}`);
      revocationFailed = true;
    }
  } else if (relay) {
    say(
      "note: --relay is asked only about certificates without OCSP; ocsp-relay register shows this one's OCSP answer",
    );
  } else if (leaf.cert.ocspUrls.length === 0 && leaf.cert.crlUrls.length > 0) {
    say("note: add --relay URL to see the leaf's CRL status as the relay verified it");
  }
  for (const extra of others.filter((o) => !path.some((p) => p.cert === o.cert))) {
    say(`note: ${extra.source} certificate "${extra.cert.subjectText}" is not on the leaf's path`);
  }
  if (complete && path.length > 1 && path.at(-1)!.source === "served") {
    say("note: the server sends its root too; harmless, but clients never use it");
  }

  if (await isSelfSigned(leaf.cert)) {
    say("ocsp-relay chain: the certificate is self-signed: there is no issuer to ask about it");
    return 1;
  }
  if (path.length === 1) {
    say(
      `ocsp-relay chain: the issuer of the leaf ("${leaf.cert.issuerText}") is ${probe ? "not served" : `not in ${target}`}` +
        `${caFile ? ` nor in ${caFile}` : ""}. ${
          probe
            ? "Fix the server to send its intermediate (ssl_certificate = fullchain.pem), or give it with --ca-file."
            : "Give a fullchain file (leaf, then intermediates), or the intermediates and root with --ca-file."
        }`,
    );
    return 1;
  }
  if (!complete) {
    const top = path.at(-1)!.cert;
    say(
      `ocsp-relay chain: no root found for "${top.issuerText}" (not ${probe ? "served" : `in ${target}`}, ` +
        `${caFile ? `not in ${caFile}, ` : ""}not in ${stores}). Give the root certificate with --ca-file roots.pem.`,
    );
    return 1;
  }
  const root = path.at(-1)!;
  if (!anchors.some((a) => bytesEqual(a.cert.der, root.cert.der))) {
    say(
      `warning: the root "${root.cert.subjectText}" comes only from ${root.source}, not from --ca-file, Node's root store or the system store: make sure it is a root you trust`,
    );
  }
  const bundle = path
    .slice(1)
    .map((p) => toPem(p.cert))
    .join("");
  const what = `ssl_trusted_certificate bundle: ${path.length - 2} intermediate(s) + root`;
  if (values.out) {
    writeFileAtomic(values.out, bundle);
    say(`wrote the ${what} to ${values.out}`);
  } else {
    process.stdout.write(bundle);
    say(`printed the ${what}`);
  }
  if (leaf.cert.ocspUrls.length === 0)
    say(
      "note: nginx needs the bundle for ssl_stapling_verify only: with ssl_stapling off it is not used",
    );
  return revocationFailed ? 1 : 0;
}

function describe(step: Sourced, i: number, length: number, complete: boolean, now: Date): void {
  const c = step.cert;
  const role = i === 0 ? "leaf" : complete && i === length - 1 ? "root" : "intermediate";
  const left = c.notAfter.getTime() - now.getTime();
  const expiry =
    left <= 0
      ? `EXPIRED on ${c.notAfter.toISOString()}: renew it`
      : `notAfter ${c.notAfter.toISOString()}${left < 14 * 86_400_000 ? " (expires within 14 days!)" : ""}`;
  say(`[${i}] ${role.padEnd(12)} ${c.subjectText}`);
  say(`    issuer       ${c.issuerText}`);
  say(`    ${expiry}; from ${step.source}`);
}

function describeLeaf(leaf: CertificateFacts): void {
  for (const line of leafRevocationLines(leaf)) say(line);
}

/**
 * What the leaf says about its revocation (RFC 5280 §4.2.2.1 AIA OCSP, §4.2.1.13 CRLDP) and what
 * that means for stapling. A certificate without an OCSP URL cannot be stapled: there is no
 * responder to ask, so the advice is to turn stapling off for it, not to find one. Pure.
 */
export function leafRevocationLines(leaf: CertificateFacts): string[] {
  const lines: string[] = [];
  const [crl, ...moreCrls] = leaf.crlUrls;
  const alsoCrl = moreCrls.length > 0 ? ` (also ${moreCrls.join(", ")})` : "";
  if (leaf.ocspUrls.length > 0) {
    lines.push(`leaf OCSP responder (AIA): ${leaf.ocspUrls.join(", ")}`);
    if (crl) lines.push(`leaf CRL distribution point: ${crl}${alsoCrl} (stapling uses OCSP)`);
  } else {
    lines.push(
      "leaf OCSP responder: NONE: the certificate has no OCSP URL in its AIA extension, so it cannot be stapled",
      crl
        ? `leaf revocation: by CRL only: its CA publishes revocation at ${crl}${alsoCrl}`
        : "leaf revocation: no CRL distribution point either: the certificate says nowhere how to check whether it is revoked",
      "for this certificate:",
      '  nginx:   ssl_stapling off;  (left on, nginx warns "ssl_stapling" ignored, no OCSP responder URL in the certificate, and staples nothing)',
      '  HAProxy: no .ocsp file beside the certificate, no "ocsp-update on" and no "set ssl ocsp-response" for it',
      crl
        ? "  clients that check revocation fetch the CRL themselves; there is no OCSP answer for the relay to serve"
        : "  if its CA runs an OCSP responder that the certificate does not name (a private CA), register the issuer with --responder URL",
    );
  }
  if (!leaf.mustStaple) lines.push("leaf Must-Staple: no");
  else if (leaf.ocspUrls.length > 0)
    lines.push(
      "leaf Must-Staple (TLS Feature status_request): YES: the server must staple a valid answer, or clients that enforce it refuse the site",
    );
  else
    lines.push(
      "leaf Must-Staple (TLS Feature status_request): YES, with no OCSP responder to staple from: clients that enforce it refuse the site: replace the certificate",
    );
  return lines;
}

/** Each served certificate should be issued by the next one (RFC 8446 §4.4.2 asks for that order). */
function servedOrderWarnings(served: CertificateFacts[]): void {
  for (let i = 0; i + 1 < served.length; i++) {
    const [a, b] = [served[i]!, served[i + 1]!];
    if (a.issuerText !== b.subjectText) {
      say(
        `note: served certificate ${i + 1} ("${b.subjectText}") is not the issuer of certificate ${i} ("${a.issuerText}"): check the order of ssl_certificate`,
      );
      return;
    }
  }
}
