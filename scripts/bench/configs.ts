// The text the benchmark generates: what it reads from wrangler.toml, the workerd config (the
// relay bundle, an in-memory KV service, the floor worker), nginx's config (the CA's front and the
// proxy_cache baseline) and the CA's `openssl ca` index. Pure (no node: imports): unit-tested
// inside workerd (test/unit/bench-configs.test.ts).

export const LOOPBACK = "127.0.0.1";

// ---------------------------------------------------------------------------------------------
// wrangler.toml (the subset the worker uses: top-level keys, [vars], [[kv_namespaces]],
// [[durable_objects.bindings]], [[migrations]])

export interface WranglerConfig {
  main: string | undefined;
  compatibilityDate: string;
  compatibilityFlags: string[];
  vars: Record<string, string>;
  kvNamespaces: string[];
  durableObjects: { binding: string; className: string }[];
  /** Classes declared in migrations' new_sqlite_classes (their namespaces get enableSql). */
  sqliteClasses: string[];
}

type TomlValue = string | number | boolean | TomlValue[];

/** Parses the TOML subset wrangler.toml uses here; throws on a line it does not understand. */
export function parseWranglerToml(text: string): WranglerConfig {
  const top: Record<string, TomlValue> = {};
  const tables: Record<string, Record<string, TomlValue>> = {};
  const arrays: Record<string, Record<string, TomlValue>[]> = {};
  let current = top;
  for (const [n, raw] of text.split(/\r?\n/).entries()) {
    const line = stripComment(raw).trim();
    if (line === "") continue;
    let m: RegExpExecArray | null;
    if ((m = /^\[\[\s*([\w.-]+)\s*\]\]$/.exec(line))) {
      current = {};
      (arrays[m[1]!] ??= []).push(current);
    } else if ((m = /^\[\s*([\w.-]+)\s*\]$/.exec(line))) {
      current = tables[m[1]!] ??= {};
    } else if ((m = /^([\w-]+|"[^"]*")\s*=\s*(.+)$/.exec(line))) {
      current[m[1]!.replace(/^"|"$/g, "")] = parseTomlValue(m[2]!, n + 1);
    } else {
      throw new Error(`wrangler.toml line ${n + 1}: cannot parse "${raw}"`);
    }
  }
  const str = (v: TomlValue | undefined) => (v === undefined ? undefined : String(v));
  const strings = (v: TomlValue | undefined) => (Array.isArray(v) ? v.map(String) : []);
  const compatibilityDate = str(top["compatibility_date"]);
  if (!compatibilityDate) throw new Error("wrangler.toml has no compatibility_date");
  return {
    main: str(top["main"]),
    compatibilityDate,
    compatibilityFlags: strings(top["compatibility_flags"]),
    vars: Object.fromEntries(
      Object.entries(tables["vars"] ?? {}).map(([k, v]) => [
        k,
        typeof v === "string" ? v : JSON.stringify(v),
      ]),
    ),
    kvNamespaces: (arrays["kv_namespaces"] ?? []).map((t) => String(t["binding"])),
    durableObjects: (arrays["durable_objects.bindings"] ?? []).map((t) => ({
      binding: String(t["name"]),
      className: String(t["class_name"]),
    })),
    sqliteClasses: (arrays["migrations"] ?? []).flatMap((t) => strings(t["new_sqlite_classes"])),
  };
}

function stripComment(line: string): string {
  let inString = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === '"' && line[i - 1] !== "\\") inString = !inString;
    if (c === "#" && !inString) return line.slice(0, i);
  }
  return line;
}

function parseTomlValue(text: string, lineNo: number): TomlValue {
  const t = text.trim();
  if (t.startsWith("[")) {
    if (!t.endsWith("]"))
      throw new Error(`wrangler.toml line ${lineNo}: multi-line arrays are not supported`);
    const inner = t.slice(1, -1).trim();
    if (inner === "") return [];
    return splitTopLevel(inner).map((part) => parseTomlValue(part, lineNo));
  }
  if (t.startsWith('"')) return JSON.parse(t) as string;
  if (t.startsWith("'") && t.endsWith("'")) return t.slice(1, -1);
  if (t === "true" || t === "false") return t === "true";
  if (/^[+-]?\d+(\.\d+)?$/.test(t)) return Number(t);
  throw new Error(`wrangler.toml line ${lineNo}: unsupported value ${t}`);
}

function splitTopLevel(inner: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let inString = false;
  let start = 0;
  for (let i = 0; i < inner.length; i++) {
    const c = inner[i];
    if (c === '"' && inner[i - 1] !== "\\") inString = !inString;
    if (inString) continue;
    if (c === "[") depth++;
    if (c === "]") depth--;
    if (c === "," && depth === 0) {
      parts.push(inner.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(inner.slice(start));
  return parts.map((p) => p.trim()).filter((p) => p !== "");
}

// ---------------------------------------------------------------------------------------------
// workerd

/** A Cap'n Proto text literal. */
export function capnpString(value: string): string {
  return JSON.stringify(value); // capnp text literals take the same escapes as JSON strings
}

export interface WorkerdConfigInput {
  wrangler: WranglerConfig;
  /** File names next to the config (capnp `embed` is relative to the config file). */
  relayModule: string;
  kvModule: string;
  floorModule: string;
  /** Text vars for the relay, on top of wrangler.toml's [vars]. */
  vars: Record<string, string>;
  relayPort: number;
  floorPort: number;
  /** The floor answering with the relay's headers (same module, its own isolate). */
  floorHeadersPort?: number;
  /** Where the relay's Durable Objects keep their storage. */
  durableObjectStorage: { inMemory: true } | { localDiskPath: string };
  /** V8 flags (the benchmark uses --expose-gc only: the inspector measures the heap after gc()). */
  v8Flags?: string[];
}

/**
 * The workerd config: the relay bundle as deployed, with
 * - each KV binding as a real `kvNamespace` binding served by an in-memory KV worker in the same
 *   process (the HTTP protocol workerd's KV binding speaks; see kvWorkerSource),
 * - its Durable Object classes (SQLite-backed per wrangler.toml's migrations),
 * - every outbound connection restricted to loopback (the relay's owner fetches the CA on
 *   127.0.0.1; nothing else is reachable: "internet" itself is redefined as loopback-only),
 * - the floor worker on its own socket.
 */
export function workerdConfig(i: WorkerdConfigInput): string {
  const w = i.wrangler;
  const kvService = (binding: string) => `kv-${binding}`;
  const vars = { ...w.vars, ...i.vars };
  const bindings = [
    ...w.kvNamespaces.map(
      (b) => `(name = ${capnpString(b)}, kvNamespace = ${capnpString(kvService(b))})`,
    ),
    ...w.durableObjects.map(
      (d) =>
        `(name = ${capnpString(d.binding)}, durableObjectNamespace = ${capnpString(d.className)})`,
    ),
    ...Object.entries(vars).map(([k, v]) => `(name = ${capnpString(k)}, text = ${capnpString(v)})`),
  ];
  const classes = [...new Set(w.durableObjects.map((d) => d.className))];
  const namespaces = classes.map(
    (c) =>
      `(className = ${capnpString(c)}, uniqueKey = ${capnpString(`ocsp-relay-bench-${c}`)}${
        w.sqliteClasses.includes(c) ? ", enableSql = true" : ""
      })`,
  );
  const storage =
    "inMemory" in i.durableObjectStorage ? "(inMemory = void)" : `(localDisk = "do-storage")`;
  const flags = w.compatibilityFlags.length
    ? `, compatibilityFlags = [${w.compatibilityFlags.map(capnpString).join(", ")}]`
    : "";
  const simpleWorker = (name: string, module: string) =>
    `    (name = ${capnpString(name)}, worker = (
      modules = [(name = ${capnpString(module)}, esModule = embed ${capnpString(module)})],
      compatibilityDate = ${capnpString(w.compatibilityDate)},
      globalOutbound = "loopback",
    )),`;
  return `# Generated by scripts/bench (configs.ts workerdConfig). Loopback only.
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (${
    i.v8Flags?.length ? `\n  v8Flags = [${i.v8Flags.map(capnpString).join(", ")}],` : ""
  }
  services = [
    (name = "relay", worker = (
      modules = [(name = ${capnpString(i.relayModule)}, esModule = embed ${capnpString(i.relayModule)})],
      compatibilityDate = ${capnpString(w.compatibilityDate)}${flags},
      bindings = [
        ${bindings.join(",\n        ")},
      ],
      durableObjectNamespaces = [
        ${namespaces.join(",\n        ")},
      ],
      durableObjectStorage = ${storage},
      globalOutbound = "loopback",
    )),
${w.kvNamespaces.map((b) => simpleWorker(kvService(b), i.kvModule)).join("\n")}
${simpleWorker("floor", i.floorModule)}${
    i.floorHeadersPort !== undefined ? `\n${simpleWorker("floor-headers", i.floorModule)}` : ""
  }
    (name = "loopback", network = (allow = ["127.0.0.0/8", "::1/128"])),
    (name = "internet", network = (allow = ["127.0.0.0/8", "::1/128"])),${
      "localDiskPath" in i.durableObjectStorage
        ? `\n    (name = "do-storage", disk = (path = ${capnpString(i.durableObjectStorage.localDiskPath)}, writable = true)),`
        : ""
    }
  ],
  sockets = [
    (name = "relay", address = ${capnpString(`${LOOPBACK}:${i.relayPort}`)}, http = (), service = "relay"),
    (name = "floor", address = ${capnpString(`${LOOPBACK}:${i.floorPort}`)}, http = (), service = "floor"),${
      i.floorHeadersPort !== undefined
        ? `\n    (name = "floor-headers", address = ${capnpString(`${LOOPBACK}:${i.floorHeadersPort}`)}, http = (), service = "floor-headers"),`
        : ""
    }
  ],
);
`;
}

/**
 * The floor: the least a Worker on this workerd can do per request. GET/HEAD answer the body last
 * PUT (the relay's cached answer, so the same bytes and size) with Content-Type
 * application/ocsp-response; the body lives in module scope like the relay's memory tier. A PUT
 * may also set the headers to answer with (X-Floor-Headers: a JSON object): the second floor
 * service answers with the relay's own headers, which separates what those headers cost from
 * what the relay's code costs.
 */
export function floorWorkerSource(): string {
  return `// Generated by scripts/bench (configs.ts floorWorkerSource): the floor worker.
let body = new Uint8Array(0);
// A Headers object, as the relay's hot path uses: the runtime copies it per response without
// converting each string again (the cheapest way to give a Response its headers).
let headers = new Headers({ "Content-Type": "application/ocsp-response" });
export default {
  async fetch(request) {
    if (request.method === "PUT") {
      body = new Uint8Array(await request.arrayBuffer());
      const replay = request.headers.get("X-Floor-Headers");
      if (replay) headers = new Headers(JSON.parse(replay));
      return new Response(null, { status: 204 });
    }
    return new Response(body, { headers });
  },
};
`;
}

/**
 * An in-memory KV namespace for a workerd `kvNamespace` binding. The binding turns KV calls into
 * HTTP requests to this service (the protocol miniflare's KV service implements):
 *   GET /<key>[?urlencoded=true]   -> 200 value, CF-KV-Metadata: <json>, CF-Expiration; or 404
 *   PUT /<key>?expiration=|expiration_ttl=  (metadata in CF-KV-Metadata) -> 200
 *   DELETE /<key>                  -> 200
 *   GET /?prefix=&key_count_limit=&cursor=  -> {keys:[{name,expiration,metadata}], list_complete, cursor}
 *   POST /bulk/get {keys, type, withMetadata} -> {key: value | {value, metadata}}
 * The relay's hit path reads no KV: this service only sees registrations and misses.
 */
export function kvWorkerSource(): string {
  return `// Generated by scripts/bench (configs.ts kvWorkerSource): an in-memory KV namespace service.
const store = new Map(); // key -> { value: ArrayBuffer, metadata: string | null, expiration: number | undefined }
const nowS = () => Math.floor(Date.now() / 1000);
const live = (key) => {
  const e = store.get(key);
  if (e && e.expiration !== undefined && e.expiration <= nowS()) {
    store.delete(key);
    return undefined;
  }
  return e;
};
const keyOf = (url) => {
  const raw = url.pathname.slice(1);
  return url.searchParams.get("urlencoded") === "true" ? decodeURIComponent(raw) : raw;
};
export default {
  async fetch(request) {
    const url = new URL(request.url);
    const method = request.method;
    if (method === "POST" && url.pathname === "/bulk/get") {
      const { keys = [], type = "text", withMetadata = false } = await request.json();
      const out = {};
      for (const key of keys) {
        const e = live(key);
        let value = e ? new TextDecoder().decode(e.value) : null;
        if (value !== null && type === "json") value = JSON.parse(value);
        out[key] = withMetadata ? { value, metadata: e && e.metadata ? JSON.parse(e.metadata) : null } : value;
      }
      return Response.json(out);
    }
    if (method === "GET" && url.pathname === "/") {
      const prefix = url.searchParams.get("prefix") ?? "";
      const limit = Number(url.searchParams.get("key_count_limit") ?? 1000);
      const cursor = url.searchParams.get("cursor");
      const names = [...store.keys()].filter((k) => k.startsWith(prefix) && live(k)).sort();
      const start = cursor ? names.findIndex((k) => k > cursor) : 0;
      const page = start < 0 ? [] : names.slice(start, start + limit);
      const done = start < 0 || start + limit >= names.length;
      const keys = page.map((name) => {
        const e = store.get(name);
        return { name, ...(e.expiration !== undefined ? { expiration: e.expiration } : {}), ...(e.metadata ? { metadata: e.metadata } : {}) };
      });
      return Response.json(done ? { keys, list_complete: true, cacheStatus: null } : { keys, list_complete: false, cursor: page[page.length - 1], cacheStatus: null });
    }
    const key = keyOf(url);
    if (key === "") return new Response("key required", { status: 400 });
    if (method === "GET") {
      const e = live(key);
      if (!e) return new Response("Not Found", { status: 404 });
      const headers = new Headers();
      if (e.metadata) headers.set("CF-KV-Metadata", e.metadata);
      if (e.expiration !== undefined) headers.set("CF-Expiration", String(e.expiration));
      return new Response(e.value, { headers });
    }
    if (method === "PUT") {
      const ttl = url.searchParams.get("expiration_ttl");
      const at = url.searchParams.get("expiration");
      const expiration = ttl !== null ? nowS() + Number(ttl) : at !== null ? Number(at) : undefined;
      store.set(key, { value: await request.arrayBuffer(), metadata: request.headers.get("CF-KV-Metadata"), expiration });
      return new Response(null);
    }
    if (method === "DELETE") {
      store.delete(key);
      return new Response(null);
    }
    return new Response("method not allowed", { status: 405 });
  },
};
`;
}

// ---------------------------------------------------------------------------------------------
// nginx: the CA's front (HTTP/1.0 to `openssl ocsp`, one access-log line per CA fetch) and the
// proxy_cache baseline (serving the same GET from its cache)

export interface NginxConfigInput {
  /** nginx's prefix directory (logs, cache, temp paths, pid). */
  dir: string;
  caFrontPort: number;
  cachePort: number;
  /** Where `openssl ocsp` listens. */
  responderPort: number;
  workerProcesses: number | "auto";
  /** Running as root: nginx's workers would switch to `nobody` and lose the temp paths. */
  asRoot: boolean;
}

export function nginxConfig(i: NginxConfigInput): string {
  const d = (f: string) => `${i.dir.replace(/\/+$/, "")}/${f}`;
  const upstream = `http://${LOOPBACK}:${i.responderPort}`;
  return `# Generated by scripts/bench (configs.ts nginxConfig). Loopback only.
${i.asRoot ? "user root;\n" : ""}worker_processes ${i.workerProcesses};
pid ${d("nginx.pid")};
error_log ${d("error.log")} warn;
events {
  worker_connections 4096;
}
http {
  client_body_temp_path ${d("client_body")};
  proxy_temp_path ${d("proxy")};
  fastcgi_temp_path ${d("fastcgi")};
  uwsgi_temp_path ${d("uwsgi")};
  scgi_temp_path ${d("scgi")};
  keepalive_requests 1000000;
  proxy_cache_path ${d("cache")} levels=1:2 keys_zone=ocsp:16m max_size=256m inactive=60m use_temp_path=off;
  log_format ca_fetch '$msec $request_method $status $request_uri';

  # The CA's front: openssl ocsp answers one HTTP/1.0 exchange per connection (under keep-alive it
  # spins at 100 % CPU). Each line of ca-access.log is one fetch from the CA.
  server {
    listen ${LOOPBACK}:${i.caFrontPort};
    access_log ${d("ca-access.log")} ca_fetch;
    location / {
      proxy_pass ${upstream};
      proxy_http_version 1.0;
      # A client that gives up does not cut the exchange short: the fetch still counts.
      proxy_ignore_client_abort on;
    }
  }

  # The baseline: nginx proxy_cache in front of the same responder, answering repeat GETs from
  # its cache.
  server {
    listen ${LOOPBACK}:${i.cachePort};
    access_log off;
    location / {
      proxy_pass ${upstream};
      proxy_http_version 1.0;
      proxy_cache ocsp;
      proxy_cache_key $uri;
      proxy_cache_methods GET;
      proxy_cache_valid 200 10m;
      proxy_cache_lock on;
      add_header X-Cache-Status $upstream_cache_status;
    }
  }
}
`;
}

/** One line of nginx's ca-access.log (format ca_fetch). */
export interface CaFetch {
  at: number;
  method: string;
  status: number;
  uri: string;
}

export function parseCaLog(text: string): CaFetch[] {
  const out: CaFetch[] = [];
  for (const line of text.split("\n")) {
    const m = /^(\d+(?:\.\d+)?) (\S+) (\d{3}) (\S+)$/.exec(line.trim());
    if (m) out.push({ at: Number(m[1]) * 1000, method: m[2]!, status: Number(m[3]), uri: m[4]! });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The CA's database: certificates are never issued, only listed (`openssl ocsp` answers from the
// index; the relay's requests are built from CertIDs).

/** The content octets of a positive INTEGER (minimal, with a leading 0x00 if the top bit is set). */
export function serialOctets(n: number): Uint8Array {
  if (!Number.isSafeInteger(n) || n <= 0)
    throw new RangeError(`serial ${n} must be a positive integer`);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v % 256);
  if (bytes[0]! >= 0x80) bytes.unshift(0);
  return new Uint8Array(bytes);
}

/** The serial as `openssl ca`'s index has it (OpenSSL's BN_bn2hex: uppercase, even length). */
export function indexSerial(n: number): string {
  return [...serialOctets(n)]
    .map((b) => b.toString(16).padStart(2, "0"))
    .join("")
    .replace(/^00(?=[89A-Fa-f])/, "")
    .toUpperCase();
}

/** YYMMDDHHMMSSZ, the date format of an `openssl ca` index. */
export function indexDate(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace(/^\d\d(\d\d)-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d).*$/, "$1$2$3$4$5$6Z");
}

/** A valid (`V`) entry of the index for serial `n`. */
export function indexLine(n: number, expiresAt: number): string {
  return ["V", indexDate(expiresAt), "", indexSerial(n), "unknown", `/CN=bench-${n}`].join("\t");
}
