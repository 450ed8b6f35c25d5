// A local first run that needs no restart (scripts/start.sh, `npm start`): the first run writes
// .dev.vars from .dev.vars.example with a random ADMIN_TOKEN and prints it, later runs keep it, a
// token on the command line (the e2e tests' --var ADMIN_TOKEN:…) skips all of it, and every flag
// reaches wrangler dev. wrangler is a stub here that prints its arguments.

import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { childEnv, REPO_ROOT, run } from "../../scripts/support/processes.ts";

let dir: string;
const start = (args: string[] = []) =>
  run("bash", [join(REPO_ROOT, "scripts", "start.sh"), ...args], {
    cwd: dir,
    env: childEnv({ PATH: `${join(dir, "bin")}:${process.env["PATH"]}` }),
    timeoutMs: 10_000,
  });
const devVars = () => readFileSync(join(dir, ".dev.vars"), "utf8");

beforeEach(async () => {
  dir = await mkdtemp(join(os.tmpdir(), "ocsp-relay-start-"));
  mkdirSync(join(dir, "bin"));
  writeFileSync(join(dir, "bin", "wrangler"), '#!/bin/sh\necho "wrangler $*"\n', { mode: 0o755 });
  copyFileSync(join(REPO_ROOT, ".dev.vars.example"), join(dir, ".dev.vars.example"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("npm start", () => {
  it("first run: writes .dev.vars (only for its owner) with a random admin token, prints it, runs wrangler dev", async () => {
    const r = await start(["--port", "8790"]);
    expect(r.code).toBe(0);
    const token = /^ADMIN_TOKEN=([0-9a-f]{48})$/m.exec(devVars())?.[1];
    expect(token).toBeDefined();
    expect(r.stdout).toContain("wrote .dev.vars with a new local admin token");
    expect(r.stdout).toContain(`export ADMIN_TOKEN=${token}`);
    expect(r.stdout.trim().split("\n").at(-1)).toBe("wrangler dev --port 8790");
    expect(statSync(join(dir, ".dev.vars")).mode & 0o777).toBe(0o600);
    // The example's comments come along; only the token line differs.
    const example = readFileSync(join(dir, ".dev.vars.example"), "utf8");
    expect(devVars()).toBe(example.replace(/^ADMIN_TOKEN=.*$/m, `ADMIN_TOKEN=${token}`));
  });

  it("later runs keep the token and print it again; two first runs get different tokens", async () => {
    await start();
    const first = devVars();
    const r = await start();
    expect(devVars()).toBe(first);
    expect(r.stdout).not.toContain("wrote .dev.vars");
    expect(r.stdout).toContain(`export ADMIN_TOKEN=${/^ADMIN_TOKEN=(.*)$/m.exec(first)![1]}`);
    await rm(join(dir, ".dev.vars"));
    await start();
    expect(devVars()).not.toBe(first);
  });

  it("a .dev.vars without ADMIN_TOKEN is left alone, and says the admin API is off", async () => {
    writeFileSync(join(dir, ".dev.vars"), "STATUS_PUBLIC=true\n");
    const r = await start();
    expect(devVars()).toBe("STATUS_PUBLIC=true\n");
    expect(r.stdout).toContain(".dev.vars sets no ADMIN_TOKEN: the admin API answers 403");
  });

  it("a token on the command line (the e2e tests) writes nothing and passes every flag through", async () => {
    const args = ["--port", "1", "--var", "ADMIN_TOKEN:secret", "--var", "METRICS_SAMPLE:1"];
    const r = await start(args);
    expect(r.code).toBe(0);
    expect(existsSync(join(dir, ".dev.vars"))).toBe(false);
    expect(r.stdout.trim()).toBe(`wrangler dev ${args.join(" ")}`);
  });

  it("without .dev.vars.example (a snapshot of the worker) it writes the token alone", async () => {
    await rm(join(dir, ".dev.vars.example"));
    await start();
    expect(devVars()).toMatch(/^ADMIN_TOKEN=[0-9a-f]{48}\n$/);
  });
});
