// Element headers of a CRL read one at a time, with asn1js's identifier and length blocks: how
// crl.ts walks a CertificateList of up to 10 MiB without building its tree, and finds the exact
// bytes that were signed. DER only (definite, minimal lengths). Pure.

import * as asn1js from "asn1js";
import { malformed, ok, type Result } from "../errors.ts";

export interface Tlv {
  tagClass: number;
  tagNumber: number;
  constructed: boolean;
  start: number;
  contentStart: number;
  end: number;
}

/**
 * The header of the element at `offset`, which must end by `limit`. Only the header is read (by
 * asn1js); the contents are decoded later, bounded, by whoever needs them. DER only: a definite,
 * minimal length.
 */
export function tlvAt(buf: Uint8Array, offset: number, limit: number): Result<Tlv> {
  if (offset >= limit) return malformed("truncated CRL: an element is missing");
  const block = new asn1js.BaseBlock();
  const afterId = block.idBlock.fromBER(buf, offset, limit - offset);
  if (afterId === -1) return malformed(`undecodable tag at byte ${offset}`);
  const afterLen = block.lenBlock.fromBER(buf, afterId, limit - afterId);
  if (afterLen === -1) return malformed(`undecodable length at byte ${offset}`);
  const len = block.lenBlock;
  if (len.isIndefiniteForm) return malformed("indefinite length is not DER");
  if (len.longFormUsed) {
    let minimal = 1;
    while (len.length >= 256 ** minimal) minimal++;
    if (len.length < 128 || afterLen - afterId - 1 !== minimal) {
      return malformed("non-minimal length is not DER");
    }
  }
  const end = afterLen + len.length;
  if (end > limit) {
    return malformed(`truncated CRL: an element at byte ${offset} runs past its container`);
  }
  return ok({
    tagClass: block.idBlock.tagClass,
    tagNumber: block.idBlock.tagNumber,
    constructed: block.idBlock.isConstructed,
    start: offset,
    contentStart: afterLen,
    end,
  });
}

/** Steps through the children of a constructed element, one header at a time. */
export class FieldReader {
  private at: number;
  private current: Tlv | undefined;
  constructor(
    private readonly buf: Uint8Array,
    private readonly parent: Tlv,
  ) {
    this.at = parent.contentStart;
  }
  more(): boolean {
    return this.at < this.parent.end;
  }
  peek(): Result<Tlv> {
    const t = tlvAt(this.buf, this.at, this.parent.end);
    if (t.ok) this.current = t.value;
    return t;
  }
  /** The exact bytes of the element last peeked at, stepping past it. */
  take(): Uint8Array {
    return slice(this.buf, this.takeTlv());
  }
  takeTlv(): Tlv {
    const t = this.current!;
    this.current = undefined;
    this.at = t.end;
    return t;
  }
}

export function slice(buf: Uint8Array, t: Tlv): Uint8Array {
  return buf.subarray(t.start, t.end);
}

export function isUniversal(t: Tlv, tagNumber: number): boolean {
  return t.tagClass === 1 && t.tagNumber === tagNumber;
}

export function isSequence(t: Tlv): boolean {
  return isUniversal(t, 16) && t.constructed;
}
