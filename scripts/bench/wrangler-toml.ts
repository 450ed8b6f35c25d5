// What the benchmark and the deployment checks read from wrangler.toml: the subset the worker uses
// (top-level keys, [vars], [[kv_namespaces]], [[durable_objects.bindings]], [[migrations]], routes)
// and the same tables of each [env.<name>], to configure workerd the same way and to check the
// deployment against the code (scripts/deploy-check.ts). Pure (no I/O): unit-tested in Node
// (test/node/bench-configs.test.ts).

/** What one environment (the top level, or an [env.<name>]) configures. */
export interface WranglerEnvironment {
  name: string | undefined;
  vars: Record<string, string>;
  /** The KV bindings' names. */
  kvNamespaces: string[];
  /** Each KV binding's namespace id, by binding name. */
  kvNamespaceIds: Record<string, string>;
  durableObjects: { binding: string; className: string }[];
  /** `routes` (patterns, with `custom_domain`) and `route`, in that order. */
  routes: { pattern: string; customDomain: boolean }[];
  workersDev: boolean | undefined;
  /** `secrets.required`: the secrets wrangler refuses to deploy without. */
  requiredSecrets: string[];
}

export interface DurableObjectMigration {
  tag: string;
  newSqliteClasses: string[];
  newClasses: string[];
  renamedClasses: { from: string; to: string }[];
  deletedClasses: string[];
}

export interface WranglerConfig extends WranglerEnvironment {
  main: string | undefined;
  compatibilityDate: string;
  compatibilityFlags: string[];
  /** Classes declared in migrations' new_sqlite_classes (their namespaces get enableSql). */
  sqliteClasses: string[];
  migrations: DurableObjectMigration[];
  /**
   * Each [env.<name>] as wrangler resolves it: the bindings, vars and secrets the environment itself
   * declares (wrangler never inherits those), the name `<name of the top level>-<env>` unless set,
   * and the top level's routes, workers_dev and migrations unless it sets its own (wrangler
   * inherits those).
   */
  env: Record<string, WranglerEnvironment & { migrations: DurableObjectMigration[] }>;
}

interface TomlTable {
  [key: string]: TomlValue;
}
type TomlValue = string | number | boolean | TomlValue[] | TomlTable;

/** Parses the TOML subset wrangler.toml uses here; throws on a line it does not understand. */
export function parseWranglerToml(text: string): WranglerConfig {
  const top: TomlTable = {};
  const tables: Record<string, TomlTable> = {};
  const arrays: Record<string, TomlTable[]> = {};
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
  const compatibilityDate = str(top["compatibility_date"]);
  if (!compatibilityDate) throw new Error("wrangler.toml has no compatibility_date");
  const environment = (prefix: string, own: TomlTable): WranglerEnvironment => {
    const kv = arrays[`${prefix}kv_namespaces`] ?? [];
    return {
      name: str(own["name"]),
      vars: Object.fromEntries(
        Object.entries(tables[`${prefix}vars`] ?? {}).map(([k, v]) => [
          k,
          typeof v === "string" ? v : JSON.stringify(v),
        ]),
      ),
      kvNamespaces: kv.map((t) => String(t["binding"])),
      kvNamespaceIds: Object.fromEntries(kv.map((t) => [String(t["binding"]), String(t["id"])])),
      durableObjects: (arrays[`${prefix}durable_objects.bindings`] ?? []).map((t) => ({
        binding: String(t["name"]),
        className: String(t["class_name"]),
      })),
      routes: [...list(own["routes"]), ...(own["route"] === undefined ? [] : [own["route"]])].map(
        (r) =>
          isTable(r)
            ? { pattern: String(r["pattern"]), customDomain: r["custom_domain"] === true }
            : { pattern: String(r), customDomain: false },
      ),
      workersDev: typeof own["workers_dev"] === "boolean" ? own["workers_dev"] : undefined,
      requiredSecrets: strings(table(tables[`${prefix}secrets`] ?? own["secrets"])["required"]),
    };
  };
  const migrations = (prefix: string) =>
    (arrays[`${prefix}migrations`] ?? []).map((t) => ({
      tag: String(t["tag"]),
      newSqliteClasses: strings(t["new_sqlite_classes"]),
      newClasses: strings(t["new_classes"]),
      renamedClasses: list(t["renamed_classes"]).map((r) => ({
        from: String(table(r)["from"]),
        to: String(table(r)["to"]),
      })),
      deletedClasses: strings(t["deleted_classes"]),
    }));
  const topLevel = environment("", top);
  const topMigrations = migrations("");
  const envNames = new Set(
    [...Object.keys(tables), ...Object.keys(arrays)]
      .map((key) => /^env\.([\w-]+)(\.|$)/.exec(key)?.[1])
      .filter((name): name is string => name !== undefined),
  );
  const env: WranglerConfig["env"] = {};
  for (const name of envNames) {
    const prefix = `env.${name}.`;
    const ownTable = tables[`env.${name}`] ?? {};
    const own = environment(prefix, ownTable);
    env[name] = {
      ...own,
      name: own.name ?? (topLevel.name === undefined ? undefined : `${topLevel.name}-${name}`),
      routes: "routes" in ownTable || "route" in ownTable ? own.routes : topLevel.routes,
      workersDev: own.workersDev ?? topLevel.workersDev,
      migrations: arrays[`${prefix}migrations`] ? migrations(prefix) : topMigrations,
    };
  }
  return {
    ...topLevel,
    main: str(top["main"]),
    compatibilityDate,
    compatibilityFlags: strings(top["compatibility_flags"]),
    sqliteClasses: topMigrations.flatMap((t) => t.newSqliteClasses),
    migrations: topMigrations,
    env,
  };
}

const str = (v: TomlValue | undefined) => (v === undefined ? undefined : String(v));
const list = (v: TomlValue | undefined): TomlValue[] => (Array.isArray(v) ? v : []);
const strings = (v: TomlValue | undefined) => list(v).map(String);
const isTable = (v: TomlValue | undefined): v is TomlTable =>
  typeof v === "object" && !Array.isArray(v);
const table = (v: TomlValue | undefined): TomlTable => (isTable(v) ? v : {});

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
  if (t.startsWith("{")) {
    if (!t.endsWith("}"))
      throw new Error(`wrangler.toml line ${lineNo}: multi-line inline tables are not supported`);
    const entries = splitTopLevel(t.slice(1, -1)).map((pair) => {
      const m = /^([\w-]+|"[^"]*")\s*=\s*([\s\S]+)$/.exec(pair);
      if (!m) throw new Error(`wrangler.toml line ${lineNo}: cannot parse "${pair}"`);
      return [m[1]!.replace(/^"|"$/g, ""), parseTomlValue(m[2]!, lineNo)] as const;
    });
    return Object.fromEntries(entries);
  }
  if (t.startsWith('"')) return JSON.parse(t) as string;
  if (t.startsWith("'") && t.endsWith("'")) return t.slice(1, -1);
  if (t === "true" || t === "false") return t === "true";
  if (/^[+-]?\d+(\.\d+)?$/.test(t)) return Number(t);
  throw new Error(`wrangler.toml line ${lineNo}: unsupported value ${t}`);
}

/** Splits on commas outside strings, arrays and inline tables. */
function splitTopLevel(inner: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let inString = false;
  let start = 0;
  for (let i = 0; i < inner.length; i++) {
    const c = inner[i];
    if (c === '"' && inner[i - 1] !== "\\") inString = !inString;
    if (inString) continue;
    if (c === "[" || c === "{") depth++;
    if (c === "]" || c === "}") depth--;
    if (c === "," && depth === 0) {
      parts.push(inner.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(inner.slice(start));
  return parts.map((p) => p.trim()).filter((p) => p !== "");
}
