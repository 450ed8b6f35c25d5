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
 * closed endpoint. Either way it records whether the caller is authenticated: only such a caller's
 * certificates are watched (their revocation alerts the operator).
 */
export async function requireFleetKeyWhenClosed(c: Context<AppEnv>, next: Next) {
  const authenticated = await isAuthenticated(c);
  if (!authenticated && c.get("relay").fleetKeys.closed)
    return jsonErrorResponse({
      kind: "unauthenticated",
      detail:
        "this relay is closed with OCSP_KEYS: send Authorization: Bearer <fleet key or ADMIN_TOKEN>",
    });
  c.set("authenticated", authenticated);
  return next();
}

/**
 * A fleet key (when OCSP_KEYS is set) or the admin token, always: for what shows the relay's state
 * rather than one certificate a client holds (GET /check/<issuer>/<serial>).
 */
export async function requireFleetKeyOrAdmin(c: Context<AppEnv>, next: Next) {
  if (!(await isAuthenticated(c)))
    return jsonErrorResponse({
      kind: "unauthenticated",
      detail: c.get("relay").fleetKeys.closed
        ? "send Authorization: Bearer <fleet key or ADMIN_TOKEN>"
        : "send Authorization: Bearer <ADMIN_TOKEN>",
    });
  c.set("authenticated", true);
  return next();
}

/** The bearer token is a fleet key of a closed endpoint, or the admin token. */
async function isAuthenticated(c: Context<AppEnv>): Promise<boolean> {
  const relay = c.get("relay");
  const given = c.req.header("Authorization")?.match(/^Bearer\s+(.+)$/i)?.[1];
  if (given === undefined) return false;
  // While OCSP_KEYS is unset every key is accepted on the OCSP endpoint: none authenticates.
  if (relay.fleetKeys.closed && (await relay.fleetKeys.accepts(given))) return true;
  const token = relay.config.adminToken;
  return Boolean(token) && (await sameSecret(given, token!));
}

/** The admin token, unless STATUS_PUBLIC=true. */
export async function requireAdminUnlessPublic(c: Context<AppEnv>, next: Next) {
  if (configFrom(c.env).statusPublic) return next();
  return requireAdmin(c, next);
}

/**
 * The admin token, always: for what costs the ledger more than one pass over its rows or answers
 * with every certificate (/metrics?certificates=all, /status pages past the first ones), which
 * STATUS_PUBLIC does not open to anyone.
 */
export const requireAdminAlways = requireAdmin;

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
