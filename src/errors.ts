// The one error union of ocsp-relay. Every failure is a value of this type; `src/http/errors.ts`
// maps each kind to an OCSP status and HTTP response in one exhaustive switch (STYLE habit 3).

export type RelayError =
  /** The client's bytes are not an OCSP request we can read (RFC 6960 §2.3 malformedRequest). */
  | { kind: "malformed"; detail: string }
  /** A body or path above the documented size caps. Answered as malformedRequest. */
  | { kind: "tooLarge"; detail: string }
  /** The request names an issuer the relay does not serve (RFC 6960 §2.3 unauthorized). */
  | { kind: "unauthorized"; detail: string }
  /** The CA failed and nothing valid is cached (RFC 6960 §2.3 tryLater). */
  | {
      kind: "tryLater";
      detail: string;
      /** Why: the CA did not answer, its answer was rejected (with the core's reason), or the
       * safety rules across time kept it from being served, or the issuer's upstream budget for
       * unregistered certificates was spent. */
      cause?: "upstream" | "rejected" | "rule" | "budget";
      reason?: string;
    }
  /** A bug or a platform failure; never carries a stack trace to the client. */
  | { kind: "internal"; detail: string };

export type Result<T, E = RelayError> = { ok: true; value: T } | { ok: false; error: E };

export const ok = <T>(value: T): { ok: true; value: T } => ({ ok: true, value });
export const err = <E>(error: E): { ok: false; error: E } => ({ ok: false, error });
export const malformed = (detail: string) => err({ kind: "malformed" as const, detail });
