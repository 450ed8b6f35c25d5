// The one error union of ocsp-relay, for every surface. Every failure is a value of this type;
// `src/http/errors.ts` maps each kind in one exhaustive switch per surface (STYLE habit 3): to an
// RFC 6960 error response on the OCSP endpoint, to a JSON error on the admin API, /check and the
// operator pages. Each surface is a sub-app (routes/surface.ts) that decides which; `title` is the
// JSON `error` field where a kind's default would say too little ("bad PEM", "no such issuer").

export type RelayError =
  /** The client's bytes are not a request we can read (OCSP malformedRequest; JSON 400). */
  | { kind: "malformed"; detail: string; title?: string }
  /** A body or path above the documented size caps (OCSP malformedRequest; JSON 413). */
  | { kind: "tooLarge"; detail: string }
  /**
   * The relay will not answer for this certificate (OCSP unauthorized; JSON 404 or 403, its `error`
   * naming the cause): its issuer is not registered, or is registered for CRLs only (no responder
   * to relay); the endpoint is closed with OCSP_KEYS and the request's fleet key was refused; or
   * OCSP_ACCESS=registered and the certificate was never registered (pinned).
   */
  | { kind: "unauthorized"; cause: UnauthorizedCause; detail: string }
  /** Something the request names does not exist (JSON 404). */
  | { kind: "notFound"; detail: string; title: string }
  /** No or a wrong admin token (JSON 401 with WWW-Authenticate). */
  | { kind: "unauthenticated"; detail: string }
  /** The operation is switched off here (JSON 403). */
  | { kind: "forbidden"; detail: string; title: string }
  /** A method this path does not take (JSON 405). */
  | { kind: "methodNotAllowed"; detail: string }
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

/** Why a request is `unauthorized` (RFC 6960 has one status for all four). */
export type UnauthorizedCause = "issuerNotRegistered" | "crlOnly" | "fleetKey" | "registeredOnly";

export type Result<T, E = RelayError> = { ok: true; value: T } | { ok: false; error: E };

export const ok = <T>(value: T): { ok: true; value: T } => ({ ok: true, value });
export const err = <E>(error: E): { ok: false; error: E } => ({ ok: false, error });
export const malformed = (detail: string) => err({ kind: "malformed" as const, detail });
