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

/**
 * The same headers for the hot path, prepared once per answer: only max-age changes, once a
 * second, and the list is rebuilt then (Response copies it, so one list serves many responses).
 */
export class PreparedHeaders {
  private second = -1;
  private list: [string, string][] = [];
  private readonly lastModified: string;
  private readonly expires: string;

  constructor(private readonly facts: AnswerFacts) {
    this.lastModified = new Date(facts.thisUpdate).toUTCString();
    this.expires = new Date(facts.nextUpdate).toUTCString();
  }

  /** The headers of a cache hit at `now` (answerHeaders(facts, now, "HIT"), max-age ≤ 1 s less). */
  at(now: number): [string, string][] {
    const second = Math.floor(now / 1000);
    if (second !== this.second) {
      this.second = second;
      // Counted from the end of this second, so no response of this second runs past serveUntil.
      const maxAge = Math.max(0, Math.floor((this.facts.serveUntil - (second + 1) * 1000) / 1000));
      this.list = [
        ["Content-Type", OCSP_RESPONSE_TYPE],
        ["Last-Modified", this.lastModified],
        ["Expires", this.expires],
        ["Cache-Control", `max-age=${maxAge}, public, no-transform, must-revalidate`],
        ["ETag", this.facts.etag],
        ["X-Cache", "HIT"],
      ];
    }
    return this.list;
  }
}

/** RFC 9110 §13.1.2: weak comparison, a list of tags or `*`. */
export function matchesIfNoneMatch(header: string | null, etag: string): boolean {
  if (!header) return false;
  if (header.trim() === "*") return true;
  const bare = etag.replace(/^W\//, "");
  return header.split(",").some((t) => t.trim().replace(/^W\//, "") === bare);
}
