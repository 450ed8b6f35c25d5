// Which responder and CRL URLs the relay may fetch (no open proxy, no SSRF): http or https only, no
// userinfo, no fragment, and a host that is a public name or a public address unless private
// responders are explicitly allowed. Workers cannot resolve names, so the check is on the host as
// the WHATWG URL parser normalises it (IPv4 in any of its spellings becomes a dotted quad, IPv6 a
// compressed lowercase literal in brackets). Pure: no I/O, no clock; every pattern below is anchored
// and has no nested quantifier, so none can backtrack.
//
// Addresses follow the IANA IPv4 and IPv6 Special-Purpose Address Registries (RFC 6890 as updated
// by RFC 8190), read as published on 2021-02-04 (IPv4) and 2024-10-22 (IPv6), plus two later
// entries (192.88.99.2/32, 100:0:0:1::/64). The rule: every block in them is refused unless the
// registry says "Globally Reachable: True"; such blocks have no row in the table. Of those:
//   - 192.31.196.0/24 (AS112-v4), 192.52.193.0/24 (AMT), 192.175.48.0/24 and 2620:4f:8000::/48
//     (AS112 direct delegation) stand alone and are accepted like any public address.
//   - 192.0.0.9/32 and 192.0.0.10/32 (PCP and TURN anycast) sit inside 192.0.0.0/24, and
//     2001:1::1-3/128 (PCP, TURN, SRP anycast), 2001:3::/32 (AMT), 2001:4:112::/48 (AS112-v6),
//     2001:20::/28 (ORCHIDv2) and 2001:30::/28 (DETs) inside 2001::/23. They stay refused with
//     their parent block: no carve-outs keeps one rule, and anycast for PCP, TURN and SRP lands on
//     the nearest operator or home-gateway service, which is what this check keeps out of reach.
//   - 64:ff9b::/96 (NAT64) is refused although the registry marks it reachable: it wraps an IPv4
//     address, and 64:ff9b::a00:1 reaches 10.0.0.1 through whatever translator is nearest.
// Blocks the registry gives no reachability (N/A or blank) are refused: 192.88.99.0/24,
// 2001::/32 (Teredo), 2001:10::/28 and 2002::/16. 6to4 is refused whole rather than by the IPv4
// address it embeds: the nearest relay decapsulates to that address, the block is deprecated
// (RFC 7526) so no public responder lives only there, and refusing it needs no decoding to get
// wrong. Added to the registries: IPv4 multicast, IPv6 multicast and site-local, and the other
// IPv6 forms that wrap an IPv4 address (compatible, translated).
//
// Names: localhost and *.localhost (RFC 6761), *.local (RFC 6762), *.internal (reserved for
// private use) and single-label names resolve locally; a name ending in a dot (one or many) or
// with an empty label is refused too, since each is another spelling of a name these rules read.

export type UrlCheck = { ok: true; url: string } | { ok: false; detail: string };

export type SpecialPurposeRange = {
  readonly cidr: string;
  readonly name: string;
  readonly rfc: string;
};

/** Every block refused as a responder or CRL host; see the module comment for what is left out. */
export const SPECIAL_PURPOSE_RANGES: readonly SpecialPurposeRange[] = [
  // IANA IPv4 Special-Purpose Address Registry
  { cidr: "0.0.0.0/8", name: '"This network"', rfc: "RFC 791 §3.2" },
  { cidr: "0.0.0.0/32", name: '"This host on this network"', rfc: "RFC 1122 §3.2.1.3" },
  { cidr: "10.0.0.0/8", name: "Private-Use", rfc: "RFC 1918" },
  { cidr: "100.64.0.0/10", name: "Shared Address Space", rfc: "RFC 6598" },
  { cidr: "127.0.0.0/8", name: "Loopback", rfc: "RFC 1122 §3.2.1.3" },
  { cidr: "169.254.0.0/16", name: "Link Local", rfc: "RFC 3927" },
  { cidr: "172.16.0.0/12", name: "Private-Use", rfc: "RFC 1918" },
  { cidr: "192.0.0.0/24", name: "IETF Protocol Assignments", rfc: "RFC 6890 §2.1" },
  { cidr: "192.0.0.0/29", name: "IPv4 Service Continuity Prefix", rfc: "RFC 7335" },
  { cidr: "192.0.0.8/32", name: "IPv4 dummy address", rfc: "RFC 7600" },
  { cidr: "192.0.0.170/32", name: "NAT64/DNS64 Discovery", rfc: "RFC 8880, RFC 7050 §2.2" },
  { cidr: "192.0.0.171/32", name: "NAT64/DNS64 Discovery", rfc: "RFC 8880, RFC 7050 §2.2" },
  { cidr: "192.0.2.0/24", name: "Documentation (TEST-NET-1)", rfc: "RFC 5737" },
  { cidr: "192.88.99.0/24", name: "Deprecated (6to4 Relay Anycast)", rfc: "RFC 7526" },
  { cidr: "192.88.99.2/32", name: "6a44-relay anycast address", rfc: "RFC 6751" },
  { cidr: "192.168.0.0/16", name: "Private-Use", rfc: "RFC 1918" },
  { cidr: "198.18.0.0/15", name: "Benchmarking", rfc: "RFC 2544" },
  { cidr: "198.51.100.0/24", name: "Documentation (TEST-NET-2)", rfc: "RFC 5737" },
  { cidr: "203.0.113.0/24", name: "Documentation (TEST-NET-3)", rfc: "RFC 5737" },
  { cidr: "240.0.0.0/4", name: "Reserved", rfc: "RFC 1112 §4" },
  { cidr: "255.255.255.255/32", name: "Limited Broadcast", rfc: "RFC 8190, RFC 919 §7" },
  // IPv4, added
  { cidr: "224.0.0.0/4", name: "Multicast", rfc: "RFC 5771" },
  // IANA IPv6 Special-Purpose Address Registry
  { cidr: "::1/128", name: "Loopback Address", rfc: "RFC 4291" },
  { cidr: "::/128", name: "Unspecified Address", rfc: "RFC 4291" },
  { cidr: "::ffff:0:0/96", name: "IPv4-mapped Address", rfc: "RFC 4291" },
  { cidr: "64:ff9b::/96", name: "IPv4-IPv6 Translation (NAT64)", rfc: "RFC 6052" },
  { cidr: "64:ff9b:1::/48", name: "IPv4-IPv6 Translation (local-use NAT64)", rfc: "RFC 8215" },
  { cidr: "100::/64", name: "Discard-Only Address Block", rfc: "RFC 6666" },
  { cidr: "100:0:0:1::/64", name: "Dummy IPv6 Prefix", rfc: "RFC 9780" },
  { cidr: "2001::/23", name: "IETF Protocol Assignments", rfc: "RFC 2928" },
  { cidr: "2001::/32", name: "TEREDO", rfc: "RFC 4380, RFC 8190" },
  { cidr: "2001:2::/48", name: "Benchmarking", rfc: "RFC 5180" },
  { cidr: "2001:10::/28", name: "Deprecated (previously ORCHID)", rfc: "RFC 4843" },
  { cidr: "2001:db8::/32", name: "Documentation", rfc: "RFC 3849" },
  { cidr: "2002::/16", name: "6to4", rfc: "RFC 3056" },
  { cidr: "3fff::/20", name: "Documentation", rfc: "RFC 9637" },
  { cidr: "5f00::/16", name: "Segment Routing (SRv6) SIDs", rfc: "RFC 9602" },
  { cidr: "fc00::/7", name: "Unique-Local", rfc: "RFC 4193" },
  { cidr: "fe80::/10", name: "Link-Local Unicast", rfc: "RFC 4291" },
  // IPv6, added
  { cidr: "::/96", name: "IPv4-compatible Address (deprecated)", rfc: "RFC 4291 §2.5.5.1" },
  { cidr: "::ffff:0:0:0/96", name: "IPv4-translated Address", rfc: "RFC 2765 §2.1" },
  { cidr: "fec0::/10", name: "Site-Local (deprecated)", rfc: "RFC 3879" },
  { cidr: "ff00::/8", name: "Multicast", rfc: "RFC 4291 §2.7" },
];

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
  const internal = allowPrivate ? undefined : internalReason(url.hostname);
  if (internal !== undefined) {
    return {
      ok: false,
      detail: `responder host ${url.hostname} is not public: ${internal}; set ALLOW_PRIVATE_RESPONDERS=true for local setups`,
    };
  }
  return { ok: true, url: url.toString() };
}

export function isInternalHost(hostname: string): boolean {
  return internalReason(hostname) !== undefined;
}

/** Why a host is not a public responder host, or undefined when it is one. */
function internalReason(hostname: string): string | undefined {
  const host = hostname.toLowerCase();
  if (host.startsWith("[") || host.includes(":")) {
    const literal = host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
    const address = parseIPv6(literal);
    return address === undefined ? "not an IPv6 address" : rangeReason(6, address);
  }
  if (host === "") return "an empty host";
  if (host.endsWith(".")) return "a name ending in a dot";
  const labels = host.split(".");
  if (labels.includes("")) return "a name with an empty label";
  const last = labels[labels.length - 1]!;
  if (last === "localhost") return "a name in localhost (RFC 6761)";
  if (last === "local") return "a name in .local (RFC 6762)";
  if (last === "internal") return "a name in .internal, reserved for private use";
  if (labels.length === 1) return "a single-label name, which resolves on the local network";
  // A host whose last label is a number is an IPv4 address to the WHATWG parser, which writes it
  // back as a dotted quad; any other spelling did not come from that parser and is refused.
  if (NUMERIC_LABEL.test(last)) {
    const address = parseIPv4(host);
    return address === undefined ? "not a dotted-quad IPv4 address" : rangeReason(4, address);
  }
  return undefined;
}

type Family = 4 | 6;
type Block = { family: Family; network: bigint; prefix: number; range: SpecialPurposeRange };

const WIDTH: Record<Family, number> = { 4: 32, 6: 128 };
const NUMERIC_LABEL = /^(?:[0-9]+|0x[0-9a-f]*)$/;
const DECIMAL_OCTET = /^(?:0|[1-9][0-9]{0,2})$/;
const HEX_GROUP = /^[0-9a-f]{1,4}$/;
const PREFIX_LENGTH = /^(?:0|[1-9][0-9]{0,2})$/;

const BLOCKS: readonly Block[] = SPECIAL_PURPOSE_RANGES.map(parseBlock);

function rangeReason(family: Family, address: bigint): string | undefined {
  // The most specific block names the reason best (2001::/32 Teredo rather than 2001::/23).
  let found: Block | undefined;
  for (const block of BLOCKS) {
    if (block.family !== family || (found && found.prefix >= block.prefix)) continue;
    const shift = BigInt(WIDTH[family] - block.prefix);
    if (address >> shift === block.network >> shift) found = block;
  }
  return found && `in ${found.range.cidr}, ${found.range.name}, ${found.range.rfc}`;
}

// The table is constant, so a malformed row is a programming error: it throws when the module
// loads, which every test run does.
function parseBlock(range: SpecialPurposeRange): Block {
  const [text = "", length = ""] = range.cidr.split("/");
  const family: Family = text.includes(":") ? 6 : 4;
  const network = family === 6 ? parseIPv6(text) : parseIPv4(text);
  const prefix = Number(length);
  const hostBits = BigInt(WIDTH[family] - prefix);
  if (
    network === undefined ||
    !PREFIX_LENGTH.test(length) ||
    prefix > WIDTH[family] ||
    (network >> hostBits) << hostBits !== network
  ) {
    throw new Error(`special-purpose range ${range.cidr} is not a CIDR block`);
  }
  return { family, network, prefix, range };
}

/** A dotted quad as the WHATWG parser writes it (no leading zeros), as a 32-bit number. */
function parseIPv4(text: string): bigint | undefined {
  const octets = text.split(".");
  if (octets.length !== 4) return undefined;
  let value = 0n;
  for (const octet of octets) {
    if (!DECIMAL_OCTET.test(octet) || Number(octet) > 255) return undefined;
    value = (value << 8n) | BigInt(octet);
  }
  return value;
}

/** An IPv6 literal (RFC 4291 §2.2, a dotted IPv4 tail allowed), expanded to a 128-bit number. */
function parseIPv6(text: string): bigint | undefined {
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const compressed = halves.length === 2;
  const head = parseGroups(halves[0]!, !compressed);
  const tail = compressed ? parseGroups(halves[1]!, true) : [];
  if (head === undefined || tail === undefined) return undefined;
  const count = head.length + tail.length;
  if (compressed ? count > 7 : count !== 8) return undefined;
  const groups = [...head, ...Array<number>(8 - count).fill(0), ...tail];
  return groups.reduce((value, group) => (value << 16n) | BigInt(group), 0n);
}

/** Colon-separated 16-bit groups; the last may be a dotted IPv4 address when it ends the literal. */
function parseGroups(text: string, endsLiteral: boolean): number[] | undefined {
  if (text === "") return [];
  const parts = text.split(":");
  const groups: number[] = [];
  for (const [i, part] of parts.entries()) {
    if (endsLiteral && i === parts.length - 1 && part.includes(".")) {
      const v4 = parseIPv4(part);
      if (v4 === undefined) return undefined;
      groups.push(Number(v4 >> 16n), Number(v4 & 0xffffn));
    } else if (HEX_GROUP.test(part)) {
      groups.push(parseInt(part, 16));
    } else {
      return undefined;
    }
  }
  return groups;
}
