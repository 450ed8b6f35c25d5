// Reading a request or response body with a size cap, without reading past it; and the PEM
// certificates a route takes as its body (the admin API, /check).

import { err, ok, type RelayError, type Result } from "../errors.ts";
import { parsePemCertificates, type CertificateFacts } from "../ocsp/certificate.ts";

export type BodyRead =
  { ok: true; value: Uint8Array } | { ok: false; tooLarge: boolean; detail: string };

export async function readCapped(message: Request | Response, cap: number): Promise<BodyRead> {
  const declared = Number(message.headers.get("Content-Length") ?? NaN);
  if (declared > cap) {
    await message.body?.cancel();
    return { ok: false, tooLarge: true, detail: `${declared} bytes exceeds the ${cap}-byte cap` };
  }
  if (!message.body) return { ok: false, tooLarge: false, detail: "empty body" };
  const reader = message.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.length;
      if (size > cap) {
        await reader.cancel();
        return { ok: false, tooLarge: true, detail: `more than the ${cap}-byte cap` };
      }
      chunks.push(value);
    }
  } catch (e) {
    return {
      ok: false,
      tooLarge: false,
      detail: `reading failed: ${e instanceof Error ? e.message : e}`,
    };
  }
  if (size === 0) return { ok: false, tooLarge: false, detail: "empty body" };
  const out = new Uint8Array(size);
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.length;
  }
  return { ok: true, value: out };
}

/**
 * The certificates of a PEM body of at most `cap` bytes, else the error to send: `tooLarge` (its
 * detail after `hint.tooLarge`, when given), `empty body` (detail `hint.empty`: what to send), or
 * `bad PEM`.
 */
export async function readPemCertificates(
  request: Request,
  cap: number,
  hint: { empty: string; tooLarge?: string },
): Promise<Result<CertificateFacts[], RelayError>> {
  const body = await readCapped(request, cap);
  if (!body.ok)
    return err(
      body.tooLarge
        ? {
            kind: "tooLarge",
            detail: hint.tooLarge ? `${hint.tooLarge}: ${body.detail}` : body.detail,
          }
        : { kind: "malformed", title: "empty body", detail: hint.empty },
    );
  const certs = parsePemCertificates(new TextDecoder().decode(body.value));
  if (!certs.ok) return err({ kind: "malformed", title: "bad PEM", detail: certs.error.detail });
  return ok(certs.value);
}
