// HTTP caching for OCSP answers (RFC 5019 §5 / §6.2): Last-Modified, Expires, Cache-Control with
// max-age that never runs past nextUpdate, ETag, and If-None-Match. Pure: `now` is an argument.

import type { AnswerFacts } from "../cache/record.ts";

export const OCSP_RESPONSE_TYPE = "application/ocsp-response";

export function answerHeaders(
  facts: AnswerFacts,
  now: number,
  cacheState: "HIT" | "MISS",
): Headers {
  // serveUntil is nextUpdate, or sooner for `unknown` answers.
  const maxAge = Math.max(0, Math.floor((facts.serveUntil - now) / 1000));
  return new Headers({
    "Content-Type": OCSP_RESPONSE_TYPE,
    "Last-Modified": new Date(facts.thisUpdate).toUTCString(),
    Expires: new Date(facts.nextUpdate).toUTCString(),
    "Cache-Control": `max-age=${maxAge}, public, no-transform, must-revalidate`,
    ETag: facts.etag,
    "X-Cache": cacheState,
  });
}

/** RFC 9110 §13.1.2: weak comparison, a list of tags or `*`. */
export function matchesIfNoneMatch(header: string | null, etag: string): boolean {
  if (!header) return false;
  if (header.trim() === "*") return true;
  const bare = etag.replace(/^W\//, "");
  return header.split(",").some((t) => t.trim().replace(/^W\//, "") === bare);
}
