// The generated fixture cases (test/fixtures/cases.json, written by scripts/fixtures/generate.sh).

import { certIdFor, decodeRequest, type CertId } from "../../src/ocsp/request.ts";
import type { RejectReason } from "../../src/ocsp/verify.ts";
import { certificate, fixture, text } from "./files.ts";

export interface FixtureCase {
  name: string;
  description: string;
  response: string;
  issuer: string;
  cert: string | null;
  request: string | null;
  at: string;
  expect:
    | {
        ok: true;
        status: "good" | "revoked" | "unknown";
        responder: "issuer" | "delegated";
        responderIdType: "byName" | "byKey";
        revocationReason?: string;
      }
    | { ok: false; reason: RejectReason };
}

export const fixtureCases = (): FixtureCase[] => JSON.parse(text(fixture("cases.json"))).cases;
export const fixtureCase = (name: string): FixtureCase => {
  const c = fixtureCases().find((x) => x.name === name);
  if (!c) throw new Error(`no fixture case ${name}`);
  return c;
};

/** The CertID a case asks about: from its request when it has one, else from its certificate. */
export async function caseCertId(c: FixtureCase): Promise<CertId> {
  if (c.request) {
    const r = decodeRequest(fixture(c.request));
    if (!r.ok) throw new Error(r.error.detail);
    return r.value.certIds[0]!;
  }
  return certIdFor(certificate(fixture(c.issuer)), certificate(fixture(c.cert!)));
}
