// The worker's own code for the simulator: src/index.ts (or another checkout's, to simulate an
// older commit) bundled for Node by esbuild, with `cloudflare:workers` replaced by the shim, plus
// the seams the simulator drives (the Durable Objects' platform, the operation counts).

import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { build } from "esbuild";

/** What the simulator imports from a bundle. */
export interface WorkerModule {
  createWorker: (platform: unknown) => {
    fetch(request: Request, env: unknown, ctx: unknown): Response | Promise<Response>;
  };
  useDurableObjectPlatform: (platform: unknown) => () => void;
  classes: Record<string, new (ctx: unknown, env: unknown) => Record<string, unknown>>;
}

/** Bundles `srcDir` (a checkout's src/) and imports it. */
export async function loadWorker(srcDir: string): Promise<WorkerModule> {
  const src = resolve(srcDir);
  const dir = await mkdtemp(join(tmpdir(), "ocsp-relay-sim-"));
  const entry = join(dir, "entry.ts");
  await writeFile(
    entry,
    [
      `export { createWorker } from ${JSON.stringify(join(src, "index.ts"))};`,
      `export { useDurableObjectPlatform } from ${JSON.stringify(join(src, "platform.ts"))};`,
      `import * as index from ${JSON.stringify(join(src, "index.ts"))};`,
      // Every exported class is a Durable Object class (index.ts exports nothing else that is).
      `export const classes = Object.fromEntries(Object.entries(index).filter(([, v]) =>`,
      `  typeof v === "function" && /^class /.test(Function.prototype.toString.call(v))));`,
    ].join("\n"),
  );
  const out = join(dir, "worker.mjs");
  await build({
    entryPoints: [entry],
    bundle: true,
    format: "esm",
    platform: "node",
    target: "node22",
    outfile: out,
    logLevel: "warning",
    alias: { "cloudflare:workers": join(import.meta.dirname, "shim-workers.ts") },
  });
  return (await import(out)) as WorkerModule;
}
