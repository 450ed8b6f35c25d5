// One e2e file's temporary directory and teardown, tied to vitest's hooks (the rest of the
// harness, in scripts/support/, is shared with the benchmark and knows nothing of vitest).

import { afterAll, afterEach } from "vitest";
import { Cleanup, removeDir, tempDir } from "../../scripts/support/cleanup.ts";

/**
 * One e2e file's files and teardown: its temporary directory is removed after the file, or kept
 * (and its path printed) when setup or a test failed. Create it in the describe block: it
 * registers the afterEach that notices a failed test and the afterAll that runs `cleanup`.
 */
export class E2eFiles {
  readonly cleanup = new Cleanup();
  private keep = false;

  constructor(
    private readonly label: string,
    relayLogs?: () => string | undefined,
  ) {
    afterEach(({ task }) => {
      if (task.result?.state === "fail" || (task.result?.errors?.length ?? 0) > 0) {
        this.keep = true;
        if (relayLogs) console.log(`${label}: "${task.name}" failed; relay logs: ${relayLogs()}`);
      }
    });
    afterAll(() => this.cleanup.run());
  }

  /** The file's temporary directory (removed, or kept after a failure, at cleanup). */
  async tempDir(prefix?: string): Promise<string> {
    const dir = await tempDir(prefix);
    this.cleanup.add("temp dir", () =>
      this.keep ? console.log(`${this.label}: logs and files kept in ${dir}`) : removeDir(dir),
    );
    return dir;
  }

  /** Setup failed: keep the files, tear down what was started, and rethrow. */
  async setupFailed(e: unknown): Promise<never> {
    this.keep = true;
    await this.cleanup.run();
    throw e;
  }
}
