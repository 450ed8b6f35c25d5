// The hot path's memory of GET URLs (index.ts, Relay.remembered): request URL → the certificate it
// asks about, so that a repeat GET (nginx asks with the same URL every time) skips decoding and
// routing. The OCSP endpoint is public, so what a client can make this map hold is bounded in bytes
// as well as entries, and no client can empty it: only canonical requests are remembered (one
// CertID, no extensions, a short URL), at most a few URLs per certificate (first come, kept), and
// entries leave one by one, the least recently used first (CLOCK, as the memory tier: a hit sets a
// bit and moves nothing). Every other URL is still served, through the routed path. No I/O.

export interface UrlLimits {
  /** URLs remembered at most. */
  maxEntries: number;
  /** Bytes counted (each URL's length plus ENTRY_OVERHEAD) at most. */
  maxBytes: number;
  /** Longest URL remembered, in characters (an nginx request for a SHA-1 CertID is about 150). */
  maxUrlChars: number;
  /** URLs remembered per certificate (its encodings, fleet-key prefixes, hosts). */
  perCertificate: number;
}

/**
 * 20 000 URLs or 4 MiB, whichever comes first: next to the memory tier's 32 MiB of answers
 * (sources/memory.ts MEMORY_LIMITS), the isolate's share for the hot path's map.
 */
export const URL_LIMITS: UrlLimits = {
  maxEntries: 20_000,
  maxBytes: 4 * 1024 * 1024,
  maxUrlChars: 512,
  perCertificate: 4,
};

/**
 * What one remembered URL is counted for besides its characters (one byte each: URLs are ASCII):
 * the map's slot, the entry object, its place in the certificate's list (an estimate, generous).
 */
export const ENTRY_OVERHEAD = 160;

interface Entry<T> {
  value: T;
  /** Asked for since it was last passed over at eviction (CLOCK's second chance). */
  used: boolean;
}

/** A bounded map from URL to what it asks for, grouped by certificate (`key`). */
export class RememberedUrls<T extends { key: string }> {
  private readonly byUrl = new Map<string, Entry<T>>();
  /** Certificate key → its remembered URLs. */
  private readonly byKey = new Map<string, string[]>();
  private bytes = 0;

  constructor(private readonly limits: UrlLimits = URL_LIMITS) {}

  /** What `url` asks for, if remembered (marks it used: the hot path, no reordering). */
  get(url: string): T | undefined {
    const entry = this.byUrl.get(url);
    if (!entry) return undefined;
    entry.used = true;
    return entry.value;
  }

  /**
   * Remembers `url` for `value` (the caller has checked that the request is canonical). A URL too
   * long, or a certificate that already has its share of URLs, is not remembered: the first ones
   * stay, so no client can push out the URL a server uses by sending variants of it.
   */
  remember(url: string, value: T): void {
    if (url.length > this.limits.maxUrlChars || this.byUrl.has(url)) return;
    const urls = this.byKey.get(value.key);
    if (urls && urls.length >= this.limits.perCertificate) return;
    if (urls) urls.push(url);
    else this.byKey.set(value.key, [url]);
    this.byUrl.set(url, { value, used: false });
    this.bytes += url.length + ENTRY_OVERHEAD;
    while (this.byUrl.size > this.limits.maxEntries || this.bytes > this.limits.maxBytes) {
      const [oldestUrl, oldest] = this.byUrl.entries().next().value ?? [];
      if (oldestUrl === undefined || oldest === undefined) break;
      this.byUrl.delete(oldestUrl);
      if (oldest.used && oldestUrl !== url) {
        oldest.used = false;
        this.byUrl.set(oldestUrl, oldest); // a second chance, at the back
      } else {
        this.dropFromKey(oldestUrl, oldest.value.key);
      }
    }
  }

  get size(): { entries: number; bytes: number; certificates: number } {
    return { entries: this.byUrl.size, bytes: this.bytes, certificates: this.byKey.size };
  }

  private dropFromKey(url: string, key: string): void {
    this.bytes -= url.length + ENTRY_OVERHEAD;
    const urls = this.byKey.get(key);
    if (!urls) return;
    const at = urls.indexOf(url);
    if (at >= 0) urls.splice(at, 1);
    if (urls.length === 0) this.byKey.delete(key);
  }
}
