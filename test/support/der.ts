// Building DER by hand in tests (hostile and edge-case inputs the fixtures cannot carry).

/** DER TLV with a definite, minimal length. */
export function tlv(tag: number, ...contents: Uint8Array[]): Uint8Array {
  const len = contents.reduce((n, c) => n + c.length, 0);
  const lenBytes: number[] = [];
  for (let n = len; n > 0; n >>= 8) lenBytes.unshift(n & 0xff);
  const head = len < 0x80 ? [tag, len] : [tag, 0x80 | lenBytes.length, ...lenBytes];
  const out = new Uint8Array(head.length + len);
  out.set(head);
  let at = head.length;
  for (const c of contents) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}
