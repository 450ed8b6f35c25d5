// The verdict on an OCSP response for one certificate, in the order a careful client checks
// (RFC 6960 §3.2, §4.2.2.2; RFC 5019 §2.2): status and type, signature, the signer's authority,
// the CertID, times, critical extensions. WebCrypto only. Pure: `now` is an argument.

import type { CertificateFacts } from "./certificate.ts";
import { bytesEqual, digest } from "./bytes.ts";
import { OID } from "./oids.ts";
import type { CertId } from "./request.ts";
import { decodeResponse, type BasicResponseFacts, type CertStatusFacts } from "./response.ts";
import { verifyCertificateSignature, verifySignature } from "./signature.ts";
import {
  checkCriticalExtensions,
  checkTimes,
  effectiveNextUpdate,
  findSingleResponse,
} from "./validate.ts";

export type RejectReason =
  | "malformed"
  | "unsuccessfulStatus"
  | "unsupportedResponseType"
  | "unsupportedVersion"
  | "unsupportedAlgorithm"
  | "badSignature"
  | "unauthorizedSigner"
  | "certIdMismatch"
  | "conflictingResponses"
  | "notYetValid"
  | "invalidTimes"
  | "expired"
  | "unknownCriticalExtension";

export const REJECT_REASONS: readonly RejectReason[] = [
  "malformed",
  "unsuccessfulStatus",
  "unsupportedResponseType",
  "unsupportedVersion",
  "unsupportedAlgorithm",
  "badSignature",
  "unauthorizedSigner",
  "certIdMismatch",
  "conflictingResponses",
  "notYetValid",
  "invalidTimes",
  "expired",
  "unknownCriticalExtension",
];

export interface Accepted {
  ok: true;
  /** The CertID answered (exactly the one asked for). */
  certId: CertId;
  certStatus: CertStatusFacts;
  thisUpdate: Date;
  /** nextUpdate, or thisUpdate + NO_NEXT_UPDATE_LIFETIME_MS when the CA sent none. */
  nextUpdate: Date;
  nextUpdateAbsent: boolean;
  producedAt: Date;
  responder: "issuer" | "delegated";
  responderIdType: "byName" | "byKey";
  signatureAlgorithm: string;
  /** The parsed response; `basic.der` is the exact DER that was verified. */
  basic: BasicResponseFacts;
}

export interface Rejected {
  ok: false;
  reason: RejectReason;
  detail: string;
}

export type Verdict = Accepted | Rejected;

export interface VerifyInput {
  /** The whole OCSPResponse DER as received. */
  response: Uint8Array;
  /** The issuing CA of the certificate asked about: the trust anchor for this answer. */
  issuer: CertificateFacts;
  /** The CertID that was asked for. */
  certId: CertId;
  now: Date;
}

const reject = (reason: RejectReason, detail: string): Rejected => ({ ok: false, reason, detail });

export async function verifyResponse(input: VerifyInput): Promise<Verdict> {
  try {
    return await verifyChecked(input);
  } catch (e) {
    // Every check returns a value; this only catches a library throwing on input it should have
    // refused. Whatever it was, the answer is not served.
    return reject(
      "malformed",
      `unreadable response (${e instanceof Error ? e.message : String(e)})`,
    );
  }
}

async function verifyChecked(input: VerifyInput): Promise<Verdict> {
  const { issuer, certId, now } = input;
  // 1. responseStatus, responseType, version.
  const decoded = decodeResponse(input.response);
  if (!decoded.ok) return reject("malformed", decoded.error.detail);
  const d = decoded.value;
  if (d.status !== "successful")
    return reject("unsuccessfulStatus", `responseStatus is ${d.status}`);
  if (!d.basic)
    return reject(
      "unsupportedResponseType",
      `responseType ${d.responseType} is not id-pkix-ocsp-basic`,
    );
  const basic = d.basic;
  if (basic.version !== 0)
    return reject("unsupportedVersion", `ResponseData version ${basic.version + 1}`);

  // 2. The signature, by the certificate the responderID names (the issuer first, then the certs
  //    carried in the response).
  const signer = await findSigner(basic, issuer);
  if (!signer.ok) return signer;

  // 3. The signer's authority (RFC 6960 §4.2.2.2).
  const authority = await checkAuthority(signer.cert, issuer, now);
  if (!authority.ok) return authority;

  // 4. The answer for exactly this CertID.
  const single = findSingleResponse(basic.responses, certId);
  if (!single.ok) return reject(single.failure.reason, single.failure.detail);

  // 5. Times, 6. critical extensions.
  const failure =
    checkTimes(single.value, now) ??
    checkCriticalExtensions(basic.responseExtensions, single.value);
  if (failure) return reject(failure.reason, failure.detail);

  return {
    ok: true,
    certId: single.value.certId,
    certStatus: single.value.certStatus,
    thisUpdate: single.value.thisUpdate,
    nextUpdate: effectiveNextUpdate(single.value),
    nextUpdateAbsent: single.value.nextUpdate === undefined,
    producedAt: basic.producedAt,
    responder: authority.responder,
    responderIdType: "byKey" in basic.responderId ? "byKey" : "byName",
    signatureAlgorithm: signer.algorithm,
    basic,
  };
}

async function findSigner(
  basic: BasicResponseFacts,
  issuer: CertificateFacts,
): Promise<{ ok: true; cert: CertificateFacts; algorithm: string } | Rejected> {
  const candidates: CertificateFacts[] = [];
  for (const cert of [issuer, ...basic.certs]) {
    if (await matchesResponderId(basic, cert)) candidates.push(cert);
  }
  if (candidates.length === 0) {
    return reject(
      "unauthorizedSigner",
      "the responderID names neither the issuer nor a certificate in the response",
    );
  }
  let last: Rejected | undefined;
  for (const cert of candidates) {
    const check = await verifySignature(
      {
        signed: basic.tbsResponseData,
        signatureAlgorithm: basic.signatureAlgorithm,
        signature: basic.signature,
      },
      cert,
    );
    if (check.ok) return { ok: true, cert, algorithm: check.algorithm };
    if (check.reason === "unsupportedAlgorithm") return reject(check.reason, check.detail);
    last = reject(check.reason, check.detail);
  }
  return last!;
}

async function matchesResponderId(
  basic: BasicResponseFacts,
  cert: CertificateFacts,
): Promise<boolean> {
  const id = basic.responderId;
  if ("byName" in id) return bytesEqual(id.byName, cert.subject);
  // KeyHash ::= SHA-1 of the subjectPublicKey BIT STRING value (RFC 6960 §4.2.1).
  return bytesEqual(id.byKey, await digest("SHA-1", cert.subjectPublicKey));
}

async function checkAuthority(
  signer: CertificateFacts,
  issuer: CertificateFacts,
  now: Date,
): Promise<{ ok: true; responder: "issuer" | "delegated" } | Rejected> {
  // The issuing CA itself: the same key, not merely the same name.
  if (bytesEqual(signer.spki, issuer.spki)) return { ok: true, responder: "issuer" };
  const who = `signer "${signer.subjectText}"`;
  if (!bytesEqual(signer.issuer, issuer.subject)) {
    return reject("unauthorizedSigner", `${who} is not the issuer and was not issued by it`);
  }
  const issued = await verifyCertificateSignature(signer, issuer);
  if (!issued.ok)
    return reject("unauthorizedSigner", `${who} is not signed by the issuer (${issued.detail})`);
  if (!signer.extKeyUsage.includes(OID.kpOcspSigning)) {
    return reject("unauthorizedSigner", `${who} lacks the id-kp-OCSPSigning extended key usage`);
  }
  if (now < signer.notBefore || now > signer.notAfter) {
    return reject(
      "unauthorizedSigner",
      `${who} is not valid at ${now.toISOString()} (${signer.notBefore.toISOString()} to ${signer.notAfter.toISOString()})`,
    );
  }
  return { ok: true, responder: "delegated" };
}
