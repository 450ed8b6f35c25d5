// Where a certificate's revocation status comes from, one rule for every path (the OCSP endpoint,
// pins, both forms of /check, the CRL owners' watch lists and their alerts): its issuer's OCSP
// responder, or the issuer's registered CRLs. A CRL speaks for a certificate only if the
// certificate names it (its CRL distribution point, RFC 5280 §4.2.1.13) or the CRL declares itself
// complete for its issuer (no distribution point in an issuingDistributionPoint, §5.2.5); a
// serial listed in any verified CRL of its issuer is revoked (the issuer signed that). Otherwise
// the status is unknown, and the reason says why. Pure.

import type { IssuerRecord } from "./issuer.ts";

/** What is known of the certificate: all of it (a PEM was sent) or only its serial. */
export interface CertificateNames {
  ocspUrls: readonly string[];
  /** Its CRL distribution points (any scheme; only http(s) ones can be registered). */
  crlUrls: readonly string[];
}

export type RevocationSource =
  | { kind: "ocsp" }
  /**
   * `consult`: the registered CRLs to look in. `named`: those the certificate names (each speaks
   * for it); the others speak only if they turn out complete.
   */
  | { kind: "crl"; consult: string[]; named: string[] }
  | { kind: "none"; problem: string };

/**
 * Whether an OCSP request (a CertID: nothing else is known of the certificate) is relayed to the
 * issuer's responder. The relay never invents an OCSP answer: an issuer registered for CRLs only has
 * none to relay. The same rule as revocationSource's for a certificate known by its serial alone,
 * without an allocation (the hot path asks it on every hit).
 */
export function relaysOcsp(issuer: Pick<IssuerRecord, "responderUrl"> | undefined): boolean {
  return Boolean(issuer?.responderUrl);
}

/**
 * The source for a certificate of `issuer` (`leaf` undefined: only its serial is known). OCSP when
 * the issuer has a responder and the certificate names one (unless `prefer` is "crl"); otherwise
 * its issuer's registered CRLs: those it names, or else all of them (only a complete one may then
 * call it good).
 */
export function revocationSource(
  issuer: Pick<IssuerRecord, "responderUrl" | "crlUrls">,
  leaf: CertificateNames | undefined,
  prefer?: "crl",
): RevocationSource {
  const registered = issuer.crlUrls ?? [];
  const ocsp = relaysOcsp(issuer);
  const wantsCrl = prefer === "crl" || !ocsp || leaf?.ocspUrls.length === 0;
  if (!wantsCrl || (registered.length === 0 && ocsp && prefer !== "crl")) return { kind: "ocsp" };
  if (registered.length === 0) {
    const own = leaf ? httpCrlUrls(leaf)[0] : undefined;
    return {
      kind: "none",
      problem: `no CRL is registered for this issuer${own ? ` (the certificate names ${own})` : ""}: register the leaf followed by its issuer (POST /admin/issuers), or the issuer with ?crl=URL`,
    };
  }
  const named = leaf ? httpCrlUrls(leaf).filter((u) => registered.includes(u)) : [];
  return { kind: "crl", consult: named.length > 0 ? named : [...registered], named };
}

/** The http(s) CRL distribution points of a certificate (ldap and others are never fetched). */
export function httpCrlUrls(leaf: Pick<CertificateNames, "crlUrls">): string[] {
  return leaf.crlUrls.filter((u) => /^https?:\/\//i.test(u));
}

/** What one consulted CRL said. */
export interface CrlReading {
  url: string;
  /** A verified CRL is held and still current (before its nextUpdate). */
  current: boolean;
  /** The CRL declares itself complete for its issuer (no IDP distribution point). */
  complete: boolean;
  /** The serial is listed in it (revoked). */
  listed: boolean;
  /** The CRL's owner pins or watches this serial, which it does only for certificates it speaks for. */
  watches: boolean;
}

export type CrlVerdict<R extends CrlReading> =
  | { status: "revoked" | "good"; by: R }
  | { status: "unknown"; problem: string; shown: R | undefined };

/**
 * The status that the consulted CRLs give a certificate. `named`: the http(s) CRLs the certificate
 * names (undefined: only its serial is known; a CRL then speaks for it if it is complete or pins or
 * watches the serial, which it does only for certificates it speaks for).
 */
export function crlVerdict<R extends CrlReading>(
  readings: readonly R[],
  named: readonly string[] | undefined,
  why: { fetchProblem?: string } = {},
): CrlVerdict<R> {
  const current = readings.filter((r) => r.current);
  const listed = current.find((r) => r.listed);
  if (listed) return { status: "revoked", by: listed };
  const speaks = (r: R) => r.complete || (named ? named.includes(r.url) : r.watches);
  const speaking = current.find(speaks);
  if (speaking) return { status: "good", by: speaking };
  const shown = current[0] ?? readings[0];
  const own = named?.find((u) => !readings.some((r) => r.url === u));
  const problems = [
    ...(own
      ? [
          `the certificate's CRL ${own} is not one registered for its issuer (register it: POST /admin/issuers?crl=URL)`,
        ]
      : []),
    current.length === 0
      ? (why.fetchProblem ?? "no current CRL is held for this certificate")
      : named
        ? `not listed in ${current.length} current CRL(s) of the issuer's ${readings.length} CRLs, and none declares itself complete (a partitioned CRL covers only the certificates that name it)`
        : `not listed in ${current.length} current CRL(s) of the issuer's ${readings.length} CRLs, which cover only the certificates that name them: POST the certificate to /check so that its own CRL is used`,
  ];
  return { status: "unknown", shown, problem: problems.join("; ") };
}
