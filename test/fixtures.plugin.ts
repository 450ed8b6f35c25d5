// A Vite plugin exposing the generated fixtures (test/fixtures) and the third-party vectors
// (../shared/vectors) to tests running inside workerd, which cannot read the file system:
// `import data from "virtual:fixtures"` gives every file as base64, read at test start.

import { readFileSync, readdirSync, existsSync, statSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import type { Plugin } from "vite";

const ID = "virtual:fixtures";

function readTree(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (!existsSync(root)) return out;
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else out[relative(root, path)] = readFileSync(path).toString("base64");
    }
  };
  walk(root);
  return out;
}

export function fixturesPlugin(projectRoot: string): Plugin {
  return {
    name: "ocsp-relay-fixtures",
    resolveId: (id) => (id === ID ? "\0" + ID : undefined),
    load(id) {
      if (id !== "\0" + ID) return undefined;
      const data = {
        fixtures: readTree(resolve(projectRoot, "test/fixtures")),
        vectors: readTree(resolve(projectRoot, "../shared/vectors")),
      };
      return `export default ${JSON.stringify(data)};`;
    },
  };
}
