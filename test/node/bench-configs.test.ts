// What the benchmark generates (scripts/bench/configs.ts, wrangler-toml.ts; the CA's index from
// scripts/support/pki.ts): it reads wrangler.toml's bindings, and everything it configures listens
// on and talks to loopback only.

import { describe, expect, it } from "vitest";
import {
  capnpString,
  floorWorkerSource,
  kvWorkerSource,
  nginxConfig,
  parseCaLog,
  workerdConfig,
} from "../../scripts/bench/configs.ts";
import { parseWranglerToml } from "../../scripts/bench/wrangler-toml.ts";
import { indexDate, indexLine, indexSerial, serialOctets } from "../../scripts/support/pki.ts";

// The shape of this project's wrangler.toml.
const WRANGLER_TOML = `name = "ocsp-relay"
main = "src/index.ts"
compatibility_date = "2026-11-01" # the date the bundle runs with

# The shared cache (see storage-schema.md).
[[kv_namespaces]]
binding = "OCSP_CACHE"
id = "00000000000000000000000000000000"

[vars]
UPSTREAM_TIMEOUT_MS = "5000"
RETRIES = 3

[[durable_objects.bindings]]
name = "CERT_OWNER"
class_name = "CertOwner"

[[durable_objects.bindings]]
name = "FLEET_LEDGER"
class_name = "FleetLedger"

[[migrations]]
tag = "v1"
new_sqlite_classes = ["CertOwner", "FleetLedger"]
`;

describe("parseWranglerToml", () => {
  const w = parseWranglerToml(WRANGLER_TOML);

  it("reads the entry, compatibility date, vars and bindings", () => {
    expect(w.main).toBe("src/index.ts");
    expect(w.compatibilityDate).toBe("2026-11-01");
    expect(w.compatibilityFlags).toEqual([]);
    expect(w.vars).toEqual({ UPSTREAM_TIMEOUT_MS: "5000", RETRIES: "3" });
    expect(w.kvNamespaces).toEqual(["OCSP_CACHE"]);
    expect(w.durableObjects).toEqual([
      { binding: "CERT_OWNER", className: "CertOwner" },
      { binding: "FLEET_LEDGER", className: "FleetLedger" },
    ]);
    expect(w.sqliteClasses).toEqual(["CertOwner", "FleetLedger"]);
  });

  it("reads compatibility flags and keeps # inside strings", () => {
    const f = parseWranglerToml(
      'compatibility_date = "2026-01-01"\ncompatibility_flags = ["nodejs_compat", "a#b"] # two\n',
    );
    expect(f.compatibilityFlags).toEqual(["nodejs_compat", "a#b"]);
  });

  it("refuses a file without compatibility_date, or a line it cannot read", () => {
    expect(() => parseWranglerToml('name = "x"\n')).toThrow(/compatibility_date/);
    expect(() =>
      parseWranglerToml('compatibility_date = "2026-01-01"\nthis is not toml\n'),
    ).toThrow(/line 2/);
  });

  it("reads an environment as wrangler resolves it: its own bindings, vars and routes; the top level's migrations", () => {
    const w = parseWranglerToml(`${WRANGLER_TOML}
[env.production]
routes = [{ pattern = "ocsp.example.net", custom_domain = true }, "example.net/ocsp/*"]
workers_dev = false

[env.production.secrets]
required = ["ADMIN_TOKEN"]

[[env.production.kv_namespaces]]
binding = "OCSP_CACHE"
id = "0123456789abcdef0123456789abcdef"

[env.production.vars]
UPSTREAM_TIMEOUT_MS = "3000"

[[env.production.durable_objects.bindings]]
name = "CERT_OWNER"
class_name = "CertOwner"
`);
    // The top level is unchanged by the environment's tables.
    expect(w.kvNamespaces).toEqual(["OCSP_CACHE"]);
    expect(w.kvNamespaceIds).toEqual({ OCSP_CACHE: "00000000000000000000000000000000" });
    expect(w.durableObjects).toHaveLength(2);
    expect(w.routes).toEqual([]);
    expect(w.workersDev).toBeUndefined();
    const p = w.env["production"]!;
    expect(p.name).toBe("ocsp-relay-production");
    expect(p.routes).toEqual([
      { pattern: "ocsp.example.net", customDomain: true },
      { pattern: "example.net/ocsp/*", customDomain: false },
    ]);
    expect(p.workersDev).toBe(false);
    expect(p.requiredSecrets).toEqual(["ADMIN_TOKEN"]);
    expect(p.kvNamespaceIds).toEqual({ OCSP_CACHE: "0123456789abcdef0123456789abcdef" });
    expect(p.vars).toEqual({ UPSTREAM_TIMEOUT_MS: "3000" });
    expect(p.durableObjects).toEqual([{ binding: "CERT_OWNER", className: "CertOwner" }]);
    expect(p.migrations.map((m) => m.tag)).toEqual(["v1"]);
  });

  it("reads migrations in full; an environment inherits migrations, routes and workers_dev unless it sets them", () => {
    const w = parseWranglerToml(`compatibility_date = "2026-01-01"
route = "example.net/*"
workers_dev = false
[env.dev]
workers_dev = true
[[migrations]]
tag = "v1"
new_classes = ["A"]
[[migrations]]
tag = "v2"
renamed_classes = [{ from = "A", to = "B" }]
deleted_classes = ["C"]
[[env.staging.migrations]]
tag = "s1"
new_sqlite_classes = ["B"]
`);
    expect(w.migrations).toEqual([
      {
        tag: "v1",
        newSqliteClasses: [],
        newClasses: ["A"],
        renamedClasses: [],
        deletedClasses: [],
      },
      {
        tag: "v2",
        newSqliteClasses: [],
        newClasses: [],
        renamedClasses: [{ from: "A", to: "B" }],
        deletedClasses: ["C"],
      },
    ]);
    expect(w.env["staging"]!.migrations.map((m) => m.tag)).toEqual(["s1"]);
    expect(w.env["staging"]!.name).toBeUndefined(); // no top-level name to derive it from
    expect(w.env["staging"]!.routes).toEqual([{ pattern: "example.net/*", customDomain: false }]);
    expect(w.env["staging"]!.workersDev).toBe(false);
    expect(w.env["dev"]!.workersDev).toBe(true);
    expect(w.env["dev"]!.migrations.map((m) => m.tag)).toEqual(["v1", "v2"]);
  });
});

describe("workerdConfig", () => {
  const config = workerdConfig({
    wrangler: parseWranglerToml(WRANGLER_TOML),
    relayModule: "relay.js",
    kvModule: "kv.js",
    floorModule: "floor.js",
    vars: { BENCH_MODE: "true", ADMIN_TOKEN: 'a"b' },
    relayPort: 8787,
    floorPort: 8788,
    durableObjectStorage: { inMemory: true },
  });

  it("runs the bundle with wrangler.toml's date, its KV and Durable Object bindings and vars", () => {
    expect(config).toContain('esModule = embed "relay.js"');
    expect(config).toContain('compatibilityDate = "2026-11-01"');
    expect(config).toContain('(name = "OCSP_CACHE", kvNamespace = "kv-OCSP_CACHE")');
    expect(config).toContain('(name = "kv-OCSP_CACHE", worker = (');
    expect(config).toContain('(name = "CERT_OWNER", durableObjectNamespace = "CertOwner")');
    expect(config).toContain(
      '(className = "CertOwner", uniqueKey = "ocsp-relay-bench-CertOwner", enableSql = true)',
    );
    expect(config).toContain("durableObjectStorage = (inMemory = void)");
    expect(config).toContain('(name = "UPSTREAM_TIMEOUT_MS", text = "5000")');
    expect(config).toContain('(name = "BENCH_MODE", text = "true")');
    expect(config).toContain('(name = "ADMIN_TOKEN", text = "a\\"b")');
  });

  it("listens on 127.0.0.1 only and reaches nothing but loopback", () => {
    const addresses = [...config.matchAll(/address = "([^"]+)"/g)].map((m) => m[1]);
    expect(addresses).toEqual(["127.0.0.1:8787", "127.0.0.1:8788"]);
    const allows = [...config.matchAll(/allow = \[([^\]]*)\]/g)].map((m) => m[1]);
    expect(allows.length).toBeGreaterThan(0);
    for (const a of allows) expect(a).toBe('"127.0.0.0/8", "::1/128"');
    // every worker's outbound is the loopback-only network, and so is the default "internet"
    expect(config.match(/globalOutbound = "loopback"/g)?.length).toBe(3);
    expect(config).toContain('(name = "internet", network = (allow = ["127.0.0.0/8", "::1/128"]))');
  });

  it("adds the floor with the relay's headers as its own service and socket", () => {
    const withHeaders = workerdConfig({
      wrangler: parseWranglerToml(WRANGLER_TOML),
      relayModule: "relay.js",
      kvModule: "kv.js",
      floorModule: "floor.js",
      vars: {},
      relayPort: 1,
      floorPort: 2,
      floorHeadersPort: 3,
      durableObjectStorage: { inMemory: true },
    });
    expect([...withHeaders.matchAll(/address = "([^"]+)"/g)].map((m) => m[1])).toEqual([
      "127.0.0.1:1",
      "127.0.0.1:2",
      "127.0.0.1:3",
    ]);
    expect(withHeaders).toContain('(name = "floor-headers", worker = (');
    expect(withHeaders).toContain('service = "floor-headers"');
    expect(withHeaders.match(/globalOutbound = "loopback"/g)?.length).toBe(4);
  });

  it("can keep Durable Objects on local disk instead", () => {
    const disk = workerdConfig({
      wrangler: parseWranglerToml(WRANGLER_TOML),
      relayModule: "relay.js",
      kvModule: "kv.js",
      floorModule: "floor.js",
      vars: {},
      relayPort: 1,
      floorPort: 2,
      durableObjectStorage: { localDiskPath: "/tmp/do" },
    });
    expect(disk).toContain('durableObjectStorage = (localDisk = "do-storage")');
    expect(disk).toContain('(name = "do-storage", disk = (path = "/tmp/do", writable = true))');
  });

  it("passes V8 flags only when asked", () => {
    expect(config).not.toContain("v8Flags");
    const gc = workerdConfig({
      wrangler: parseWranglerToml(WRANGLER_TOML),
      relayModule: "relay.js",
      kvModule: "kv.js",
      floorModule: "floor.js",
      vars: {},
      relayPort: 1,
      floorPort: 2,
      durableObjectStorage: { inMemory: true },
      v8Flags: ["--expose-gc"],
    });
    expect(gc).toContain('v8Flags = ["--expose-gc"],');
  });

  it("quotes Cap'n Proto text", () => {
    expect(capnpString('a\\b"c\n')).toBe('"a\\\\b\\"c\\n"');
  });
});

describe("the generated workers", () => {
  it("the floor answers the bytes last PUT as application/ocsp-response, or with the headers PUT", () => {
    const src = floorWorkerSource();
    expect(src).toContain('request.method === "PUT"');
    expect(src).toContain(
      'let headers = new Headers({ "Content-Type": "application/ocsp-response" });',
    );
    expect(src).toContain("headers = new Headers(JSON.parse(replay));");
    expect(src).toContain('request.headers.get("X-Floor-Headers")');
    expect(src).toContain("return new Response(body, { headers });");
  });

  it("the KV service speaks workerd's KV protocol (metadata header, urlencoded keys, list, bulk get)", () => {
    const src = kvWorkerSource();
    for (const s of [
      "CF-KV-Metadata",
      "CF-Expiration",
      "urlencoded",
      "key_count_limit",
      "/bulk/get",
      "list_complete",
    ]) {
      expect(src).toContain(s);
    }
  });
});

describe("nginxConfig", () => {
  const conf = nginxConfig({
    dir: "/tmp/n/",
    caFrontPort: 9001,
    cachePort: 9002,
    responderPort: 9000,
    workerProcesses: "auto",
    asRoot: true,
  });

  it("listens on 127.0.0.1 only and proxies to the responder on loopback over HTTP/1.0", () => {
    expect([...conf.matchAll(/listen (\S+);/g)].map((m) => m[1])).toEqual([
      "127.0.0.1:9001",
      "127.0.0.1:9002",
    ]);
    expect([...conf.matchAll(/proxy_pass (\S+);/g)].map((m) => m[1])).toEqual([
      "http://127.0.0.1:9000",
      "http://127.0.0.1:9000",
    ]);
    expect(conf.match(/proxy_http_version 1\.0;/g)?.length).toBe(2);
  });

  it("logs each CA fetch, and caches GETs by URI for 10 minutes on the baseline", () => {
    expect(conf).toContain("access_log /tmp/n/ca-access.log ca_fetch;");
    expect(conf).toContain("proxy_cache_key $uri;");
    expect(conf).toContain("proxy_cache_methods GET;");
    expect(conf).toContain("proxy_cache_valid 200 10m;");
    expect(conf).toMatch(/^user root;$/m);
    expect(conf).toMatch(/^worker_processes auto;$/m);
  });

  it("the CA log lines parse back", () => {
    const log = "1795884514.620 GET 200 /MEQw%2B%3D\n1795884514.700 GET 499 /x\n\ngarbage\n";
    expect(parseCaLog(log)).toEqual([
      { at: 1795884514620, method: "GET", status: 200, uri: "/MEQw%2B%3D" },
      { at: 1795884514700, method: "GET", status: 499, uri: "/x" },
    ]);
  });
});

describe("the CA's index", () => {
  it("encodes serials as minimal positive INTEGER content octets", () => {
    expect([...serialOctets(1)]).toEqual([1]);
    expect([...serialOctets(0x100001)]).toEqual([0x10, 0x00, 0x01]);
    expect([...serialOctets(0x80)]).toEqual([0x00, 0x80]);
    expect([...serialOctets(0x1234)]).toEqual([0x12, 0x34]);
    expect(() => serialOctets(0)).toThrow(RangeError);
    expect(() => serialOctets(1.5)).toThrow(RangeError);
  });

  it("writes serials as OpenSSL's BN_bn2hex does (uppercase, whole bytes, no sign byte)", () => {
    expect(indexSerial(1)).toBe("01");
    expect(indexSerial(0x100001)).toBe("100001");
    expect(indexSerial(0x80)).toBe("80");
    expect(indexSerial(0xabc)).toBe("0ABC");
  });

  it("writes valid entries with the index's date format", () => {
    const at = Date.UTC(2026, 11, 28, 16, 29, 19);
    expect(indexDate(at)).toBe("261228162919Z");
    expect(indexLine(0x100001, at)).toBe("V\t261228162919Z\t\t100001\tunknown\t/CN=bench-1048577");
  });
});
