// Lists the import cycles among the modules under a directory (default src/): every `import` and
// `export … from` counts, type-only ones too, since a cycle of types is still a knot a reader must
// untie. Uses the TypeScript compiler's own pre-processor; no other tool. Exit 1 when a cycle exists.
//   npx tsx scripts/import-cycles.ts [dir]

import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import ts from "typescript";

const root = resolve(process.argv[2] ?? "src");

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return files(path);
    return /\.tsx?$/.test(name) && !name.endsWith(".d.ts") ? [path] : [];
  });
}

const modules = files(root);
const known = new Set(modules);
const edges = new Map<string, string[]>();
for (const file of modules) {
  const { importedFiles } = ts.preProcessFile(readFileSync(file, "utf8"), true, true);
  edges.set(
    file,
    importedFiles
      .map((i) => i.fileName)
      .filter((name) => name.startsWith("."))
      .map((name) => resolve(dirname(file), name))
      .filter((path) => known.has(path)),
  );
}

// Tarjan's strongly connected components: every component of more than one module is a cycle.
let index = 0;
const stack: string[] = [];
const onStack = new Set<string>();
const order = new Map<string, number>();
const low = new Map<string, number>();
const cycles: string[][] = [];
function visit(v: string): void {
  order.set(v, index);
  low.set(v, index++);
  stack.push(v);
  onStack.add(v);
  for (const w of edges.get(v) ?? []) {
    if (!order.has(w)) {
      visit(w);
      low.set(v, Math.min(low.get(v)!, low.get(w)!));
    } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, order.get(w)!));
  }
  if (low.get(v) === order.get(v)) {
    const component: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      component.push(w);
    } while (w !== v);
    if (component.length > 1 || (edges.get(v) ?? []).includes(v)) cycles.push(component);
  }
}
for (const m of modules) if (!order.has(m)) visit(m);

const name = (p: string) => relative(process.cwd(), p);
if (cycles.length === 0) {
  console.log(`no import cycle among ${modules.length} modules under ${name(root)}/`);
} else {
  for (const c of cycles) console.log(`cycle: ${c.map(name).sort().join(" <-> ")}`);
  process.exitCode = 1;
}
