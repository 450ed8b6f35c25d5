// Which responder URLs the relay may contact (no open proxy): http or https only, no userinfo, and
// no loopback, private, link-local or otherwise internal address unless explicitly allowed.
// Workers cannot resolve names, so the check is on the URL's host as written. Pure.

export type UrlCheck = { ok: true; url: string } | { ok: false; detail: string };

export function checkResponderUrl(raw: string, allowPrivate: boolean): UrlCheck {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { ok: false, detail: `"${raw}" is not a URL` };
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    return { ok: false, detail: `responder URL must be http or https, not ${url.protocol}` };
  }
  if (url.username || url.password)
    return { ok: false, detail: "responder URL must not carry userinfo" };
  if (url.hash) return { ok: false, detail: "responder URL must not carry a fragment" };
  if (!allowPrivate && isInternalHost(url.hostname)) {
    return {
      ok: false,
      detail: `responder host ${url.hostname} is loopback, private or link-local (set ALLOW_PRIVATE_RESPONDERS=true for local setups)`,
    };
  }
  return { ok: true, url: url.toString() };
}

export function isInternalHost(hostname: string): boolean {
  const host = hostname
    .toLowerCase()
    .replace(/^\[|\]$/g, "")
    .replace(/\.$/, "");
  if (
    host === "localhost" ||
    host.endsWith(".localhost") ||
    host.endsWith(".local") ||
    host.endsWith(".internal")
  ) {
    return true;
  }
  if (!host.includes(".") && !host.includes(":")) return true; // single-label names resolve locally
  const v4 = parseIPv4(host);
  if (v4) return isInternalIPv4(v4);
  if (host.includes(":")) return isInternalIPv6(host);
  return false;
}

function parseIPv4(host: string): number[] | undefined {
  const parts = host.split(".");
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255))
    return undefined;
  return parts.map(Number);
}

function isInternalIPv4([a, b]: number[]): boolean {
  return (
    a === 0 ||
    a === 10 ||
    a === 127 ||
    (a === 100 && b! >= 64 && b! <= 127) ||
    (a === 169 && b === 254) ||
    (a === 172 && b! >= 16 && b! <= 31) ||
    (a === 192 && b === 168) ||
    (a === 198 && (b === 18 || b === 19)) ||
    a! >= 224
  );
}

function isInternalIPv6(host: string): boolean {
  if (host === "::" || host === "::1") return true;
  const mapped = host.match(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/);
  if (mapped) return isInternalIPv4(parseIPv4(mapped[1]!) ?? [0]);
  if (/^::ffff:/.test(host)) return true;
  // IPv4-compatible (::a.b.c.d, written ::7f00:1) and NAT64 (64:ff9b::/96) forms of IPv4.
  if (/^::[0-9a-f]{1,4}(:[0-9a-f]{1,4})?$/.test(host) || /^64:ff9b::/.test(host)) return true;
  const first = parseInt(host.split(":")[0] || "0", 16);
  return (first & 0xfe00) === 0xfc00 || (first & 0xffc0) === 0xfe80 || (first & 0xff00) === 0xff00;
}
