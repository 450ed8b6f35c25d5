// Certificate paths for the operator commands (RFC 5280 §6.1, simplified to what stapling needs):
// who issued whom, by name and by a signature check with the core's WebCrypto verifier, from the
// leaf up to a self-signed root; where each certificate came from; PEM out.

import { bytesEqual, toBase64 } from "../ocsp/bytes.ts";
import { serialHex, type CertificateFacts } from "../ocsp/certificate.ts";
import { loadRoots, type RootStore, type Sourced } from "./roots.ts";
import { readCertificates, UsageError } from "./args.ts";

export { issuedBy as issued } from "../ocsp/signature.ts";
import { issuedBy as issued } from "../ocsp/signature.ts";

export const isSelfSigned = (cert: CertificateFacts) => issued(cert, cert);

export type { Sourced } from "./roots.ts";

/** The first candidate that issued `cert` (pools are searched in order). */
export async function findIssuer(
  cert: CertificateFacts,
  pool: readonly Sourced[],
): Promise<Sourced | undefined> {
  for (const candidate of pool) {
    if (bytesEqual(candidate.cert.der, cert.der)) continue;
    if (await issued(cert, candidate.cert)) return candidate;
  }
  return undefined;
}

export interface CertPath {
  /** leaf, its issuer, ..., as far as issuers were found. */
  path: Sourced[];
  /** The last element is self-signed: a root. */
  complete: boolean;
}

/**
 * Walks from the leaf up until a self-signed certificate (at most 10 steps). At each step a
 * self-signed issuer among `anchors` wins, so a cross-signed copy of a root that the server also
 * sends does not lead the path away from the root the operator trusts; otherwise the issuer is
 * looked for in `intermediates`, then in `anchors`.
 */
export async function buildPath(
  leaf: Sourced,
  intermediates: readonly Sourced[],
  anchors: readonly Sourced[],
): Promise<CertPath> {
  const path = [leaf];
  const onPath = (c: Sourced) => path.some((p) => bytesEqual(p.cert.der, c.cert.der));
  for (let depth = 0; depth < 10; depth++) {
    const top = path[path.length - 1]!;
    if (depth > 0 && (await isSelfSigned(top.cert))) return { path, complete: true };
    let next: Sourced | undefined;
    for (const anchor of anchors) {
      if ((await issued(top.cert, anchor.cert)) && (await isSelfSigned(anchor.cert))) {
        next = anchor;
        break;
      }
    }
    next ??= await findIssuer(top.cert, [...intermediates, ...anchors]);
    if (!next || onPath(next)) return { path, complete: false };
    path.push(next);
  }
  return { path, complete: false };
}

let store: RootStore | undefined;

/** The roots of Node's bundled store and of the system store (roots.ts), read once per process. */
export function rootStore(): RootStore {
  store ??= loadRoots();
  return store;
}

/** Every root of rootStore(), each with where it was found ("Node's root store", "system store /etc/ssl/..."). */
export function systemRoots(): Sourced[] {
  return rootStore().roots;
}

/** The leaf of a fullchain file and its issuer, found in the same file (or a usage error). */
export async function leafAndIssuer(
  file: string,
): Promise<{ leaf: CertificateFacts; issuer: Sourced; certs: CertificateFacts[] }> {
  const certs = readCertificates(file, "chain file");
  const leaf = leafOf(certs);
  if (!leaf)
    throw new UsageError(
      `${file} holds only CA certificates: give the leaf followed by its issuer (fullchain.pem)`,
    );
  const issuer = await findIssuer(
    leaf,
    certs.map((cert) => ({ cert, source: file })),
  );
  if (!issuer)
    throw new UsageError(
      `the issuer of "${leaf.subjectText}" ("${leaf.issuerText}") is not in ${file}: use the fullchain file (leaf, then intermediates)`,
    );
  return { leaf, issuer, certs };
}

/** The first certificate that is not a CA: the leaf of a fullchain file. */
export function leafOf(certs: readonly CertificateFacts[]): CertificateFacts | undefined {
  return certs.find((c) => !c.isCA);
}

export function toPem(cert: CertificateFacts): string {
  const b64 = toBase64(cert.der).replace(/.{1,64}/g, "$&\n");
  return `-----BEGIN CERTIFICATE-----\n${b64}-----END CERTIFICATE-----\n`;
}

/** One line about a certificate: subject, serial, expiry. */
export function certLine(cert: CertificateFacts, now: Date): string {
  const left = cert.notAfter.getTime() - now.getTime();
  const expiry =
    left <= 0
      ? `EXPIRED ${cert.notAfter.toISOString()}`
      : `notAfter ${cert.notAfter.toISOString()}`;
  return `${cert.subjectText || "(empty subject)"}  serial ${serialHex(cert).toUpperCase()}  ${expiry}`;
}
