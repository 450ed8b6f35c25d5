// `ocsp-relay verify`: the protocol core's verdict on a response file, for people and for tools.

import { decodeRequest, certIdFor, type CertId } from "../ocsp/request.ts";
import { toHex } from "../ocsp/bytes.ts";
import { verifyResponse, type Verdict } from "../ocsp/verify.ts";
import { parse, readBytes, readCertificate, required, UsageError } from "./args.ts";

export async function verifyCommand(args: string[]): Promise<number> {
  const { values } = parse(args, {
    response: { type: "string" },
    issuer: { type: "string" },
    cert: { type: "string" },
    request: { type: "string" },
    at: { type: "string" },
    json: { type: "boolean", default: false },
  });
  const response = readBytes(required(values.response, "--response"), "response");
  const issuer = readCertificate(required(values.issuer, "--issuer"), "issuer");
  if (!values.cert === !values.request)
    throw new UsageError("give exactly one of --cert or --request");
  const now = values.at ? new Date(values.at) : new Date();
  if (Number.isNaN(now.getTime()))
    throw new UsageError(`--at ${values.at} is not a date (use ISO 8601)`);

  let certId: CertId;
  if (values.cert) {
    certId = await certIdFor(issuer, readCertificate(values.cert, "certificate"));
  } else {
    const request = decodeRequest(readBytes(values.request!, "request"));
    if (!request.ok)
      throw new UsageError(
        `request ${values.request} is not an OCSP request: ${request.error.detail}`,
      );
    if (request.value.certIds.length !== 1)
      throw new UsageError("the request must ask about exactly one certificate");
    certId = request.value.certIds[0]!;
  }
  // A CertID made from --cert uses SHA-1; if the response answers with another hash, match on it.
  const verdict = await verifyWithAnyHash(response, issuer, certId, now, Boolean(values.cert));
  const summary = summarize(verdict);
  process.stdout.write(values.json ? JSON.stringify(summary) + "\n" : human(verdict) + "\n");
  return verdict.ok ? 0 : 1;
}

export async function verifyWithAnyHash(
  response: Uint8Array,
  issuer: Parameters<typeof verifyResponse>[0]["issuer"],
  sha1Id: CertId,
  now: Date,
  fromCert: boolean,
): Promise<Verdict> {
  const first = await verifyResponse({ response, issuer, certId: sha1Id, now });
  if (first.ok || first.reason !== "certIdMismatch" || !fromCert) return first;
  for (const hash of ["SHA-256", "SHA-384", "SHA-512"] as const) {
    const id = await certIdFor(issuer, sha1Id, hash);
    const v = await verifyResponse({ response, issuer, certId: id, now });
    if (v.ok || v.reason !== "certIdMismatch") return v;
  }
  return first;
}

export function summarize(v: Verdict): Record<string, unknown> {
  if (!v.ok) return { ok: false, reason: v.reason, detail: v.detail };
  const s = v.certStatus;
  return {
    ok: true,
    status: s.status,
    ...(s.status === "revoked"
      ? {
          revocationTime: s.revocationTime.toISOString(),
          revocationReason: s.revocationReason ?? null,
        }
      : {}),
    thisUpdate: v.thisUpdate.toISOString(),
    nextUpdate: v.nextUpdate.toISOString(),
    nextUpdateAbsent: v.nextUpdateAbsent,
    producedAt: v.producedAt.toISOString(),
    responder: v.responder,
    responderIdType: v.responderIdType,
    signatureAlgorithm: v.signatureAlgorithm,
    serial: toHex(v.certId.serialNumber),
    certIdHash: v.certId.hashName ?? v.certId.hashAlgorithm,
  };
}

function human(v: Verdict): string {
  if (!v.ok) return `REJECTED: ${v.reason}: ${v.detail}`;
  const s = v.certStatus;
  const status =
    s.status === "revoked"
      ? `revoked at ${s.revocationTime.toISOString()}${s.revocationReason ? ` (${s.revocationReason})` : ""}`
      : s.status;
  return [
    `OK: ${status}`,
    `  thisUpdate  ${v.thisUpdate.toISOString()}`,
    `  nextUpdate  ${v.nextUpdate.toISOString()}${v.nextUpdateAbsent ? " (absent in response; default lifetime)" : ""}`,
    `  producedAt  ${v.producedAt.toISOString()}`,
    `  signed by   ${v.responder === "issuer" ? "the issuing CA" : "a delegated OCSP responder"} (${v.responderIdType}, ${v.signatureAlgorithm})`,
  ].join("\n");
}
