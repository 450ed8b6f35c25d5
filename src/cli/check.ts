// `ocsp-relay check`: does a TLS server staple, and would a careful client accept the staple?
// One handshake asking for status_request (RFC 6066 §8), then the core's verdict on the stapled
// OCSPResponse (RFC 6960 §3.2) against the leaf's issuer, and the Must-Staple flag (RFC 7633).
// A leaf without an OCSP responder cannot be stapled: its status is what its CA's CRL says, asked
// of the relay (--relay, POST /check), which fetches and verifies that CRL (RFC 5280 §6.3).

import type { CertificateFacts } from "../ocsp/certificate.ts";
import { serialHex } from "../ocsp/certificate.ts";
import { certIdFor } from "../ocsp/request.ts";
import type { Verdict } from "../ocsp/verify.ts";
import {
  formatDuration,
  parse,
  parseDuration,
  readCertificates,
  relayUrl,
  say,
  UsageError,
  fleetKey,
} from "./args.ts";
import { askRelayCrl, crlAdvice, crlVerdict, crlWindow, type CrlAnswer } from "./crl-status.ts";
import { findIssuer, systemRoots, toPem, type Sourced } from "./pki.ts";
import { probeTls, ProbeError, targetOf, type Probe } from "./tls-probe.ts";
import { summarize, verifyWithAnyHash } from "./verify.ts";

export async function checkCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    servername: { type: "string" },
    "ca-file": { type: "string" },
    json: { type: "boolean", default: false },
    timeout: { type: "string", default: "10s" },
    relay: { type: "string" },
    "fleet-key": { type: "string" },
  });
  if (positionals.length !== 1)
    throw new UsageError("give one server: ocsp-relay check example.com:443");
  const relay = values.relay === undefined ? undefined : relayUrl(values.relay);
  const target = targetOf(positionals[0], "check");
  const timeoutMs = parseDuration(values.timeout!, "--timeout");
  const caFile = values["ca-file"];
  const trusted: Sourced[] = caFile
    ? readCertificates(caFile, "--ca-file").map((cert) => ({ cert, source: caFile }))
    : [];
  const name = `${target.host.includes(":") ? `[${target.host}]` : target.host}:${target.port}`;
  // With --json, stdout carries the JSON alone; the report goes to stderr.
  const out = values.json ? say : (line: string) => process.stdout.write(`${line}\n`);

  say(`connecting to ${name}, asking for a stapled OCSP response ...`);
  let probe: Probe;
  try {
    probe = await probeTls({
      ...target,
      servername: values.servername,
      ca: caFile ? trusted.map((t) => toPem(t.cert)).join("") : undefined,
      requestOCSP: true,
      timeoutMs,
    });
  } catch (e) {
    if (!(e instanceof ProbeError)) throw e;
    out(`FAIL: ${e.message}`);
    if (values.json) emit({ ok: false, target: name, problem: e.message });
    return 1;
  }

  const now = new Date();
  const leaf = probe.served[0]!;
  const pool: Sourced[] = [
    ...probe.served.slice(1).map((cert) => ({ cert, source: "served" })),
    ...trusted,
    ...systemRoots(),
  ];
  const issuer = await findIssuer(leaf, pool);
  // No responder named and nothing stapled: nothing to staple, so the CRL is what counts. (A
  // server that staples anyway, from a responder configured by hand, has its staple checked below.)
  if (leaf.ocspUrls.length === 0 && !probe.staple) {
    const crl = relay
      ? await askRelayCrl(relay, leaf, issuer?.cert, timeoutMs, fleetKey(values["fleet-key"]))
      : undefined;
    return reportCrlOnly({
      name,
      probe,
      leaf,
      issuer,
      caFile,
      relay,
      crl,
      now,
      out,
      json: values.json!,
    });
  }
  const verdict =
    probe.staple && issuer
      ? await verifyWithAnyHash(
          probe.staple,
          issuer.cert,
          await certIdFor(issuer.cert, leaf),
          now,
          true,
        )
      : undefined;
  const result = assess(probe, leaf, issuer, verdict, now);

  out(
    `ocsp-relay check ${name}${probe.servername ? ` (servername ${probe.servername})` : " (no SNI)"}`,
  );
  out(`  certificate  ${leaf.subjectText}, serial ${serialHex(leaf).toUpperCase()}`);
  out(
    `               notAfter ${leaf.notAfter.toISOString()} (${leaf.notAfter > now ? `${formatDuration(leaf.notAfter.getTime() - now.getTime())} left` : "EXPIRED"})`,
  );
  out(
    probe.authorized
      ? `  chain        verified (against ${caFile ?? "Node's root store"})`
      : `  chain        NOT verified: ${probe.authorizationError}${caFile ? "" : " (give the root with --ca-file if it is private)"}`,
  );
  out(
    issuer
      ? `  issuer       ${issuer.cert.subjectText} (${issuer.source})`
      : `  issuer       not found: "${leaf.issuerText}" is neither served nor in --ca-file`,
  );
  out(
    probe.staple
      ? `  stapled      yes (${probe.staple.length} bytes)`
      : "  stapled      NO: the server sent no OCSP response",
  );
  if (verdict) {
    if (verdict.ok) {
      const s = verdict.certStatus;
      out(
        `  staple       valid: ${s.status}${s.status === "revoked" ? ` at ${s.revocationTime.toISOString()}${s.revocationReason ? ` (${s.revocationReason})` : ""}` : ""}, signed by ${verdict.responder === "issuer" ? "the issuing CA" : "a delegated responder"}`,
      );
      out(`  thisUpdate   ${verdict.thisUpdate.toISOString()}`);
      out(
        `  nextUpdate   ${verdict.nextUpdate.toISOString()} (${formatDuration(verdict.nextUpdate.getTime() - now.getTime())} left)`,
      );
    } else {
      out(`  staple       REJECTED: ${verdict.reason}: ${verdict.detail}`);
    }
  }
  out(`  must-staple  ${leaf.mustStaple ? "YES" : "no"}`);
  if (leaf.mustStaple && !result.validStaple) {
    out("");
    out("  !!! MUST-STAPLE CERTIFICATE WITHOUT A VALID STAPLE !!!");
    out("  !!! Clients that enforce Must-Staple (Firefox) refuse this site until it staples. !!!");
  }
  out(result.ok ? `OK: ${result.summary}` : `FAIL: ${result.summary}`);
  if (result.advice) out(`  next: ${result.advice}`);

  if (relay) out("  note: --relay is asked only about certificates without OCSP; this one staples");
  if (values.json) {
    emit({
      ok: result.ok,
      target: name,
      revocationSource: "ocsp",
      servername: probe.servername ?? null,
      stapled: probe.staple !== null,
      stapleBytes: probe.staple?.length ?? 0,
      status: verdict?.ok ? verdict.certStatus.status : null,
      nextUpdate: verdict?.ok ? verdict.nextUpdate.toISOString() : null,
      secondsLeft: verdict?.ok
        ? Math.floor((verdict.nextUpdate.getTime() - now.getTime()) / 1000)
        : null,
      timeLeft: verdict?.ok ? formatDuration(verdict.nextUpdate.getTime() - now.getTime()) : null,
      verdict: verdict ? summarize(verdict) : null,
      ...servedCertificate(leaf, probe, issuer),
      problem: result.ok ? null : result.summary,
    });
  }
  return result.ok ? 0 : 1;
}

/**
 * The screen for a leaf without an OCSP responder: no staple is expected (there is nothing to
 * staple); the CRL's verdict through the relay. Exit 0 only when the relay says the CRL lists it as
 * good; 1 when revoked, unknown, the relay cannot answer, or no --relay was given (not checked).
 */
function reportCrlOnly(o: {
  name: string;
  probe: Probe;
  leaf: CertificateFacts;
  issuer: Sourced | undefined;
  caFile: string | undefined;
  relay: string | undefined;
  crl: CrlAnswer | undefined;
  now: Date;
  out: (line: string) => void;
  json: boolean;
}): number {
  const { probe, leaf, out, now } = o;
  const crlUrl = leaf.crlUrls[0];
  out(
    `ocsp-relay check ${o.name}${probe.servername ? ` (servername ${probe.servername})` : " (no SNI)"}`,
  );
  out(`  certificate  ${leaf.subjectText}, serial ${serialHex(leaf).toUpperCase()}`);
  out(
    `               notAfter ${leaf.notAfter.toISOString()} (${leaf.notAfter > now ? `${formatDuration(leaf.notAfter.getTime() - now.getTime())} left` : "EXPIRED"})`,
  );
  out(
    probe.authorized
      ? `  chain        verified (against ${o.caFile ?? "Node's root store"})`
      : `  chain        NOT verified: ${probe.authorizationError}${o.caFile ? "" : " (give the root with --ca-file if it is private)"}`,
  );
  out(
    o.issuer
      ? `  issuer       ${o.issuer.cert.subjectText} (${o.issuer.source})`
      : `  issuer       not found: "${leaf.issuerText}" is neither served nor in --ca-file`,
  );
  out("  OCSP         none: the certificate names no OCSP responder, so it cannot be stapled");
  out(
    crlUrl
      ? `  CRL          ${leaf.crlUrls.join(", ")} (its CA publishes revocation there)`
      : "  CRL          none: the certificate says nowhere how to check whether it is revoked",
  );
  out("  stapled      no (none expected)");
  const answered = o.crl?.ok ? o.crl.body : undefined;
  if (answered) {
    out(`  CRL status   ${crlVerdict(answered)}, from the relay ${o.relay}`);
    const window = crlWindow(answered.crl, now.getTime());
    if (window) out(`               ${window}`);
  } else if (o.crl && !o.crl.ok) {
    out(`  CRL status   not known: ${o.crl.problem}`);
  }
  out(`  must-staple  ${leaf.mustStaple ? "YES" : "no"}`);
  if (leaf.mustStaple) {
    out("");
    out("  !!! MUST-STAPLE CERTIFICATE WITHOUT AN OCSP RESPONDER: IT CAN NEVER CARRY A STAPLE !!!");
    out(
      "  !!! Clients that enforce Must-Staple (Firefox) refuse this site: replace the certificate. !!!",
    );
  }
  let summary: string;
  let advice: string | undefined;
  let ok = false;
  if (!crlUrl) {
    summary = "no OCSP responder and no CRL: revocation cannot be checked";
    advice = "ask the CA how it publishes revocation for this certificate, or replace it";
  } else if (!o.relay) {
    summary = "cannot be stapled (no OCSP responder); revocation by CRL not checked";
    advice = `give --relay URL to ask the relay for its CRL status (the issuer registered with ocsp-relay register), or fetch ${crlUrl} yourself`;
  } else if (!answered) {
    summary = "cannot be stapled; the CRL status is not known";
    advice = o.crl && !o.crl.ok ? o.crl.next : undefined;
  } else {
    ok = answered.status === "good" && !leaf.mustStaple;
    summary =
      answered.status === "good"
        ? "cannot be stapled (no OCSP responder); the CRL says good"
        : answered.status === "revoked"
          ? `the certificate is REVOKED (by its CA's CRL${answered.revocationTime ? `, at ${answered.revocationTime}` : ""})`
          : "cannot be stapled; the CRL status is unknown";
    advice = crlAdvice(answered);
    if (leaf.mustStaple && answered.status === "good")
      advice =
        "a Must-Staple certificate that cannot be stapled: replace it with one without the TLS Feature extension";
  }
  out(ok ? `OK: ${summary}` : `FAIL: ${summary}`);
  if (advice) out(`  next: ${advice}`);
  if (o.json) {
    emit({
      ok,
      target: o.name,
      servername: probe.servername ?? null,
      revocationSource: "crl",
      stapleExpected: false,
      stapled: false,
      status: answered?.status ?? null,
      ...(answered?.status === "revoked"
        ? {
            revocationTime: answered.revocationTime ?? null,
            revocationReason: answered.revocationReason ?? null,
          }
        : {}),
      crl: answered?.crl ?? (crlUrl ? { url: crlUrl } : null),
      crlUrls: leaf.crlUrls,
      relay: o.relay ?? null,
      ...servedCertificate(leaf, probe, o.issuer),
      problem: ok
        ? null
        : answered?.status === "unknown" && answered.problem
          ? `${summary}: ${answered.problem}`
          : summary,
    });
  }
  return ok ? 0 : 1;
}

interface Assessment {
  ok: boolean;
  validStaple: boolean;
  summary: string;
  advice: string | undefined;
}

function assess(
  probe: Probe,
  leaf: CertificateFacts,
  issuer: Sourced | undefined,
  verdict: Verdict | undefined,
  now: Date,
): Assessment {
  if (!probe.staple) {
    return {
      ok: false,
      validStaple: false,
      summary: "no staple",
      advice:
        "nginx fetches its staple lazily, so the first handshakes after a start or reload carry none: run check again in a few seconds. " +
        "If it stays missing: ssl_stapling on; ssl_stapling_verify on with ssl_trusted_certificate = intermediates + root (ocsp-relay chain); " +
        "ssl_stapling_responder pointing at the relay (ocsp-relay config nginx); 'OCSP' lines in the error log. " +
        "HAProxy: a valid <crt>.ocsp file (ocsp-relay staple).",
    };
  }
  if (!issuer || !verdict) {
    return {
      ok: false,
      validStaple: false,
      summary: "stapled, but the staple cannot be checked without the leaf's issuer",
      advice: `give the issuer ("${leaf.issuerText}") with --ca-file, and fix the server to send it in its chain`,
    };
  }
  if (!verdict.ok) {
    return {
      ok: false,
      validStaple: false,
      summary: `the staple is not valid (${verdict.reason})`,
      advice: rejectionAdvice(verdict.reason),
    };
  }
  const left = formatDuration(verdict.nextUpdate.getTime() - now.getTime());
  switch (verdict.certStatus.status) {
    case "good":
      return {
        ok: true,
        validStaple: true,
        summary: `stapled, good, ${left} left`,
        advice: undefined,
      };
    case "revoked":
      return {
        ok: false,
        validStaple: true,
        summary: `the certificate is REVOKED (stapled, valid answer, ${left} left)`,
        advice: "replace the certificate now: issue a new one and reload the server",
      };
    case "unknown":
      return {
        ok: false,
        validStaple: false,
        summary: "the CA answers unknown for this certificate",
        advice:
          "the responder does not know this serial: check that the relay forwards this issuer to the right responder (ocsp-relay register --responder URL)",
      };
  }
}

function rejectionAdvice(reason: string): string {
  switch (reason) {
    case "expired":
      return "the server keeps serving an outdated staple: it is not refreshing it. Check that it can reach its responder (error log), or refresh the staple file (ocsp-relay staple)";
    case "notYetValid":
      return "the staple's thisUpdate is in the future: check the clocks of this machine, the server and the responder";
    case "unsuccessfulStatus":
      return "the server staples an OCSP error (tryLater/unauthorized): check that the relay serves this issuer (ocsp-relay register)";
    case "certIdMismatch":
      return "the staple is for another certificate: the staple file belongs to an old or different certificate; fetch it again (ocsp-relay staple)";
    case "badSignature":
    case "unauthorizedSigner":
      return "the staple was not signed by the leaf's issuer or its delegated responder: the responder or staple file belongs to another CA";
    default:
      return "the staple does not verify: fetch a fresh one (ocsp-relay staple) and look at the server's error log";
  }
}

function emit(value: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

/** The `--json` fields both kinds of check give about the certificate the server sent. */
function servedCertificate(leaf: CertificateFacts, probe: Probe, issuer: Sourced | undefined) {
  return {
    mustStaple: leaf.mustStaple,
    chainVerified: probe.authorized,
    chainError: probe.authorizationError ?? null,
    leaf: {
      subject: leaf.subjectText,
      serial: serialHex(leaf).toUpperCase(),
      notAfter: leaf.notAfter.toISOString(),
    },
    issuer: issuer ? { subject: issuer.cert.subjectText, source: issuer.source } : null,
  };
}
