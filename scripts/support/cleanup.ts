// Teardown that always runs to the end, and the temporary directories it removes.

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * Teardown in reverse order of registration. Each step runs even when an earlier one throws;
 * the first error is rethrown at the end.
 */
export class Cleanup {
  private readonly steps: { what: string; fn: () => Promise<void> | void }[] = [];

  add(what: string, fn: () => Promise<void> | void): void {
    this.steps.push({ what, fn });
  }

  async run(): Promise<void> {
    let first: unknown;
    while (this.steps.length > 0) {
      const step = this.steps.pop()!;
      try {
        await step.fn();
      } catch (e) {
        first ??= new Error(`cleanup "${step.what}" failed: ${e instanceof Error ? e.message : e}`);
      }
    }
    if (first) throw first;
  }
}

/** A fresh directory under the OS temp dir. */
export async function tempDir(prefix = "ocsp-relay-e2e-"): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

export const removeDir = (dir: string) => rm(dir, { recursive: true, force: true });
