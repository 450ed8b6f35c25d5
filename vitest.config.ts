import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
import { fixturesPlugin } from "./test/fixtures.plugin.ts";

export default defineConfig({
  plugins: [
    fixturesPlugin(import.meta.dirname),
    cloudflareTest({ wrangler: { configPath: "./wrangler.toml" } }),
  ],
  test: {
    include: ["test/unit/**/*.test.ts", "test/integration/**/*.test.ts"],
    testTimeout: 20_000,
  },
});
