// Signature verification with WebCrypto over an explicit allowlist (RFC 6960 §4.2.1,
// RFC 8017 §8, RFC 5758 §3.2, RFC 8410 §6). Says yes or no; never throws for a bad signature.

import * as asn1js from "asn1js";
import { bytesEqual, u8 } from "./bytes.ts";
import { children, decodeElement, DER_LIMITS } from "./der.ts";
import { hashNameOf, OID, type HashName } from "./oids.ts";

/** A public key as it appears in a certificate. */
export interface PublicKeyFacts {
  spki: Uint8Array;
  spkiAlgorithm: string;
  spkiCurve: string | undefined;
}

export interface SignedData {
  signed: Uint8Array;
  signatureAlgorithm: { oid: string; parameters: Uint8Array | undefined };
  signature: Uint8Array;
}

export type SignatureCheck =
  | { ok: true; algorithm: string }
  | { ok: false; reason: "unsupportedAlgorithm" | "badSignature"; detail: string };

type Scheme =
  | { kind: "pkcs1"; hash: HashName; name: string }
  | { kind: "pss"; hash: HashName; saltLength: number; name: string }
  | { kind: "ecdsa"; hash: HashName; name: string }
  | { kind: "ed25519"; name: string };

const SCHEMES: Record<string, Scheme> = {
  [OID.sha1WithRSA]: { kind: "pkcs1", hash: "SHA-1", name: "sha1WithRSAEncryption" },
  [OID.sha256WithRSA]: { kind: "pkcs1", hash: "SHA-256", name: "sha256WithRSAEncryption" },
  [OID.sha384WithRSA]: { kind: "pkcs1", hash: "SHA-384", name: "sha384WithRSAEncryption" },
  [OID.sha512WithRSA]: { kind: "pkcs1", hash: "SHA-512", name: "sha512WithRSAEncryption" },
  [OID.ecdsaWithSha256]: { kind: "ecdsa", hash: "SHA-256", name: "ecdsa-with-SHA256" },
  [OID.ecdsaWithSha384]: { kind: "ecdsa", hash: "SHA-384", name: "ecdsa-with-SHA384" },
  [OID.ecdsaWithSha512]: { kind: "ecdsa", hash: "SHA-512", name: "ecdsa-with-SHA512" },
  [OID.ed25519]: { kind: "ed25519", name: "Ed25519" },
};

const CURVES: Record<string, { name: "P-256" | "P-384"; size: number }> = {
  [OID.p256]: { name: "P-256", size: 32 },
  [OID.p384]: { name: "P-384", size: 48 },
};

/** A certificate's own signature, checked with a would-be issuer's key (RFC 5280 §6.1.3). */
export function verifyCertificateSignature(
  cert: {
    tbsCertificate: Uint8Array;
    signatureAlgorithm: SignedData["signatureAlgorithm"];
    signature: Uint8Array;
  },
  issuerKey: PublicKeyFacts,
): Promise<SignatureCheck> {
  return verifySignature(
    {
      signed: cert.tbsCertificate,
      signatureAlgorithm: cert.signatureAlgorithm,
      signature: cert.signature,
    },
    issuerKey,
  );
}

/** `parent` issued `child`: the names chain and `parent`'s key verifies `child`'s signature. */
export async function issuedBy(
  child: Parameters<typeof verifyCertificateSignature>[0] & { issuer: Uint8Array },
  parent: PublicKeyFacts & { subject: Uint8Array },
): Promise<boolean> {
  if (!bytesEqual(child.issuer, parent.subject)) return false;
  return (await verifyCertificateSignature(child, parent)).ok;
}

/** Verifies `data.signature` over `data.signed` with `key`, if the algorithm is allowlisted. */
export async function verifySignature(
  data: SignedData,
  key: PublicKeyFacts,
): Promise<SignatureCheck> {
  const scheme = schemeOf(data.signatureAlgorithm.oid, data.signatureAlgorithm.parameters);
  if (!scheme) {
    return {
      ok: false,
      reason: "unsupportedAlgorithm",
      detail: `signature algorithm ${data.signatureAlgorithm.oid} is not allowed`,
    };
  }
  let algorithm: Parameters<SubtleCrypto["importKey"]>[2];
  let params: Parameters<SubtleCrypto["verify"]>[0];
  let signature = data.signature;
  switch (scheme.kind) {
    case "pkcs1":
    case "pss":
      if (key.spkiAlgorithm !== OID.rsaEncryption) return keyMismatch(scheme.name);
      algorithm = {
        name: scheme.kind === "pss" ? "RSA-PSS" : "RSASSA-PKCS1-v1_5",
        hash: scheme.hash,
      };
      params =
        scheme.kind === "pss"
          ? { name: "RSA-PSS", saltLength: scheme.saltLength }
          : { name: "RSASSA-PKCS1-v1_5" };
      break;
    case "ecdsa": {
      const curve = key.spkiCurve ? CURVES[key.spkiCurve] : undefined;
      if (key.spkiAlgorithm !== OID.ecPublicKey || !curve) return keyMismatch(scheme.name);
      const raw = ecdsaDerToRaw(signature, curve.size);
      if (!raw)
        return {
          ok: false,
          reason: "badSignature",
          detail: "ECDSA signature is not a valid Ecdsa-Sig-Value",
        };
      signature = raw;
      algorithm = { name: "ECDSA", namedCurve: curve.name };
      params = { name: "ECDSA", hash: scheme.hash };
      break;
    }
    case "ed25519":
      if (key.spkiAlgorithm !== OID.ed25519) return keyMismatch(scheme.name);
      algorithm = { name: "Ed25519" };
      params = { name: "Ed25519" };
      break;
  }
  try {
    const cryptoKey = await crypto.subtle.importKey(
      "spki",
      key.spki as BufferSource,
      algorithm,
      false,
      ["verify"],
    );
    const valid = await crypto.subtle.verify(
      params,
      cryptoKey,
      signature as BufferSource,
      data.signed as BufferSource,
    );
    return valid
      ? { ok: true, algorithm: scheme.name }
      : { ok: false, reason: "badSignature", detail: `${scheme.name} signature does not verify` };
  } catch (e) {
    return {
      ok: false,
      reason: "badSignature",
      detail: `${scheme.name}: ${e instanceof Error ? e.message : e}`,
    };
  }
}

function keyMismatch(name: string): SignatureCheck {
  return {
    ok: false,
    reason: "badSignature",
    detail: `${name} signature with a key of another type`,
  };
}

function schemeOf(oid: string, parameters: Uint8Array | undefined): Scheme | undefined {
  if (oid === OID.rsassaPss) return pssScheme(parameters);
  return SCHEMES[oid];
}

/**
 * RSASSA-PSS-params (RFC 8017 Appendix A.2.3): hash [0], maskGenAlgorithm [1], saltLength [2],
 * trailerField [3]. Only MGF1 with the same hash is accepted (what WebCrypto implements).
 */
function pssScheme(parameters: Uint8Array | undefined): Scheme | undefined {
  let hash: HashName = "SHA-1";
  let mgfHash: HashName = "SHA-1";
  let saltLength = 20;
  if (parameters) {
    const el = decodeElement(parameters, DER_LIMITS.certificate);
    if (!el.ok) return undefined;
    for (const field of children(el.value)) {
      const inner = children(field)[0];
      if (!inner) return undefined;
      switch (field.idBlock.tagNumber) {
        case 0: {
          const h = hashNameOf(oidOf(children(inner)[0]) ?? "");
          if (!h) return undefined;
          hash = h;
          break;
        }
        case 1: {
          const [mgf, mgfParams] = children(inner);
          const h = mgfParams ? hashNameOf(oidOf(children(mgfParams)[0]) ?? "") : undefined;
          if (oidOf(mgf) !== OID.mgf1 || !h) return undefined;
          mgfHash = h;
          break;
        }
        case 2:
          if (!(inner instanceof asn1js.Integer)) return undefined;
          saltLength = inner.valueBlock.valueDec;
          break;
        case 3:
          if (!(inner instanceof asn1js.Integer) || inner.valueBlock.valueDec !== 1)
            return undefined;
          break;
        default:
          return undefined;
      }
    }
  }
  if (hash !== mgfHash || saltLength < 0 || saltLength > 512) return undefined;
  return { kind: "pss", hash, saltLength, name: `RSASSA-PSS-${hash}` };
}

function oidOf(el: asn1js.AsnType | undefined): string | undefined {
  return el instanceof asn1js.ObjectIdentifier ? el.valueBlock.toString() : undefined;
}

/** Ecdsa-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER } → r‖s, each left-padded to `size`. */
export function ecdsaDerToRaw(der: Uint8Array, size: number): Uint8Array | undefined {
  const el = decodeElement(der, { maxBytes: 2 * size + 16, maxDepth: 2, maxNodes: 3 });
  if (!el.ok || !(el.value instanceof asn1js.Sequence)) return undefined;
  const ints = children(el.value);
  if (ints.length !== 2 || !ints.every((i) => i instanceof asn1js.Integer)) return undefined;
  const out = new Uint8Array(2 * size);
  for (const [n, int] of ints.entries()) {
    let v = u8((int as asn1js.Integer).valueBlock.valueHexView);
    while (v.length > 1 && v[0] === 0) v = v.subarray(1);
    if (v.length > size) return undefined;
    out.set(v, n * size + (size - v.length));
  }
  return out;
}
