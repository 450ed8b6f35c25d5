// Which responder URLs the relay will fetch (no open proxy, no SSRF): checkResponderUrl on the URL
// as the WHATWG parser in workerd normalizes it.

import { describe, expect, it } from "vitest";
import { checkResponderUrl } from "../../src/issuers/responder-url.ts";

describe("checkResponderUrl accepts public http and https responders", () => {
  it.each([
    ["http://ocsp.digicert.com", "http://ocsp.digicert.com/"],
    ["http://r3.o.lencr.org/", "http://r3.o.lencr.org/"],
    ["https://ocsp.sectigo.com/", "https://ocsp.sectigo.com/"],
    ["http://ocsp.example.com:8080/ocsp/", "http://ocsp.example.com:8080/ocsp/"],
    ["HTTP://OCSP.Example.COM/Path", "http://ocsp.example.com/Path"],
    ["http://ocsp.example.com/?q=1", "http://ocsp.example.com/?q=1"],
    ["http://8.8.8.8/", "http://8.8.8.8/"],
    ["http://1.1.1.1:80/", "http://1.1.1.1/"],
    ["http://172.32.0.1/", "http://172.32.0.1/"],
    ["http://100.128.0.1/", "http://100.128.0.1/"],
    ["http://[2606:4700::1111]/", "http://[2606:4700::1111]/"],
  ])("%s → ok, %s", (raw, url) => {
    expect(checkResponderUrl(raw, false)).toEqual({ ok: true, url });
  });
});

describe("checkResponderUrl refuses what is not a public http(s) responder", () => {
  it.each([
    ["not a URL", "ocsp.example.com"],
    ["an empty string", ""],
    ["ftp:", "ftp://ocsp.example.com/"],
    ["file:", "file:///etc/passwd"],
    ["javascript:", "javascript:alert(1)"],
    ["data:", "data:application/ocsp-response;base64,MAMKAQE="],
    ["ws:", "ws://ocsp.example.com/"],
    ["userinfo (user and password)", "http://user:pass@ocsp.example.com/"],
    ["userinfo (user only)", "http://user@ocsp.example.com/"],
    ["userinfo hiding the real host", "http://ocsp.example.com@127.0.0.1/"],
    ["a fragment", "http://ocsp.example.com/#x"],
  ])("%s (%s)", (_, raw) => {
    const r = checkResponderUrl(raw, false);
    expect(r).toMatchObject({ ok: false });
    expect(r.ok || r.detail.length).toBeGreaterThan(0);
    // allowPrivate opens internal hosts only, never other schemes or credentials.
    expect(checkResponderUrl(raw, true)).toMatchObject({ ok: false });
  });
});

describe("checkResponderUrl refuses internal hosts unless allowPrivate", () => {
  // [written, host the WHATWG parser makes of it]
  const INTERNAL: [string, string][] = [
    ["http://localhost/", "localhost"],
    ["http://LOCALHOST:8888/", "localhost"],
    ["http://localhost./", "localhost."],
    ["http://ocsp.localhost/", "ocsp.localhost"],
    ["http://127.0.0.1/", "127.0.0.1"],
    ["http://127.1.2.3:8888/", "127.1.2.3"],
    ["http://[::1]/", "[::1]"],
    ["http://[0:0:0:0:0:0:0:1]/", "[::1]"],
    ["http://[::]/", "[::]"],
    ["http://10.0.0.1/", "10.0.0.1"],
    ["http://10.255.255.255/", "10.255.255.255"],
    ["http://172.16.0.1/", "172.16.0.1"],
    ["http://172.31.255.255/", "172.31.255.255"],
    ["http://192.168.1.1/", "192.168.1.1"],
    ["http://169.254.169.254/latest/meta-data/", "169.254.169.254"],
    ["http://100.64.0.1/", "100.64.0.1"],
    ["http://100.127.255.255/", "100.127.255.255"],
    ["http://0.0.0.0/", "0.0.0.0"],
    ["http://224.0.0.1/", "224.0.0.1"],
    ["http://[fe80::1]/", "[fe80::1]"],
    ["http://[fc00::1]/", "[fc00::1]"],
    ["http://[fd12:3456::1]/", "[fd12:3456::1]"],
    ["http://[::ffff:127.0.0.1]/", "[::ffff:7f00:1]"],
    ["http://[::ffff:10.0.0.1]/", "[::ffff:a00:1]"],
    // Non-dotted and non-decimal IPv4 forms: the WHATWG parser turns them into dotted decimal.
    ["http://2130706433/", "127.0.0.1"],
    ["http://0x7f.0.0.1/", "127.0.0.1"],
    ["http://0x7f000001/", "127.0.0.1"],
    ["http://017700000001/", "127.0.0.1"],
    ["http://0177.0.0.1/", "127.0.0.1"],
    ["http://127.1/", "127.0.0.1"],
    ["http://0/", "0.0.0.0"],
    ["http://0xa9fea9fe/", "169.254.169.254"],
    // Single-label names resolve on the local network.
    ["http://intranet/", "intranet"],
    ["http://ocsp/", "ocsp"],
    ["http://printer.local/", "printer.local"],
    ["http://metadata.google.internal/", "metadata.google.internal"],
  ];

  it.each(INTERNAL)("%s (host %s) → refused", (raw, host) => {
    expect(new URL(raw).host.replace(/:\d+$/, "")).toBe(host);
    const r = checkResponderUrl(raw, false);
    expect(r).toMatchObject({ ok: false });
    expect(r.ok || r.detail).toContain("ALLOW_PRIVATE_RESPONDERS");
  });

  it.each(INTERNAL)("%s → accepted with allowPrivate=true", (raw) => {
    expect(checkResponderUrl(raw, true)).toEqual({ ok: true, url: new URL(raw).toString() });
  });

  it("the fixture leaves' responder URL (http://127.0.0.1:8888/) is a local setup", () => {
    expect(checkResponderUrl("http://127.0.0.1:8888/", false)).toMatchObject({ ok: false });
    expect(checkResponderUrl("http://127.0.0.1:8888/", true)).toEqual({
      ok: true,
      url: "http://127.0.0.1:8888/",
    });
  });
});
