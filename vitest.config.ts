import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
import { fixturesPlugin } from "./test/fixtures.plugin.ts";

export default defineConfig({
  test: {
    projects: [
      {
        // The worker and the protocol core inside workerd, with KV, Durable Objects and WebCrypto
        // as Workers have them.
        plugins: [
          fixturesPlugin(import.meta.dirname),
          cloudflareTest({ wrangler: { configPath: "./wrangler.toml" } }),
        ],
        test: {
          name: "workerd",
          include: ["test/unit/**/*.test.ts", "test/integration/**/*.test.ts"],
          testTimeout: 20_000,
        },
      },
      {
        // Plain Node: the benchmark's own modules (parsers, configs, report), no worker involved.
        test: {
          name: "node",
          include: ["test/node/**/*.test.ts"],
          environment: "node",
        },
      },
      {
        // Real peers over loopback: openssl ocsp, curl, nginx, the relay under wrangler dev.
        test: {
          name: "e2e",
          include: ["test/e2e/**/*.test.ts"],
          environment: "node",
          fileParallelism: false,
          testTimeout: 180_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
