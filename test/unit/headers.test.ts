// What HTTP caches and OCSP clients see around an answer (RFC 5019 §6.2, RFC 9110 §13.1.2) and
// around an error (RFC 6960 §2.3 statuses, mapped in one place by src/http/errors.ts).

import { describe, expect, it } from "vitest";
import type { AnswerFacts } from "../../src/cache/record.ts";
import type { RelayError } from "../../src/errors.ts";
import { ocspErrorResponse } from "../../src/http/errors.ts";
import {
  answerHeaders,
  matchesIfNoneMatch,
  OCSP_RESPONSE_TYPE,
} from "../../src/http/ocsp-headers.ts";
import { toHex, u8 } from "../../src/ocsp/bytes.ts";
import { decodeResponse } from "../../src/ocsp/response.ts";

const THIS_UPDATE = Date.parse("2026-11-28T15:41:00Z");
const NEXT_UPDATE = Date.parse("2026-12-05T15:41:00Z");
const ETAG = '"0123456789abcdef0123456789abcdef"';

const facts: AnswerFacts = {
  certIdKey: "SHA-1:aa:bb:1001",
  issuerId: "rsa-ca",
  status: "good",
  thisUpdate: THIS_UPDATE,
  nextUpdate: NEXT_UPDATE,
  producedAt: THIS_UPDATE,
  fetchedAt: THIS_UPDATE + 1_000,
  serveUntil: NEXT_UPDATE,
  etag: ETAG,
};

const maxAgeOf = (h: Headers) => {
  const m = /(?:^|,\s*)max-age=(\d+)(?:,|$)/.exec(h.get("Cache-Control") ?? "");
  return m ? Number(m[1]) : undefined;
};

describe("answerHeaders", () => {
  it.each([
    ["an hour after thisUpdate", 7 * 86_400 - 3_600, THIS_UPDATE + 3_600_000],
    ["at thisUpdate", 7 * 86_400, THIS_UPDATE],
    ["1.999 s before nextUpdate (whole seconds, rounded down)", 1, NEXT_UPDATE - 1_999],
    ["0.5 s before nextUpdate", 0, NEXT_UPDATE - 500],
    ["exactly at nextUpdate", 0, NEXT_UPDATE],
    ["an hour after nextUpdate (never negative)", 0, NEXT_UPDATE + 3_600_000],
  ])("%s: max-age=%i", (_, maxAge, now) => {
    const h = answerHeaders(facts, now, "HIT");
    expect(maxAgeOf(h)).toBe(maxAge);
    // A cache honouring max-age never serves the answer past its nextUpdate.
    expect(now + maxAgeOf(h)! * 1000).toBeLessThanOrEqual(Math.max(now, NEXT_UPDATE));
  });

  it("an `unknown` answer served for a short while counts max-age to serveUntil, not nextUpdate", () => {
    const fetchedAt = THIS_UPDATE + 60_000;
    const unknown: AnswerFacts = {
      ...facts,
      status: "unknown",
      fetchedAt,
      serveUntil: fetchedAt + 5 * 60_000,
    };
    expect(maxAgeOf(answerHeaders(unknown, fetchedAt, "MISS"))).toBe(300);
    expect(maxAgeOf(answerHeaders(unknown, fetchedAt + 299_001, "HIT"))).toBe(0);
    expect(maxAgeOf(answerHeaders(unknown, fetchedAt + 3_600_000, "HIT"))).toBe(0);
  });

  it("says what the answer is and when it was made and runs out (RFC 5019 §6.2)", () => {
    const h = answerHeaders(facts, THIS_UPDATE + 60_000, "MISS");
    expect(h.get("Content-Type")).toBe(OCSP_RESPONSE_TYPE);
    expect(h.get("Content-Type")).toBe("application/ocsp-response");
    expect(h.get("Last-Modified")).toBe("Sat, 28 Nov 2026 15:41:00 GMT");
    expect(h.get("Expires")).toBe("Sat, 05 Dec 2026 15:41:00 GMT");
    expect(h.get("ETag")).toBe(ETAG);
    expect(h.get("X-Cache")).toBe("MISS");
    expect(h.get("Cache-Control")).toBe(
      `max-age=${7 * 86_400 - 60}, public, no-transform, must-revalidate`,
    );
  });

  it.each(["HIT", "MISS"] as const)("X-Cache: %s", (state) => {
    expect(answerHeaders(facts, THIS_UPDATE, state).get("X-Cache")).toBe(state);
  });

  it("Last-Modified and Expires are IMF-fixdate HTTP dates, to the second", () => {
    const odd = { ...facts, thisUpdate: THIS_UPDATE + 999, nextUpdate: NEXT_UPDATE + 1 };
    const h = answerHeaders(odd, THIS_UPDATE, "HIT");
    const imfFixdate =
      /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/;
    expect(h.get("Last-Modified")).toMatch(imfFixdate);
    expect(h.get("Expires")).toMatch(imfFixdate);
    expect(Date.parse(h.get("Last-Modified")!)).toBe(THIS_UPDATE);
    expect(Date.parse(h.get("Expires")!)).toBe(NEXT_UPDATE);
  });
});

describe("matchesIfNoneMatch (weak comparison, RFC 9110 §13.1.2)", () => {
  it.each([
    ["the same tag", ETAG, true],
    ["the same tag with spaces around it", `  ${ETAG}  `, true],
    ["the tag in a list", `"other", ${ETAG}, "third"`, true],
    ["the tag last in a list without spaces", `"other",${ETAG}`, true],
    ["*", "*", true],
    ["* with spaces", " * ", true],
    ["the weak form W/ of the tag", `W/${ETAG}`, true],
    ["the weak form in a list", `"other", W/${ETAG}`, true],
    ["another tag", '"ffffffffffffffffffffffffffffffff"', false],
    ["a list of other tags", '"a", "b", W/"c"', false],
    ["the tag without its quotes", ETAG.slice(1, -1), false],
    ["a prefix of the tag", ETAG.slice(0, 10) + '"', false],
    ["an empty header", "", false],
    ["no header", null, false],
  ] as const)("%s → %s", (_, header, match) => {
    expect(matchesIfNoneMatch(header, ETAG)).toBe(match);
  });

  it("a weak stored ETag matches its strong form too", () => {
    expect(matchesIfNoneMatch(ETAG, `W/${ETAG}`)).toBe(true);
  });
});

describe("ocspErrorResponse: one mapping from RelayError to what the client sees", () => {
  const SECRET = "stack trace at handler (src/secret.ts:42)";
  it.each([
    ["malformed", 400, 1, "malformedRequest"],
    ["tooLarge", 413, 1, "malformedRequest"],
    ["unauthorized", 200, 6, "unauthorized"],
    ["tryLater", 200, 3, "tryLater"],
    ["internal", 200, 2, "internalError"],
  ] as const)("%s → HTTP %i, OCSP status %i (%s)", async (kind, http, code, status) => {
    const error = { kind, detail: SECRET } as RelayError;
    const res = ocspErrorResponse(error);
    expect(res.status).toBe(http);
    expect(res.headers.get("Content-Type")).toBe("application/ocsp-response");
    const cacheControl = res.headers.get("Cache-Control") ?? "";
    expect(cacheControl).toContain("no-cache");
    expect(cacheControl).toContain("no-store");
    expect(cacheControl).not.toContain("public");
    expect(res.headers.get("X-OCSP-Relay-Error")).toBe(kind);

    const body = u8(await res.arrayBuffer());
    expect(toHex(body)).toBe(`30030a010${code}`);
    expect(decodeResponse(body)).toEqual({ ok: true, value: { status } });

    // The detail is for logs only: it is in neither the body nor a header.
    for (const [, value] of res.headers) expect(value).not.toContain("secret");
    expect(new TextDecoder().decode(body)).not.toContain("secret");
  });
});
