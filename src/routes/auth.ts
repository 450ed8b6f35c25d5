// Who may use the admin API, the status page and the metrics: `Authorization: Bearer
// <ADMIN_TOKEN>`. Without ADMIN_TOKEN configured those answer 403 (unless STATUS_PUBLIC opens the
// status page and metrics); the OCSP endpoint and /check never need it.

import type { Context, Next } from "hono";
import { configFrom } from "../config.ts";
import type { Env } from "../env.ts";
import { jsonErrorResponse } from "../http/errors.ts";
import type { AppEnv } from "./context.ts";

export type { AppEnv } from "./context.ts";

export async function requireAdmin(c: Context<AppEnv>, next: Next) {
  const token = configFrom(c.env).adminToken;
  if (!token)
    return jsonErrorResponse({
      kind: "forbidden",
      title: "admin API disabled",
      detail: "set the ADMIN_TOKEN secret to enable it",
    });
  const given = c.req.header("Authorization")?.match(/^Bearer\s+(.+)$/i)?.[1] ?? "";
  if (!(await sameSecret(given, token))) {
    return jsonErrorResponse({
      kind: "unauthenticated",
      detail: "send Authorization: Bearer <ADMIN_TOKEN>",
    });
  }
  await next();
}

/**
 * /check is open, unless the relay's OCSP endpoint is closed with OCSP_KEYS: then it takes a fleet
 * key (or the admin token) as its bearer token, so it cannot be used to reach the CA around the
 * closed endpoint.
 */
export async function requireFleetKeyWhenClosed(c: Context<AppEnv>, next: Next) {
  const relay = c.get("relay");
  if (!relay.fleetKeys.closed) return next();
  const given = c.req.header("Authorization")?.match(/^Bearer\s+(.+)$/i)?.[1];
  const token = relay.config.adminToken;
  if (given !== undefined && (await relay.fleetKeys.accepts(given))) return next();
  if (given !== undefined && token && (await sameSecret(given, token))) return next();
  return jsonErrorResponse({
    kind: "unauthenticated",
    detail:
      "this relay is closed with OCSP_KEYS: send Authorization: Bearer <fleet key or ADMIN_TOKEN>",
  });
}

/** The admin token, unless STATUS_PUBLIC=true. */
export async function requireAdminUnlessPublic(c: Context<AppEnv>, next: Next) {
  if (configFrom(c.env).statusPublic) return next();
  return requireAdmin(c, next);
}

/** Constant-time comparison of two secrets (compares their SHA-256 digests). */
async function sameSecret(a: string, b: string): Promise<boolean> {
  const enc = new TextEncoder();
  const [da, db] = await Promise.all([
    crypto.subtle.digest("SHA-256", enc.encode(a)),
    crypto.subtle.digest("SHA-256", enc.encode(b)),
  ]);
  const x = new Uint8Array(da);
  const y = new Uint8Array(db);
  let diff = 0;
  for (let i = 0; i < x.length; i++) diff |= x[i]! ^ y[i]!;
  return diff === 0;
}
