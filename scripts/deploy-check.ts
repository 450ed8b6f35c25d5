// Does wrangler.toml still match the code? The checks `npm run deploy` runs before uploading and
// `npm test` runs on every change (test/node/deploy.test.ts): every Durable Object class the worker
// exports (src/index.ts) has a binding and a migration, every binding the code reads (src/env.ts)
// is configured, in the top level and in each environment; no migration tag repeats; the production
// environment serves a custom domain; the bundle fits the platform's size limit. Pure (no I/O):
// the texts and sizes come in, a list of problems goes out.

import { gzipSync } from "node:zlib";
import type {
  DurableObjectMigration,
  WranglerConfig,
  WranglerEnvironment,
} from "./bench/wrangler-toml.ts";

/** What the code expects of its deployment. */
export interface WorkerSurface {
  /** Durable Object classes src/index.ts exports (each needs a binding and a migration). */
  durableObjectClasses: string[];
  /** KV bindings the Env interface (src/env.ts) declares. */
  kvBindings: string[];
  /** Durable Object bindings the Env interface declares, with the class each expects. */
  durableObjectBindings: { binding: string; className: string }[];
}

/** `export { A, B as C } from "./path.ts";` lines of src/index.ts: the exported name and its module. */
export function reExports(indexTs: string): { name: string; from: string }[] {
  const out: { name: string; from: string }[] = [];
  for (const m of indexTs.matchAll(/^export\s*\{([^}]*)\}\s*from\s*["']([^"']+)["']/gm)) {
    for (const part of m[1]!.split(",")) {
      const name = part
        .trim()
        .split(/\s+as\s+/)
        .pop()!;
      if (name !== "" && !name.startsWith("type ")) out.push({ name, from: m[2]! });
    }
  }
  return out;
}

/** Whether `moduleTs` declares `export class <name> extends DurableObject`. */
export function declaresDurableObject(moduleTs: string, name: string): boolean {
  return new RegExp(`^export\\s+class\\s+${name}\\s+extends\\s+DurableObject\\b`, "m").test(
    moduleTs,
  );
}

/** The KV and Durable Object bindings of `interface Env` in src/env.ts. */
export function envBindings(envTs: string): Omit<WorkerSurface, "durableObjectClasses"> {
  const body = /interface\s+Env\b[^{]*\{([^}]*)\}/.exec(envTs)?.[1];
  if (body === undefined) throw new Error("src/env.ts has no `interface Env { ... }`");
  const kvBindings: string[] = [];
  const durableObjectBindings: WorkerSurface["durableObjectBindings"] = [];
  for (const m of body.matchAll(/^\s*(\w+)\??\s*:\s*([^;]+);/gm)) {
    const [name, type] = [m[1]!, m[2]!.trim()];
    if (type === "KVNamespace") kvBindings.push(name);
    const d = /^DurableObjectNamespace<\s*(\w+)\s*>$/.exec(type);
    if (d) durableObjectBindings.push({ binding: name, className: d[1]! });
  }
  return { kvBindings, durableObjectBindings };
}

/** The classes that exist after `migrations` run, in order (created, renamed, deleted). */
export function migratedClasses(migrations: DurableObjectMigration[]): Set<string> {
  const classes = new Set<string>();
  for (const m of migrations) {
    for (const c of [...m.newSqliteClasses, ...m.newClasses]) classes.add(c);
    for (const r of m.renamedClasses) {
      classes.delete(r.from);
      classes.add(r.to);
    }
    for (const c of m.deletedClasses) classes.delete(c);
  }
  return classes;
}

/** Everything wrong with `config` for `code`, in the top level and every environment. */
export function deploymentProblems(config: WranglerConfig, code: WorkerSurface): string[] {
  const problems: string[] = [];
  const tags = config.migrations.map((m) => m.tag);
  for (const tag of new Set(tags.filter((t, i) => tags.indexOf(t) !== i))) {
    problems.push(`migration tag "${tag}" is used more than once (wrangler applies each tag once)`);
  }
  const created = config.migrations.flatMap((m) => [...m.newSqliteClasses, ...m.newClasses]);
  for (const c of new Set(created.filter((c, i) => created.indexOf(c) !== i))) {
    problems.push(`class ${c} is created by more than one migration`);
  }
  const environments: [string, WranglerEnvironment, DurableObjectMigration[]][] = [
    ["the top level", config, config.migrations],
    ...Object.entries(config.env).map(
      ([name, e]): [string, WranglerEnvironment, DurableObjectMigration[]] => [
        `[env.${name}]`,
        e,
        e.migrations,
      ],
    ),
  ];
  for (const [where, e, migrations] of environments) {
    problems.push(...environmentProblems(where, e, migratedClasses(migrations), code));
  }
  for (const [name, e] of Object.entries(config.env)) {
    const where = `[env.${name}]`;
    for (const k of Object.keys(config.vars)) {
      if (!(k in e.vars)) {
        problems.push(`${where} has no var ${k} (vars are not inherited: repeat the top level's)`);
      }
    }
    const same = (a: string[], b: string[]) => [...a].sort().join() === [...b].sort().join();
    if (!same(e.kvNamespaces, config.kvNamespaces)) {
      problems.push(
        `${where} binds KV ${list(e.kvNamespaces)}, the top level ${list(config.kvNamespaces)}`,
      );
    }
    const dos = (x: WranglerEnvironment) =>
      x.durableObjects.map((d) => `${d.binding}=${d.className}`);
    if (!same(dos(e), dos(config))) {
      problems.push(
        `${where} binds Durable Objects ${list(dos(e))}, the top level ${list(dos(config))}`,
      );
    }
  }
  return problems;
}

function environmentProblems(
  where: string,
  e: WranglerEnvironment,
  migrated: Set<string>,
  code: WorkerSurface,
): string[] {
  const problems: string[] = [];
  const exported = new Set(code.durableObjectClasses);
  for (const c of code.durableObjectClasses) {
    if (!e.durableObjects.some((d) => d.className === c)) {
      problems.push(
        `${where}: Durable Object class ${c} (exported by src/index.ts) has no binding`,
      );
    }
    if (!migrated.has(c)) {
      problems.push(
        `${where}: Durable Object class ${c} (exported by src/index.ts) has no migration`,
      );
    }
  }
  for (const d of e.durableObjects) {
    if (!exported.has(d.className)) {
      problems.push(
        `${where}: binding ${d.binding} names class ${d.className}, which src/index.ts does not export`,
      );
    }
  }
  for (const k of code.kvBindings) {
    if (!e.kvNamespaces.includes(k)) {
      problems.push(`${where}: no KV namespace bound as ${k} (src/env.ts reads it)`);
    }
  }
  for (const want of code.durableObjectBindings) {
    const got = e.durableObjects.find((d) => d.binding === want.binding);
    if (!got) {
      problems.push(`${where}: no Durable Object bound as ${want.binding} (src/env.ts reads it)`);
    } else if (got.className !== want.className) {
      problems.push(
        `${where}: ${want.binding} is bound to class ${got.className}, src/env.ts expects ${want.className}`,
      );
    }
  }
  return problems;
}

/**
 * What the environment `npm run deploy` uploads must also be: on a custom domain (the Cache API tier
 * works only there; nginx needs a plain-http hostname of its own), not on workers.dev, and refusing
 * to deploy without the admin token.
 */
export function productionProblems(config: WranglerConfig, envName = "production"): string[] {
  const e = config.env[envName];
  if (!e) return [`wrangler.toml has no [env.${envName}]`];
  const where = `[env.${envName}]`;
  const problems: string[] = [];
  if (!e.routes.some((r) => r.customDomain)) {
    problems.push(
      `${where} has no custom domain (routes = [{ pattern = "…", custom_domain = true }])`,
    );
  }
  if (e.workersDev !== false) {
    problems.push(`${where} does not set workers_dev = false (the Cache API does nothing there)`);
  }
  if (!e.requiredSecrets.includes("ADMIN_TOKEN")) {
    problems.push(`${where} does not list ADMIN_TOKEN in secrets.required`);
  }
  return problems;
}

/** Example values that must be replaced before a real deploy (the committed file has them). */
export function placeholderProblems(config: WranglerConfig, envName = "production"): string[] {
  const e = config.env[envName];
  if (!e) return [`wrangler.toml has no [env.${envName}]`];
  const where = `[env.${envName}]`;
  const problems: string[] = [];
  for (const [binding, id] of Object.entries(e.kvNamespaceIds)) {
    if (!/^[0-9a-f]{32}$/.test(id) || /^0+$/.test(id)) {
      problems.push(
        `${where}: KV namespace ${binding} has the placeholder id "${id}": run ` +
          "`npx wrangler kv namespace create ocsp-relay-cache` and put the id it prints there",
      );
    }
  }
  for (const r of e.routes) {
    // RFC 2606 / RFC 6761 names: never a real zone.
    if (
      /(^|\.)(example(\.(com|net|org))?|test|invalid|localhost)$/i.test(r.pattern.split("/")[0]!)
    ) {
      problems.push(
        `${where}: route "${r.pattern}" is an example name: put the relay's hostname there`,
      );
    }
  }
  return problems;
}

/** Advice, not a refusal. */
export function productionWarnings(config: WranglerConfig, envName = "production"): string[] {
  const e = config.env[envName];
  if (!e || e.vars["UPSTREAM_CONTACT"]) return [];
  return [
    `[env.${envName}] has no UPSTREAM_CONTACT: the CAs see "ocsp-relay/<version>" with no way to reach you`,
  ];
}

// ---------------------------------------------------------------------------------------------
// Bundle size

/**
 * The platform's limit: 64 MiB uncompressed on every plan since 2026-09-04 (Cloudflare removed the
 * compressed limits of 3 MiB on Free and 10 MiB on Paid: changelog "increased worker size limit",
 * cloudflare-docs#33241, workers-sdk#14001). The former Free limit stays this project's budget: a
 * relay that grows past 3 MiB gzipped has grown for no reason, and startup time grows with size.
 */
export const SIZE_LIMIT_BYTES = 64 * 1024 * 1024;
export const GZIP_BUDGET_BYTES = 3 * 1024 * 1024;

export interface BundleSize {
  bytes: number;
  gzipBytes: number;
}

/**
 * What the upload weighs: the modules wrangler wrote (not the source map), raw and gzipped (within
 * a KiB of wrangler's own "Total Upload" line).
 */
export function bundleSize(modules: { name: string; bytes: Uint8Array }[]): BundleSize {
  const uploaded = modules.filter((m) => !m.name.endsWith(".map") && m.name !== "README.md");
  return {
    bytes: uploaded.reduce((n, m) => n + m.bytes.length, 0),
    gzipBytes: uploaded.reduce((n, m) => n + gzipSync(m.bytes).length, 0),
  };
}

/** One line to print, and the problems (over the limit or the budget). */
export function bundleSizeReport(size: BundleSize): { line: string; problems: string[] } {
  const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
  const pct = (n: number, of: number) => `${((100 * n) / of).toFixed(1)} %`;
  const line =
    `bundle: ${kib(size.bytes)} (${pct(size.bytes, SIZE_LIMIT_BYTES)} of the 64 MiB limit), ` +
    `gzip ${kib(size.gzipBytes)} (${pct(size.gzipBytes, GZIP_BUDGET_BYTES)} of the 3 MiB budget, ` +
    `the former Free-plan limit)`;
  const problems: string[] = [];
  if (size.bytes > SIZE_LIMIT_BYTES) problems.push(`the bundle is over the 64 MiB limit: ${line}`);
  if (size.gzipBytes > GZIP_BUDGET_BYTES) problems.push(`the bundle is over its budget: ${line}`);
  return { line, problems };
}

/** Durable Object classes missing from the bundle's own `export { … }` (what the runtime sees). */
export function missingFromBundle(bundleJs: string, classes: string[]): string[] {
  const exported = new Set<string>();
  for (const m of bundleJs.matchAll(/^export\s*\{([^}]*)\}/gm)) {
    for (const part of m[1]!.split(","))
      exported.add(
        part
          .trim()
          .split(/\s+as\s+/)
          .pop()!,
      );
  }
  return classes.filter((c) => !exported.has(c));
}

const list = (xs: string[]) => (xs.length ? xs.join(", ") : "nothing");
