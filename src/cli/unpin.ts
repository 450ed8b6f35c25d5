// `ocsp-relay unpin`: tells a relay that a certificate is no longer served (replaced, or retired),
// through the admin API (DELETE /admin/certificates/<issuer id>/<serial>): the relay stops
// refreshing it ahead of time; it is refreshed from then on only while clients still ask for it.

import { issuerId } from "../issuers/issuer.ts";
import { serialHex } from "../ocsp/certificate.ts";
import type { ErrorJson, UnpinnedJson } from "../wire.ts";
import {
  adminToken,
  networkError,
  parse,
  parseDuration,
  relayUrl,
  say,
  UsageError,
} from "./args.ts";
import { leafAndIssuer } from "./pki.ts";

export async function unpinCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    relay: { type: "string" },
    token: { type: "string" },
    timeout: { type: "string", default: "30s" },
  });
  const relay = relayUrl(values.relay);
  const token = adminToken(values.token);
  if (positionals.length !== 1)
    throw new UsageError(
      "give one chain file: ocsp-relay unpin --relay URL --token T fullchain.pem",
    );
  const { leaf, issuer } = await leafAndIssuer(positionals[0]!);
  const url = `${relay}/admin/certificates/${await issuerId(issuer.cert)}/${serialHex(leaf)}`;
  let res: Response;
  try {
    res = await fetch(url, {
      method: "DELETE",
      headers: { Authorization: `Bearer ${token}` },
      redirect: "error",
      signal: AbortSignal.timeout(parseDuration(values.timeout!, "--timeout")),
    });
  } catch (e) {
    say(`ocsp-relay unpin: cannot reach the relay at ${relay}: ${networkError(e)}`);
    return 1;
  }
  const body = (await res.json().catch(() => undefined)) as UnpinnedJson | ErrorJson | undefined;
  if (res.ok && body && "unpinned" in body && body.unpinned) {
    say(
      `unpinned "${leaf.subjectText}" (serial ${body.serial}): the relay no longer refreshes it ahead of time`,
    );
    return 0;
  }
  const why =
    body && "error" in body
      ? `${body.error}${body.detail ? `: ${body.detail}` : ""}`
      : `HTTP ${res.status}`;
  say(`ocsp-relay unpin: ${leaf.subjectText} (serial ${serialHex(leaf)}): ${why}`);
  return 1;
}
