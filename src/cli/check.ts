// `ocsp-relay check`: does a TLS server staple, and would a careful client accept the staple?
// One handshake asking for status_request (RFC 6066 §8), then the core's verdict on the stapled
// OCSPResponse (RFC 6960 §3.2) against the leaf's issuer, and the Must-Staple flag (RFC 7633).

import type { CertificateFacts } from "../ocsp/certificate.ts";
import { serialHex } from "../ocsp/certificate.ts";
import { certIdFor } from "../ocsp/request.ts";
import type { Verdict } from "../ocsp/verify.ts";
import { formatDuration, parse, parseDuration, readCertificates, say, UsageError } from "./args.ts";
import { findIssuer, systemRoots, toPem, type Sourced } from "./pki.ts";
import { probeTls, ProbeError, targetOf, type Probe } from "./tls-probe.ts";
import { summarize, verifyWithAnyHash } from "./verify.ts";

export async function checkCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    servername: { type: "string" },
    "ca-file": { type: "string" },
    json: { type: "boolean", default: false },
    timeout: { type: "string", default: "10s" },
  });
  if (positionals.length !== 1)
    throw new UsageError("give one server: ocsp-relay check example.com:443");
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

  if (values.json) {
    emit({
      ok: result.ok,
      target: name,
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
      mustStaple: leaf.mustStaple,
      chainVerified: probe.authorized,
      chainError: probe.authorizationError ?? null,
      leaf: {
        subject: leaf.subjectText,
        serial: serialHex(leaf).toUpperCase(),
        notAfter: leaf.notAfter.toISOString(),
      },
      issuer: issuer ? { subject: issuer.cert.subjectText, source: issuer.source } : null,
      problem: result.ok ? null : result.summary,
    });
  }
  return result.ok ? 0 : 1;
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
