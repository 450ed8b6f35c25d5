// Issuer identity (RFC 6960 §4.1.1): issuerNameHash and issuerKeyHash of an issuing CA for each hash
// the relay accepts, so a request's CertID can be matched to a registered issuer. Pure.

import { digest, toHex } from "./bytes.ts";
import type { CertificateFacts } from "./certificate.ts";
import { HASH_NAMES, type HashName } from "./oids.ts";

export type IssuerHashes = Record<HashName, { nameHash: string; keyHash: string }>;

export async function issuerHashes(issuer: CertificateFacts): Promise<IssuerHashes> {
  const entries = await Promise.all(
    HASH_NAMES.map(async (hash) => {
      const [name, key] = await Promise.all([
        digest(hash, issuer.subject),
        digest(hash, issuer.subjectPublicKey),
      ]);
      return [hash, { nameHash: toHex(name), keyHash: toHex(key) }] as const;
    }),
  );
  return Object.fromEntries(entries) as IssuerHashes;
}
