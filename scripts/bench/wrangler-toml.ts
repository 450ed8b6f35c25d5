// What the benchmark reads from wrangler.toml: the subset the worker uses (top-level keys, [vars],
// [[kv_namespaces]], [[durable_objects.bindings]], [[migrations]]), to configure workerd the same
// way. Pure (no I/O): unit-tested in Node (test/node/bench-configs.test.ts).

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
