// Which responders refuse GET. RFC 6960 Appendix A.1 describes GET and POST, RFC 5019 §5 asks
// responders for GET, and some answer every GET with a client error while POST works. Learnt by
// fleet/upstream.ts when a GET is refused; its owners then POST at once, and try GET again after
// GET_RECHECK_MS. Pure: `now` is an argument.

/** How long a responder that refused GET is asked with POST only, before GET is tried again. */
export const GET_RECHECK_MS = 24 * 60 * 60 * 1000;

/** Responders remembered at most (the oldest learnt goes first): far above any registry's size. */
export const MAX_RESPONDERS = 1000;

/**
 * The responder a memory entry is about: the origin and path of its URL, as registered (the GET
 * form appends the request to that path). Only registered issuers' URLs are ever keys: what a
 * client sends never adds one.
 */
export function responderKey(url: string): string {
  const u = new URL(url);
  return u.origin + u.pathname;
}

/** Responders whose GET is known not to work, each until GET is tried again. */
export class ResponderMethods {
  /** Key -> when GET is tried again (epoch ms), in the order learnt. */
  private readonly postOnly = new Map<string, number>();

  constructor(
    private readonly o: { recheckMs: number; max: number } = {
      recheckMs: GET_RECHECK_MS,
      max: MAX_RESPONDERS,
    },
  ) {}

  /** True while `responder` is asked with POST only; an entry past its time is forgotten. */
  postsOnly(responder: string, now: number): boolean {
    const until = this.postOnly.get(responder);
    if (until === undefined) return false;
    if (now < until) return true;
    this.postOnly.delete(responder);
    return false;
  }

  /**
   * `responder` refused a GET at `now`: POST only until the returned time. `learnt` is false when
   * it was known already (another owner's GET, in flight at the same time, was refused first).
   */
  refusedGet(responder: string, now: number): { learnt: boolean; retryGetAt: number } {
    const known = this.postsOnly(responder, now);
    const retryGetAt = known ? this.postOnly.get(responder)! : now + this.o.recheckMs;
    if (!known) {
      if (this.postOnly.size >= this.o.max) {
        const oldest = this.postOnly.keys().next();
        if (!oldest.done) this.postOnly.delete(oldest.value);
      }
      this.postOnly.set(responder, retryGetAt);
    }
    return { learnt: !known, retryGetAt };
  }

  /** Responders asked with POST only, expired ones included until next asked about. */
  get size(): number {
    return this.postOnly.size;
  }
}

/**
 * The isolate's memory, which every certificate owner in it shares: learnt once per isolate, not
 * once per certificate. Tests give fleet/upstream.ts their own (UpstreamConfig.methods), or
 * forget this one between deployments (`forgetResponderMethods`).
 */
let isolateMethods = new ResponderMethods();

export function isolateResponderMethods(): ResponderMethods {
  return isolateMethods;
}

/** Tests only: a fresh memory, as a new isolate has. */
export function forgetResponderMethods(): void {
  isolateMethods = new ResponderMethods();
}
