// npm run deploy [-- --dry-run] [-- <more wrangler deploy flags>]: what can be scripted of README
// "Deploying". Checks wrangler.toml against the code (scripts/deploy-check.ts), refuses the example
// KV id and hostname, builds the production bundle offline and checks its size, then runs
// `wrangler deploy --env production` with the flags given. --dry-run stops before the upload.

import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import { join, resolve } from "node:path";
import { bundleWorker } from "./bench/setup.ts";
import { parseWranglerToml, type WranglerConfig } from "./bench/wrangler-toml.ts";
import {
  bundleSize,
  bundleSizeReport,
  declaresDurableObject,
  deploymentProblems,
  envBindings,
  missingFromBundle,
  placeholderProblems,
  productionProblems,
  productionWarnings,
  reExports,
  type WorkerSurface,
} from "./deploy-check.ts";
import { REPO_ROOT } from "./support/processes.ts";

export const ENV = "production";

/** wrangler.toml and what src/ expects of it, read from the worker in `dir`. */
export function readDeployment(dir: string): { config: WranglerConfig; code: WorkerSurface } {
  const read = (path: string) => readFileSync(join(dir, path), "utf8");
  const durableObjectClasses = reExports(read("src/index.ts"))
    .filter(({ name, from }) => declaresDurableObject(read(join("src", from)), name))
    .map(({ name }) => name);
  return {
    config: parseWranglerToml(read("wrangler.toml")),
    code: { durableObjectClasses, ...envBindings(read("src/env.ts")) },
  };
}

/**
 * `wrangler deploy --dry-run --env <env>` of the worker in `dir`, offline (bench/setup.ts
 * bundleWorker); returns the size line and any problem (over the limit, a class not exported).
 */
export async function checkBundle(
  dir: string,
  code: WorkerSurface,
  env = ENV,
): Promise<{ line: string; problems: string[] }> {
  const tmp = await mkdtemp(join(os.tmpdir(), "ocsp-relay-deploy-"));
  try {
    const bundle = await bundleWorker(dir, tmp, { env });
    const outdir = join(bundle.path, "..");
    const modules = readdirSync(outdir).map((name) => ({
      name,
      bytes: readFileSync(join(outdir, name)),
    }));
    const report = bundleSizeReport(bundleSize(modules));
    const missing = missingFromBundle(readFileSync(bundle.path, "utf8"), code.durableObjectClasses);
    return {
      line: report.line,
      problems: [
        ...report.problems,
        ...missing.map((c) => `the bundle does not export Durable Object class ${c}`),
      ],
    };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

async function main(argv: string[]): Promise<number> {
  // `npm run deploy --dry-run` (no `--`) is taken by npm itself, which says so in the environment.
  const dryRun = argv.includes("--dry-run") || process.env.npm_config_dry_run === "true";
  const passthrough = argv.filter((a) => a !== "--dry-run");
  // What was checked is [env.production] of this wrangler.toml: nothing may deploy another.
  const other = passthrough.find((a) => /^(--env|-e|--config|-c)(=|$)/.test(a));
  if (other) {
    console.error(
      `npm run deploy: ${other} is not passed on: it deploys [env.${ENV}] of wrangler.toml, as checked`,
    );
    return 2;
  }
  const dir = resolve(process.cwd());
  const { config, code } = readDeployment(dir);
  const refusals = [
    ...deploymentProblems(config, code),
    ...productionProblems(config, ENV),
    ...placeholderProblems(config, ENV),
  ];
  if (refusals.length) {
    console.error(
      `npm run deploy: not deploying; wrangler.toml needs:\n- ${refusals.join("\n- ")}`,
    );
    console.error('(README "Deploying" walks through each step)');
    return 1;
  }
  for (const w of productionWarnings(config, ENV)) console.warn(`warning: ${w}`);
  console.log(
    `wrangler.toml matches the code: ${code.durableObjectClasses.length} Durable Object classes, ` +
      `${code.kvBindings.length + code.durableObjectBindings.length} bindings, ` +
      `${config.migrations.length} migrations; [env.${ENV}] on ` +
      config.env[ENV]!.routes.map((r) => r.pattern).join(", "),
  );
  const bundle = await checkBundle(dir, code);
  console.log(bundle.line);
  if (bundle.problems.length) {
    console.error(`npm run deploy: not deploying:\n- ${bundle.problems.join("\n- ")}`);
    return 1;
  }
  if (dryRun) {
    console.log(`--dry-run: checks passed; not running wrangler deploy --env ${ENV}`);
    return 0;
  }
  const wrangler = join(REPO_ROOT, "node_modules", "wrangler", "bin", "wrangler.js");
  const args = [wrangler, "deploy", "--env", ENV, ...passthrough];
  console.log(`$ wrangler ${args.slice(1).join(" ")}`);
  const r = spawnSync(process.execPath, args, { cwd: dir, stdio: "inherit" });
  return r.status ?? 1;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.exitCode = await main(process.argv.slice(2));
}
