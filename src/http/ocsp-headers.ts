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

/** The hot path rebuilds an answer's headers at most this often, and at least once a minute. */
const HEADERS_REUSE_FRACTION = 0.01;
const HEADERS_REUSE_MIN_MS = 1000;
const HEADERS_REUSE_MAX_MS = 60_000;

/**
 * The same headers for the hot path, prepared once per answer. Only max-age changes with time; the
 * Headers object is rebuilt when its max-age is due to change, and reused until then for at most
 * 1 % of the answer's remaining life (between 1 s and 60 s), with max-age counted from the end of
 * that reuse period so that no response runs past serveUntil. max-age is thus up to 1 % (+1 s)
 * shorter than the full path's, and an answer asked for a few times a second (10 000 certificates
 * at fleet rates) is not rebuilt on every hit.
 *
 * `new Response(body, { headers })` copies a Headers object inside the runtime, so one object
 * serves many responses, much more cheaply than a list of pairs or a record, whose every string
 * crosses into the runtime on each response (measured on workerd: a list of the six pairs costs a
 * hit ~35 % more CPU; see the README's Performance section).
 */
export class PreparedHeaders {
  private validUntil = -Infinity;
  private headers = new Headers();

  constructor(private readonly facts: AnswerFacts) {}

  /**
   * The headers of a cache hit at `now`: answerHeaders built for the end of the reuse period, so
   * max-age is at most 1 % + 1 s shorter than at `now`. Shared: pass it to a Response (which
   * copies it), never change it.
   */
  at(now: number): Headers {
    if (now < this.validUntil) return this.headers;
    const remaining = this.facts.serveUntil - now;
    const reuse = Math.min(
      HEADERS_REUSE_MAX_MS,
      Math.max(HEADERS_REUSE_MIN_MS, Math.floor(remaining * HEADERS_REUSE_FRACTION)),
    );
    this.validUntil = now + reuse;
    this.headers = answerHeaders(this.facts, this.validUntil, "HIT");
    return this.headers;
  }
}

/** RFC 9110 §13.1.2: weak comparison, a list of tags or `*`. */
export function matchesIfNoneMatch(header: string | null, etag: string): boolean {
  if (!header) return false;
  if (header.trim() === "*") return true;
  const bare = etag.replace(/^W\//, "");
  return header.split(",").some((t) => t.trim().replace(/^W\//, "") === bare);
}
