// The hot path's URL memory (sources/urls.ts): bounded in bytes and entries, a few URLs per
// certificate (the first ones kept), evicted one by one with a second chance for used entries, never
// emptied at once. What an anonymous client can make it hold is what these bounds say.

import { describe, expect, it } from "vitest";
import {
  CERT_OVERHEAD,
  ENTRY_OVERHEAD,
  RememberedUrls,
  URL_LIMITS,
  type UrlLimits,
} from "../../src/sources/urls.ts";

const limits = (o: Partial<UrlLimits> = {}): UrlLimits => ({
  maxEntries: 100,
  maxBytes: 1 << 20,
  maxUrlChars: 512,
  perCertificate: 4,
  ...o,
});
const cert = (n: number) => ({ key: `SHA-1:aa:bb:${n}` });
const url = (n: number, variant = 0) => `http://relay.test/MEIwQDA+${n}x${variant}`;

describe("RememberedUrls", () => {
  it("remembers a URL and answers it", () => {
    const urls = new RememberedUrls(limits());
    urls.remember(url(1), cert(1));
    expect(urls.get(url(1))).toEqual(cert(1));
    expect(urls.get(url(2))).toBeUndefined();
    expect(urls.size).toEqual({
      entries: 1,
      bytes: url(1).length + ENTRY_OVERHEAD + CERT_OVERHEAD,
      certificates: 1,
    });
  });

  it("never remembers a URL longer than maxUrlChars (a request padded with a nonce)", () => {
    const urls = new RememberedUrls(limits({ maxUrlChars: 512 }));
    const padded = "http://relay.test/" + "A".repeat(13_000);
    urls.remember(padded, cert(1));
    expect(urls.get(padded)).toBeUndefined();
    expect(urls.size.entries).toBe(0);
  });

  it("keeps the first URLs of a certificate: later variants neither enter nor push them out", () => {
    const urls = new RememberedUrls(limits({ perCertificate: 2 }));
    urls.remember(url(1, 0), cert(1)); // the server's own URL
    for (let v = 1; v <= 1000; v++) urls.remember(url(1, v), cert(1)); // a client's variants
    expect(urls.get(url(1, 0))).toEqual(cert(1));
    expect(urls.get(url(1, 1))).toEqual(cert(1));
    expect(urls.get(url(1, 2))).toBeUndefined();
    expect(urls.size.entries).toBe(2);
  });

  it("is bounded in entries and bytes, evicting one entry at a time (never emptied)", () => {
    const urls = new RememberedUrls(limits({ maxEntries: 50, maxBytes: 1 << 20 }));
    for (let n = 0; n < 500; n++) urls.remember(url(n), cert(n));
    expect(urls.size.entries).toBe(50);
    expect(urls.size.certificates).toBe(50);
    for (let n = 450; n < 500; n++) expect(urls.get(url(n))).toEqual(cert(n));

    const bytesBound = 20 * (url(999).length + ENTRY_OVERHEAD + CERT_OVERHEAD);
    const small = new RememberedUrls(limits({ maxEntries: 1000, maxBytes: bytesBound }));
    for (let n = 0; n < 500; n++) small.remember(url(n), cert(n));
    expect(small.size.bytes).toBeLessThanOrEqual(bytesBound);
    expect(small.size.entries).toBeGreaterThanOrEqual(19);
    expect(small.get(url(499))).toEqual(cert(499));
  });

  it("a URL in use gets a second chance: a burst of new ones does not push it out", () => {
    const urls = new RememberedUrls(limits({ maxEntries: 10 }));
    urls.remember(url(0), cert(0));
    for (let n = 1; n < 200; n++) {
      expect(urls.get(url(0))).toEqual(cert(0)); // nginx keeps asking
      urls.remember(url(n), cert(n)); // someone else fills the map
    }
    expect(urls.get(url(0))).toEqual(cert(0));
    expect(urls.size.entries).toBe(10);
  });

  it("forgets a certificate's share as its URLs are evicted, so it can be remembered again", () => {
    const urls = new RememberedUrls(limits({ maxEntries: 2, perCertificate: 1 }));
    urls.remember(url(1), cert(1));
    urls.remember(url(2), cert(2));
    urls.remember(url(3), cert(3)); // evicts url(1)
    expect(urls.get(url(1))).toBeUndefined();
    urls.remember(url(1, 1), cert(1));
    expect(urls.get(url(1, 1))).toEqual(cert(1));
  });

  it("the default limits hold a full map within 4 MiB", () => {
    expect(URL_LIMITS.maxBytes).toBe(4 * 1024 * 1024);
    const urls = new RememberedUrls();
    for (let n = 0; n < URL_LIMITS.maxEntries + 5_000; n++) {
      urls.remember(`http://relay.test/${"A".repeat(400)}${n}`, cert(n));
    }
    expect(urls.size.bytes).toBeLessThanOrEqual(URL_LIMITS.maxBytes);
    expect(urls.size.entries).toBeLessThanOrEqual(URL_LIMITS.maxEntries);
  });
});
