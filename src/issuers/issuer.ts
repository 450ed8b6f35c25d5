// A registered issuing CA: what the admin API stores, and how a request's CertID finds it
// (RFC 6960 §4.1.1 issuerNameHash / issuerKeyHash, under each accepted hash). Pure.

import { bytesEqual, toBase64, toHex, digest, fromBase64 } from "../ocsp/bytes.ts";
import { issuedBy } from "../ocsp/signature.ts";
import { parseCertificate, type CertificateFacts } from "../ocsp/certificate.ts";
import { issuerHashes, type IssuerHashes } from "../ocsp/issuer.ts";
import type { CertId } from "../ocsp/request.ts";
import { HASH_NAMES } from "../ocsp/oids.ts";

export interface IssuerRecord {
  /** First 16 hex digits of SHA-256(subject DER ‖ SubjectPublicKeyInfo DER). */
  id: string;
  subject: string;
  /** The only OCSP responder the relay asks for this issuer; absent: registered for CRLs only. */
  responderUrl?: string;
  /** The CRLs the relay may fetch for this issuer (RFC 5280 §5), when registered with one. */
  crlUrls?: string[];
  /** The CA certificate, DER in base64. */
  certificate: string;
  hashes: IssuerHashes;
  notAfter: string;
  createdAt: string;
}

export async function issuerId(cert: CertificateFacts): Promise<string> {
  const joined = new Uint8Array(cert.subject.length + cert.spki.length);
  joined.set(cert.subject);
  joined.set(cert.spki, cert.subject.length);
  return toHex(await digest("SHA-256", joined)).slice(0, 16);
}

export async function makeIssuerRecord(
  cert: CertificateFacts,
  urls: { responderUrl?: string | undefined; crlUrls?: string[] | undefined },
  now: Date,
): Promise<IssuerRecord> {
  return {
    id: await issuerId(cert),
    subject: cert.subjectText,
    ...(urls.responderUrl ? { responderUrl: urls.responderUrl } : {}),
    ...(urls.crlUrls?.length ? { crlUrls: urls.crlUrls } : {}),
    certificate: toBase64(cert.der),
    hashes: await issuerHashes(cert),
    notAfter: cert.notAfter.toISOString(),
    createdAt: now.toISOString(),
  };
}

/** The issuers, indexed for the lookup every OCSP request makes. */
export class IssuerIndex {
  readonly records: readonly IssuerRecord[];
  private readonly byHashes = new Map<string, IssuerRecord>();
  private readonly byId = new Map<string, IssuerRecord>();
  private readonly certs = new Map<string, CertificateFacts>();

  constructor(records: readonly IssuerRecord[]) {
    this.records = records;
    for (const r of records) {
      this.byId.set(r.id, r);
      for (const hash of HASH_NAMES) {
        const h = r.hashes[hash];
        if (h) this.byHashes.set(`${hash}:${h.nameHash}:${h.keyHash}`, r);
      }
    }
  }

  /** The registered issuer a CertID names, by both hashes under its hash algorithm. */
  find(certId: CertId): IssuerRecord | undefined {
    if (!certId.hashName) return undefined;
    return this.byHashes.get(
      `${certId.hashName}:${toHex(certId.issuerNameHash)}:${toHex(certId.issuerKeyHash)}`,
    );
  }

  get(id: string): IssuerRecord | undefined {
    return this.byId.get(id);
  }

  /** The parsed CA certificate of a record (parsed once per index). */
  certificate(record: IssuerRecord): CertificateFacts {
    let cert = this.certs.get(record.id);
    if (!cert) {
      const parsed = parseCertificate(fromBase64(record.certificate) ?? new Uint8Array());
      if (!parsed.ok)
        throw new Error(`stored issuer ${record.id} is unreadable: ${parsed.error.detail}`);
      cert = parsed.value;
      this.certs.set(record.id, cert);
    }
    return cert;
  }
}

/** The registered issuer that issued `leaf`: same name, and its key verifies the leaf's signature. */
export async function findIssuerOf(leaf: CertificateFacts, index: IssuerIndex) {
  for (const record of index.records) {
    const cert = index.certificate(record);
    if (await issuedBy(leaf, cert)) return { record, cert };
  }
  return undefined;
}
