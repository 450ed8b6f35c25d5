// Reading a request or response body with a size cap, without reading past it.

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
