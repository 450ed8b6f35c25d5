// DER decoding with bounds, on top of asn1js and @peculiar/asn1-schema (no hand-written parser).
// Every parse is capped in size, nesting depth and node count, and rejects trailing bytes;
// decodeCanonical also refuses any encoding that is not the value's DER (X.690 §10-11).

import * as asn1js from "asn1js";
import { AsnConvert, AsnParser } from "@peculiar/asn1-schema";
import { malformed, ok, type Result } from "../errors.ts";
import { bytesEqual, toHex, u8 } from "./bytes.ts";

export interface DerLimits {
  maxBytes: number;
  /** Deepest constructed nesting accepted; real OCSP messages with certificates stay under 20. */
  maxDepth: number;
  maxNodes: number;
}

export const DER_LIMITS = {
  /** OCSP requests (RFC 5019 §2.1: a single CertID is ~80 bytes; signed requests a few KB). */
  request: { maxBytes: 10_000, maxDepth: 32, maxNodes: 2_000 },
  /** OCSP responses, certificates included (real ones are 0.5–6 KB). */
  response: { maxBytes: 65_536, maxDepth: 40, maxNodes: 20_000 },
  certificate: { maxBytes: 65_536, maxDepth: 40, maxNodes: 20_000 },
} as const satisfies Record<string, DerLimits>;

/** Decodes one complete DER element, with no trailing bytes, into asn1js objects. */
export function decodeElement(bytes: Uint8Array, limits: DerLimits): Result<asn1js.AsnType> {
  if (bytes.length === 0) return malformed("empty input");
  if (bytes.length > limits.maxBytes) {
    return malformed(`${bytes.length} bytes exceeds the ${limits.maxBytes}-byte cap`);
  }
  let parsed: ReturnType<typeof asn1js.fromBER>;
  try {
    parsed = asn1js.fromBER(bytes, {
      maxDepth: limits.maxDepth,
      maxNodes: limits.maxNodes,
      maxContentLength: limits.maxBytes,
    });
  } catch (e) {
    return malformed(`undecodable DER (${describe(e)})`);
  }
  if (parsed.offset === -1 || parsed.result.error) {
    return malformed(`undecodable DER (${parsed.result.error || "bad length"})`);
  }
  if (parsed.offset !== bytes.length) {
    return malformed(`${bytes.length - parsed.offset} trailing bytes after the DER element`);
  }
  const problem = strictDer(parsed.result);
  if (problem) return malformed(problem);
  return ok(parsed.result);
}

/** Decodes `bytes` as the ASN.1 type `target` (an @peculiar schema class), bounded. */
export function decodeAs<T>(
  bytes: Uint8Array | ArrayBuffer,
  target: new () => T,
  limits: DerLimits,
): Result<T> {
  const decoded = decodeTyped(bytes, target, limits);
  return decoded.ok ? ok(decoded.value.value) : decoded;
}

/** As `decodeAs`, also returning the asn1js element, for reading raw bytes of its parts. */
export function decodeTyped<T>(
  bytes: Uint8Array | ArrayBuffer,
  target: new () => T,
  limits: DerLimits,
): Result<{ value: T; element: asn1js.AsnType }> {
  const element = decodeElement(u8(bytes), limits);
  if (!element.ok) return element;
  try {
    return ok({ value: AsnParser.fromASN(element.value, target), element: element.value });
  } catch (e) {
    return malformed(`not a valid ${target.name} (${describe(e)})`);
  }
}

/**
 * As `decodeTyped`, and the bytes must be the DER of the value they decode to. DER is canonical
 * (X.690 §10, §11): one value has one encoding, so re-encoding what was decoded gives the input
 * back unless it took a liberty the length checks cannot see: an encoded DEFAULT, a BOOLEAN other
 * than 00 or FF, a padded OID arc, an INTEGER the schema reads as a number. What the schema keeps
 * as raw bytes (an `ArrayBuffer` field, such as an INTEGER's content octets) re-encodes as it came,
 * and is the caller's to check.
 */
export function decodeCanonical<T>(
  bytes: Uint8Array | ArrayBuffer,
  target: new () => T,
  limits: DerLimits,
): Result<{ value: T; element: asn1js.AsnType }> {
  const decoded = decodeTyped(bytes, target, limits);
  if (!decoded.ok) return decoded;
  const canonical = checkCanonical(decoded.value, bytes, target.name);
  return canonical.ok ? decoded : canonical;
}

/** That `bytes`, decoded as `decoded`, are its DER (see decodeCanonical); `name` for messages. */
export function checkCanonical(
  decoded: { value: unknown; element: asn1js.AsnType },
  bytes: Uint8Array | ArrayBuffer,
  name: string,
): Result<void> {
  const input = u8(bytes);
  let again: Uint8Array;
  try {
    again = u8(AsnConvert.serialize(decoded.value));
  } catch (e) {
    return malformed(`not DER: the ${name} does not re-encode (${describe(e)})`);
  }
  if (bytesEqual(again, input)) return ok(undefined);
  const canonical = asn1js.fromBER(again);
  const root = decoded.element;
  // Offsets from the start of the element: asn1js may hold its own copy of the input.
  const origin = u8(root.valueBeforeDecodeView).byteOffset;
  return malformed(
    canonical.offset === -1
      ? `not DER: the ${name} differs from its DER re-encoding`
      : `not DER: ${divergence(root, canonical.result, origin)}`,
  );
}

/** The innermost element of `input` that its DER re-encoding `canonical` encodes otherwise. */
function divergence(input: asn1js.AsnType, canonical: asn1js.AsnType | undefined, origin: number) {
  const mine = u8(input.valueBeforeDecodeView);
  const where = `${tagName(input)} at byte ${mine.byteOffset - origin} (${hexOf(mine)})`;
  if (
    !canonical ||
    canonical.idBlock.tagClass !== input.idBlock.tagClass ||
    canonical.idBlock.tagNumber !== input.idBlock.tagNumber
  ) {
    const there = canonical ? tagName(canonical) : "nothing";
    return `${where} is not in its DER re-encoding, which has ${there} there (a DEFAULT value encoded?)`;
  }
  if (canonical.idBlock.isConstructed !== input.idBlock.isConstructed) {
    return `${where} is ${input.idBlock.isConstructed ? "constructed" : "primitive"}, not as in DER`;
  }
  const theirs = children(canonical);
  for (const [i, child] of children(input).entries()) {
    const other = theirs[i];
    const same =
      other && bytesEqual(u8(child.valueBeforeDecodeView), u8(other.valueBeforeDecodeView));
    if (!same) return divergence(child, other, origin);
  }
  return `${where} is ${hexOf(u8(canonical.valueBeforeDecodeView))} in DER`;
}

const UNIVERSAL: Record<number, string> = {
  1: "BOOLEAN",
  2: "INTEGER",
  3: "BIT STRING",
  4: "OCTET STRING",
  5: "NULL",
  6: "OBJECT IDENTIFIER",
  10: "ENUMERATED",
  16: "SEQUENCE",
  17: "SET",
};

function tagName(el: asn1js.AsnType): string {
  const { tagClass, tagNumber } = el.idBlock;
  if (tagClass === 1) return UNIVERSAL[tagNumber] ?? `universal ${tagNumber}`;
  return tagClass === 3 ? `[${tagNumber}]` : `tag ${tagNumber} of class ${tagClass}`;
}

function hexOf(bytes: Uint8Array): string {
  return bytes.length > 16 ? `${toHex(bytes.subarray(0, 16))}...` : toHex(bytes);
}

/**
 * Runs a decoder, turning anything a library throws on hostile input into a typed malformed
 * error: bad input never escapes as an exception.
 */
export function guarded<T>(what: string, decode: () => Result<T>): Result<T> {
  try {
    return decode();
  } catch (e) {
    return malformed(`unreadable ${what} (${describe(e)})`);
  }
}

/** The exact encoding of each child of a constructed element (for signed or hashed parts). */
export function childrenRaw(element: asn1js.AsnType): Uint8Array[] {
  return children(element).map((child) => new Uint8Array(child.valueBeforeDecodeView));
}

export function children(element: asn1js.AsnType): asn1js.AsnType[] {
  const block = (element as asn1js.Constructed).valueBlock;
  return block && Array.isArray(block.value) ? (block.value as asn1js.AsnType[]) : [];
}

/**
 * What asn1js tolerates and DER does not, checked over the whole tree: indefinite lengths,
 * non-minimal length encodings, and children whose bytes run past their parent's declared length.
 */
function strictDer(el: asn1js.AsnType): string | undefined {
  const len = el.lenBlock;
  if (len.isIndefiniteForm) return "indefinite length is not DER";
  if (len.longFormUsed) {
    let minimal = 1;
    while (len.length >= 256 ** minimal) minimal++;
    if (len.length < 128 || len.blockLength - 1 !== minimal) return "non-minimal length is not DER";
  }
  const header = el.idBlock.blockLength + len.blockLength;
  if (el.valueBeforeDecodeView.byteLength !== header + len.length) {
    return "an element's contents disagree with its declared length";
  }
  if (!el.idBlock.isConstructed) return undefined;
  for (const child of children(el)) {
    const problem = strictDer(child);
    if (problem) return problem;
  }
  return undefined;
}

function describe(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e);
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}
