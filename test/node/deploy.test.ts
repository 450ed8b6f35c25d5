// The deployment itself (scripts/deploy-check.ts, scripts/deploy.ts): wrangler.toml matches the
// code in its top level and its production environment, a broken wrangler.toml is caught (a class
// without a migration, a renamed binding, a repeated tag, an environment missing a binding), and
// `npm run deploy -- --dry-run` builds the production bundle offline and prints its size.

import { readFileSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseWranglerToml } from "../../scripts/bench/wrangler-toml.ts";
import {
  bundleSize,
  bundleSizeReport,
  declaresDurableObject,
  deploymentProblems,
  envBindings,
  GZIP_BUDGET_BYTES,
  missingFromBundle,
  placeholderProblems,
  productionProblems,
  productionWarnings,
  reExports,
  SIZE_LIMIT_BYTES,
  type WorkerSurface,
} from "../../scripts/deploy-check.ts";
import { readDeployment } from "../../scripts/deploy.ts";
import { REPO_ROOT, run } from "../../scripts/support/processes.ts";
import { snapshotWorker } from "../../scripts/support/relay.ts";

// Two Durable Object classes, one KV namespace, a production environment: the shape of the real file.
const GOOD = `name = "relay"
main = "src/index.ts"
compatibility_date = "2026-11-01"

[[kv_namespaces]]
binding = "OCSP_CACHE"
id = "00000000000000000000000000000000"

[vars]
UPSTREAM_TIMEOUT_MS = "5000"

[[durable_objects.bindings]]
name = "CERT_OWNER"
class_name = "CertOwner"

[[migrations]]
tag = "v1"
new_sqlite_classes = ["CertOwner"]

[[durable_objects.bindings]]
name = "PIN_QUEUE"
class_name = "PinQueue"

[[migrations]]
tag = "v2"
new_sqlite_classes = ["PinQueue"]

[env.production]
routes = [{ pattern = "ocsp.example.net", custom_domain = true }]
workers_dev = false

[env.production.secrets]
required = ["ADMIN_TOKEN"]

[[env.production.kv_namespaces]]
binding = "OCSP_CACHE"
id = "00000000000000000000000000000000"

[env.production.vars]
UPSTREAM_TIMEOUT_MS = "5000"

[[env.production.durable_objects.bindings]]
name = "CERT_OWNER"
class_name = "CertOwner"

[[env.production.durable_objects.bindings]]
name = "PIN_QUEUE"
class_name = "PinQueue"
`;

const CODE: WorkerSurface = {
  durableObjectClasses: ["CertOwner", "PinQueue"],
  kvBindings: ["OCSP_CACHE"],
  durableObjectBindings: [
    { binding: "CERT_OWNER", className: "CertOwner" },
    { binding: "PIN_QUEUE", className: "PinQueue" },
  ],
};

const problems = (toml: string, code = CODE) => [
  ...deploymentProblems(parseWranglerToml(toml), code),
  ...productionProblems(parseWranglerToml(toml)),
];

describe("what the code expects, read from its source", () => {
  it("src/index.ts re-exports, and which of them are Durable Object classes", () => {
    const index = `export { CertOwner } from "./fleet/durable-object.ts";
export { FleetLedger as Ledger, type Thing } from "./fleet/ledger-do.ts";
export function createWorker() {}`;
    expect(reExports(index)).toEqual([
      { name: "CertOwner", from: "./fleet/durable-object.ts" },
      { name: "Ledger", from: "./fleet/ledger-do.ts" },
    ]);
    expect(declaresDurableObject("export class CertOwner extends DurableObject<Env> {", "CertOwner"))
      .toBe(true); // prettier-ignore
    expect(declaresDurableObject("export class CertOwner {", "CertOwner")).toBe(false);
    expect(declaresDurableObject("export class CertOwnerX extends DurableObject {", "CertOwner"))
      .toBe(false); // prettier-ignore
  });

  it("src/env.ts: the KV and Durable Object bindings of interface Env", () => {
    const env = `export interface Env extends ConfigVars {
  OCSP_CACHE: KVNamespace;
  CERT_OWNER: DurableObjectNamespace<CertOwner>;
  ADMIN_TOKEN?: string;
}`;
    expect(envBindings(env)).toEqual({
      kvBindings: ["OCSP_CACHE"],
      durableObjectBindings: [{ binding: "CERT_OWNER", className: "CertOwner" }],
    });
  });

  it("this repository: wrangler.toml matches src/ in the top level and in [env.production]", () => {
    const { config, code } = readDeployment(REPO_ROOT);
    expect(code.durableObjectClasses.length).toBeGreaterThanOrEqual(6);
    expect(code.kvBindings).toContain("OCSP_CACHE");
    expect(deploymentProblems(config, code)).toEqual([]);
    expect(productionProblems(config)).toEqual([]);
    expect(Object.keys(config.env)).toContain("production");
  });
});

describe("deploymentProblems: a wrangler.toml that no longer matches the code", () => {
  it("the good shape has none", () => {
    expect(problems(GOOD)).toEqual([]);
  });

  it("a new Durable Object class without its migration", () => {
    const toml = GOOD.replace('new_sqlite_classes = ["PinQueue"]', "new_sqlite_classes = []");
    expect(problems(toml)).toEqual([
      "the top level: Durable Object class PinQueue (exported by src/index.ts) has no migration",
      "[env.production]: Durable Object class PinQueue (exported by src/index.ts) has no migration",
    ]);
  });

  it("a new Durable Object class without its binding", () => {
    const code = { ...CODE, durableObjectClasses: [...CODE.durableObjectClasses, "CrlOwner"] };
    expect(problems(GOOD, code)).toEqual([
      "the top level: Durable Object class CrlOwner (exported by src/index.ts) has no binding",
      "the top level: Durable Object class CrlOwner (exported by src/index.ts) has no migration",
      "[env.production]: Durable Object class CrlOwner (exported by src/index.ts) has no binding",
      "[env.production]: Durable Object class CrlOwner (exported by src/index.ts) has no migration",
    ]);
  });

  it("a binding renamed in wrangler.toml but not in src/env.ts", () => {
    const toml = GOOD.replace('name = "PIN_QUEUE"', 'name = "PIN_QUEUES"');
    expect(problems(toml)).toEqual([
      "the top level: no Durable Object bound as PIN_QUEUE (src/env.ts reads it)",
      "[env.production] binds Durable Objects CERT_OWNER=CertOwner, PIN_QUEUE=PinQueue, " +
        "the top level CERT_OWNER=CertOwner, PIN_QUEUES=PinQueue",
    ]);
  });

  it("a KV binding renamed, a binding to the wrong class, a class the worker does not export", () => {
    const toml = GOOD.replace('binding = "OCSP_CACHE"', 'binding = "CACHE"').replace(
      'class_name = "PinQueue"',
      'class_name = "PinQueues"',
    );
    expect(problems(toml)).toEqual([
      "the top level: Durable Object class PinQueue (exported by src/index.ts) has no binding",
      "the top level: binding PIN_QUEUE names class PinQueues, which src/index.ts does not export",
      "the top level: no KV namespace bound as OCSP_CACHE (src/env.ts reads it)",
      "the top level: PIN_QUEUE is bound to class PinQueues, src/env.ts expects PinQueue",
      "[env.production] binds KV OCSP_CACHE, the top level CACHE",
      "[env.production] binds Durable Objects CERT_OWNER=CertOwner, PIN_QUEUE=PinQueue, " +
        "the top level CERT_OWNER=CertOwner, PIN_QUEUE=PinQueues",
    ]);
  });

  it("a migration tag used twice, a class created twice", () => {
    const toml = GOOD.replace('tag = "v2"', 'tag = "v1"').replace(
      'new_sqlite_classes = ["PinQueue"]',
      'new_sqlite_classes = ["PinQueue", "CertOwner"]',
    );
    expect(problems(toml)).toEqual([
      'migration tag "v1" is used more than once (wrangler applies each tag once)',
      "class CertOwner is created by more than one migration",
    ]);
  });

  it("a class deleted or renamed by a later migration no longer counts as migrated", () => {
    const toml = GOOD.replace(
      "[env.production]",
      '[[migrations]]\ntag = "v3"\ndeleted_classes = ["CertOwner"]\n\n[env.production]',
    );
    expect(problems(toml)).toEqual([
      "the top level: Durable Object class CertOwner (exported by src/index.ts) has no migration",
      "[env.production]: Durable Object class CertOwner (exported by src/index.ts) has no migration",
    ]);
  });

  it("the production environment missing what wrangler does not inherit: a binding, a var", () => {
    const toml = GOOD.replace(
      '[[env.production.durable_objects.bindings]]\nname = "PIN_QUEUE"\nclass_name = "PinQueue"\n',
      "",
    ).replace('[env.production.vars]\nUPSTREAM_TIMEOUT_MS = "5000"\n', "");
    expect(problems(toml)).toEqual([
      "[env.production]: Durable Object class PinQueue (exported by src/index.ts) has no binding",
      "[env.production]: no Durable Object bound as PIN_QUEUE (src/env.ts reads it)",
      "[env.production] has no var UPSTREAM_TIMEOUT_MS (vars are not inherited: repeat the top level's)",
      "[env.production] binds Durable Objects CERT_OWNER=CertOwner, " +
        "the top level CERT_OWNER=CertOwner, PIN_QUEUE=PinQueue",
    ]);
  });

  it("a production environment on workers.dev, without a custom domain or the admin token", () => {
    const toml = GOOD.replace(
      'routes = [{ pattern = "ocsp.example.net", custom_domain = true }]\nworkers_dev = false',
      'routes = ["example.net/*"]',
    ).replace('required = ["ADMIN_TOKEN"]', "required = []");
    expect(problems(toml)).toEqual([
      '[env.production] has no custom domain (routes = [{ pattern = "…", custom_domain = true }])',
      "[env.production] does not set workers_dev = false (the Cache API does nothing there)",
      "[env.production] does not list ADMIN_TOKEN in secrets.required",
    ]);
    expect(productionProblems(parseWranglerToml(toml.replaceAll("env.production", "env.staging"))))
      .toEqual(["wrangler.toml has no [env.production]"]); // prettier-ignore
  });
});

describe("placeholders and warnings (npm run deploy only)", () => {
  it("the example KV id and hostname are refused; real ones pass; no UPSTREAM_CONTACT is a warning", () => {
    const config = parseWranglerToml(GOOD);
    expect(placeholderProblems(config)).toEqual([
      '[env.production]: KV namespace OCSP_CACHE has the placeholder id "00000000000000000000000000000000": ' +
        "run `npx wrangler kv namespace create ocsp-relay-cache` and put the id it prints there",
      '[env.production]: route "ocsp.example.net" is an example name: put the relay\'s hostname there',
    ]);
    const real = parseWranglerToml(configured(GOOD));
    expect(placeholderProblems(real)).toEqual([]);
    expect(productionWarnings(real)).toEqual([
      '[env.production] has no UPSTREAM_CONTACT: the CAs see "ocsp-relay/<version>" with no way to reach you',
    ]);
    const contact = configured(GOOD).replace(
      "[env.production.vars]\n",
      '[env.production.vars]\nUPSTREAM_CONTACT = "mailto:pki@relay.invalid"\n',
    );
    expect(productionWarnings(parseWranglerToml(contact))).toEqual([]);
  });
});

describe("bundle size", () => {
  it("counts the modules, not the source map, and reports against the limit and the budget", () => {
    const js = new TextEncoder().encode("export default {};\n".repeat(1000));
    const size = bundleSize([
      { name: "index.js", bytes: js },
      { name: "index.js.map", bytes: new Uint8Array(10_000_000) },
      { name: "README.md", bytes: new Uint8Array(100) },
    ]);
    expect(size.bytes).toBe(js.length);
    expect(size.gzipBytes).toBeLessThan(js.length / 10);
    expect(bundleSizeReport(size).problems).toEqual([]);
    expect(bundleSizeReport({ bytes: SIZE_LIMIT_BYTES + 1, gzipBytes: 1 }).problems).toHaveLength(
      1,
    );
    expect(bundleSizeReport({ bytes: 1, gzipBytes: GZIP_BUDGET_BYTES + 1 }).problems).toHaveLength(
      1,
    );
  });

  it("finds the classes a bundle does not export", () => {
    const bundle = "class A {}\nexport {\n  A,\n  B as C,\n  index_default as default\n};\n";
    expect(missingFromBundle(bundle, ["A", "C", "D"])).toEqual(["D"]);
  });
});

describe("npm run deploy", () => {
  let tmp: string;
  let worker: string;
  const deploy = (args: string[], env: NodeJS.ProcessEnv = {}) =>
    run(
      join(REPO_ROOT, "node_modules", ".bin", "tsx"),
      [join(REPO_ROOT, "scripts", "deploy.ts"), ...args],
      {
        cwd: worker,
        timeoutMs: 150_000,
        env: { ...process.env, ...env },
      },
    );

  beforeAll(async () => {
    tmp = await mkdtemp(join(os.tmpdir(), "ocsp-relay-deploy-test-"));
    worker = await snapshotWorker(join(tmp, "worker"));
  });
  afterAll(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it("refuses the example KV id and hostname before building anything", async () => {
    const toml = join(worker, "wrangler.toml");
    const configuredToml = readFileSync(toml, "utf8");
    writeFileSync(toml, placeholders(configuredToml));
    try {
      const r = await deploy(["--dry-run"]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain("not deploying");
      expect(r.stderr).toContain(
        'KV namespace OCSP_CACHE has the placeholder id "00000000000000000000000000000000"',
      );
      expect(r.stderr).toContain("is an example name");
    } finally {
      writeFileSync(toml, configuredToml);
    }
  });

  it("deploys only what it checked: --env and --config are refused; npm's own --dry-run is honoured", async () => {
    for (const flag of ["--env", "--env=staging", "-e", "--config", "-c"]) {
      const r = await deploy([flag, "x"]);
      expect(r.code, flag).toBe(2);
      expect(r.stderr).toContain("is not passed on");
    }
    // `npm run deploy --dry-run` (no `--`): npm keeps the flag and sets npm_config_dry_run.
    const toml = join(worker, "wrangler.toml");
    const original = readFileSync(toml, "utf8");
    writeFileSync(toml, configured(original));
    try {
      const r = await deploy([], { npm_config_dry_run: "true" });
      expect(r.code).toBe(0);
      expect(r.stdout).toContain("--dry-run: checks passed; not running wrangler deploy");
    } finally {
      writeFileSync(toml, original);
    }
  }, 150_000);

  it("-- --dry-run, configured: the checks pass and the production bundle builds offline, under the size limit", async () => {
    const toml = join(worker, "wrangler.toml");
    writeFileSync(toml, configured(readFileSync(toml, "utf8")));
    const r = await deploy(["--dry-run"]);
    console.log(
      `npm run deploy -- --dry-run (on a copy with a KV id and hostname filled in):\n${r.stdout}${r.stderr}`,
    );
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^wrangler\.toml matches the code: \d+ Durable Object classes/m);
    const size = /^bundle: ([\d.]+) KiB .* gzip ([\d.]+) KiB/m.exec(r.stdout);
    expect(size).not.toBeNull();
    expect(Number(size![1]) * 1024).toBeLessThan(SIZE_LIMIT_BYTES);
    expect(Number(size![2]) * 1024).toBeLessThan(GZIP_BUDGET_BYTES);
    expect(r.stdout).toContain(
      "--dry-run: checks passed; not running wrangler deploy --env production",
    );
  }, 150_000);
});

/** The production environment with a real-looking KV id and hostname. */
function configured(toml: string): string {
  return setProduction(toml, "0123456789abcdef0123456789abcdef", "ocsp.relay-operator.net");
}

/** The production environment with the committed example values. */
function placeholders(toml: string): string {
  return setProduction(toml, "00000000000000000000000000000000", "ocsp.example.net");
}

function setProduction(toml: string, kvId: string, hostname: string): string {
  const at = /^\[env\.production\]$/m.exec(toml)?.index ?? -1;
  expect(at).toBeGreaterThan(0);
  const production = toml
    .slice(at)
    .replace(/^id = "[^"]*"/m, `id = "${kvId}"`)
    .replace(/pattern = "[^"]*"/, `pattern = "${hostname}"`);
  return toml.slice(0, at) + production;
}
