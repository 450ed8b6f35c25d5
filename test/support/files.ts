// Access to the generated fixtures and the third-party vectors from tests running in workerd.

import data from "virtual:fixtures";
import { fromBase64 } from "../../src/ocsp/bytes.ts";
import { parseCertificateFile, type CertificateFacts } from "../../src/ocsp/certificate.ts";

function get(tree: Record<string, string>, root: string, path: string): Uint8Array {
  const b64 = tree[path];
  if (b64 === undefined) throw new Error(`missing ${root}/${path}`);
  return fromBase64(b64)!;
}

export const vector = (path: string) => get(data.vectors, "../shared/vectors", path);
export const fixture = (path: string) => get(data.fixtures, "test/fixtures", path);
export const vectorPaths = () => Object.keys(data.vectors).sort();
export const fixturePaths = () => Object.keys(data.fixtures).sort();
export const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

export function certificate(bytes: Uint8Array): CertificateFacts {
  const cert = parseCertificateFile(bytes);
  if (!cert.ok) throw new Error(cert.error.detail);
  return cert.value;
}
