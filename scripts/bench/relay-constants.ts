// REGISTRY_TTL_MS, which the report quotes, read from src/ so the report follows the code. Read as
// text, not imported: src/issuers/registry.ts runs under tsx, but its imports reach Workers-only
// types (DurableObjectStub, KVNamespace, `cloudflare:workers` in registrar-do.ts) that
// `tsc -p tsconfig.node.json` cannot check. Once the constant lives in a module without such
// imports, import it (as measures/memory.ts imports MEMORY_LIMITS) and delete this file.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT } from "../support/processes.ts";

/** A numeric `export const NAME = 10_000;` from a source file. */
function readSourceConstant(file: string, name: string): number | undefined {
  try {
    const text = readFileSync(join(REPO_ROOT, file), "utf8");
    const m = new RegExp(`\\b${name}\\s*=\\s*([\\d_]+)\\s*;`).exec(text);
    return m ? Number(m[1]!.replace(/_/g, "")) : undefined;
  } catch {
    return undefined;
  }
}

/** src/issuers/registry.ts REGISTRY_TTL_MS, or undefined when it cannot be read. */
export function registryTtlMs(): number | undefined {
  return readSourceConstant("src/issuers/registry.ts", "REGISTRY_TTL_MS");
}
