// Debian's Chromium driven by playwright-core, to look at the relay's /status as an operator
// would; nothing of its own on the network.

import { mkdir } from "node:fs/promises";
import { LOOPBACK } from "./loopback.ts";

export const CHROMIUM = "/usr/bin/chromium";

/**
 * Debian's Chromium, headless, through playwright-core, with a fresh profile in `userDataDir` and
 * nothing of its own on the network (no background services, no proxy); any request of a page to
 * a host other than 127.0.0.1 is aborted. Close the returned context to end the browser.
 */
export async function launchChromium(
  userDataDir: string,
): Promise<import("playwright-core").BrowserContext> {
  const { chromium } = await import("playwright-core");
  await mkdir(userDataDir, { recursive: true });
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    timeout: 30_000,
    viewport: { width: 1400, height: 900 },
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-proxy-server",
    ],
  });
  context.setDefaultTimeout(15_000);
  await context.route("**/*", (route) => {
    const url = new URL(route.request().url());
    return url.protocol === "http:" && url.hostname === LOOPBACK ? route.continue() : route.abort();
  });
  return context;
}
