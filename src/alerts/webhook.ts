// The alert webhook (ALERT_WEBHOOK_URL): one JSON POST per alert, bounded in time, no redirects.

import type { Alert } from "../fleet/ledger.ts";
import { durableObjectPlatform } from "../platform.ts";

export const WEBHOOK_TIMEOUT_MS = 5_000;

export function webhookSender(url: string): (alert: Alert) => Promise<void> {
  return async (alert) => {
    const response = await durableObjectPlatform().fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", "User-Agent": "ocsp-relay/0.1 alerts" },
      body: JSON.stringify({ source: "ocsp-relay", ...alert }),
      redirect: "manual",
      signal: AbortSignal.timeout(WEBHOOK_TIMEOUT_MS),
    });
    await response.body?.cancel();
    if (response.status >= 300) throw new Error(`webhook answered HTTP ${response.status}`);
  };
}
