// The hot path's memory of GET URLs (index.ts, Relay.remembered): request URL → the certificate it
// asks about, so that a repeat GET (nginx asks with the same URL every time) skips decoding and
// routing. The OCSP endpoint is public, so what a client can make this map hold is bounded in bytes
// as well as entries, and no client can empty it: only canonical requests are remembered (one
// CertID, no extensions, the exact encoding nginx sends, a short URL: routes/ocsp.ts), at most a
// few URLs per certificate (first come, kept), and entries leave one by one, the least recently
// used first (CLOCK, as the memory tier: a hit sets a bit and moves nothing). Every other URL is
// still served, through the routed path. No I/O.

export interface UrlLimits {
  /** URLs remembered at most. */
  maxEntries: number;
  /** Bytes counted (each URL's length plus ENTRY_OVERHEAD, each certificate's CERT_OVERHEAD). */
  maxBytes: number;
  /** Longest URL remembered, in characters (an nginx request for a SHA-1 CertID is about 150). */
  maxUrlChars: number;
  /** URLs remembered per certificate (its hosts, fleet keys, nginx's `//` form). */
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
 * What one remembered URL is counted for besides its characters (one byte each: URLs are ASCII),
 * and what each certificate is counted for (its lookup: the CertID and its key; the issuer record
 * is the registry's, shared). Measured by scripts/hostile/urls-heap.ts (Node's heap after gc, the
 * routed path's own decoding): 1 443 bytes for a certificate with one 140-character URL, counted
 * as 1 932, so a full map (4 MiB counted) holds about 3 MiB of heap.
 */
export const ENTRY_OVERHEAD = 256;
export const CERT_OVERHEAD = 1_536;

interface Cert<T> {
  value: T;
  urls: string[];
}

interface Entry<T> {
  cert: Cert<T>;
  /** Asked for since it was last passed over at eviction (CLOCK's second chance). */
  used: boolean;
}

/** A bounded map from URL to what it asks for, one record per certificate (`key`). */
export class RememberedUrls<T extends { key: string }> {
  private readonly byUrl = new Map<string, Entry<T>>();
  private readonly byKey = new Map<string, Cert<T>>();
  private bytes = 0;

  constructor(private readonly limits: UrlLimits = URL_LIMITS) {}

  /** What `url` asks for, if remembered (marks it used: the hot path, no reordering). */
  get(url: string): T | undefined {
    const entry = this.byUrl.get(url);
    if (!entry) return undefined;
    entry.used = true;
    return entry.cert.value;
  }

  /**
   * Remembers `url` for `value` (the caller has checked that the request is canonical). A URL too
   * long, or a certificate that already has its share of URLs, is not remembered: the first ones
   * stay, so no client can push out the URL a server uses by sending variants of it.
   */
  remember(url: string, value: T): void {
    if (url.length > this.limits.maxUrlChars || this.byUrl.has(url)) return;
    let cert = this.byKey.get(value.key);
    if (cert && cert.urls.length >= this.limits.perCertificate) return;
    if (cert) {
      cert.value = value; // the newest lookup (a re-registered issuer's record)
    } else {
      cert = { value, urls: [] };
      this.byKey.set(value.key, cert);
      this.bytes += CERT_OVERHEAD;
    }
    cert.urls.push(url);
    this.byUrl.set(url, { cert, used: false });
    this.bytes += url.length + ENTRY_OVERHEAD;
    while (this.byUrl.size > this.limits.maxEntries || this.bytes > this.limits.maxBytes) {
      const [oldestUrl, oldest] = this.byUrl.entries().next().value ?? [];
      if (oldestUrl === undefined || oldest === undefined) break;
      this.byUrl.delete(oldestUrl);
      if (oldest.used && oldestUrl !== url) {
        oldest.used = false;
        this.byUrl.set(oldestUrl, oldest); // a second chance, at the back
      } else {
        this.forget(oldestUrl, oldest.cert);
      }
    }
  }

  get size(): { entries: number; bytes: number; certificates: number } {
    return { entries: this.byUrl.size, bytes: this.bytes, certificates: this.byKey.size };
  }

  private forget(url: string, cert: Cert<T>): void {
    this.bytes -= url.length + ENTRY_OVERHEAD;
    const at = cert.urls.indexOf(url);
    if (at >= 0) cert.urls.splice(at, 1);
    if (cert.urls.length === 0) {
      this.byKey.delete(cert.value.key);
      this.bytes -= CERT_OVERHEAD;
    }
  }
}
