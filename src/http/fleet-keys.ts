// Fleet keys (OCSP_KEYS): shared secrets that the fleet's servers put in the responder URL
// (`/k/<key>/`), since nginx, Apache, HAProxy and openssl cannot add a header to an OCSP request.
// Compared in constant time through their SHA-256 digests; never logged.

export class FleetKeys {
  private digests: Promise<ArrayBuffer[]> | undefined;

  /** `keys` undefined: the endpoint is open (a /k/<anything>/ prefix is accepted and ignored). */
  constructor(private readonly keys: readonly string[] | undefined) {}

  get closed(): boolean {
    return this.keys !== undefined;
  }

  /** Whether a request under `/k/<given>/` (or none: undefined) may use the OCSP endpoint. */
  async accepts(given: string | undefined): Promise<boolean> {
    if (!this.keys) return true;
    if (given === undefined || given.length > 256) return false;
    this.digests ??= Promise.all(this.keys.map(sha256));
    const [want, got] = await Promise.all([this.digests, sha256(given)]);
    let match = false;
    for (const d of want) match = crypto.subtle.timingSafeEqual(d, got) || match;
    return match;
  }
}

function sha256(text: string): Promise<ArrayBuffer> {
  return crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
}

/** A path with its fleet key replaced, for logs: `/k/<key>/…` → `/k/…/…`. */
export function redactFleetKey(path: string): string {
  return path.replace(/^\/k\/[^/]*/, "/k/…");
}
