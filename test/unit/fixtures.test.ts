// The protocol core's verdict on every generated fixture case (scripts/fixtures/generate.sh).

import { describe, expect, it } from "vitest";
import { certIdFor } from "../../src/ocsp/request.ts";
import { verifyResponse } from "../../src/ocsp/verify.ts";
import { caseCertId, fixtureCases } from "../support/cases.ts";
import { certificate, fixture } from "../support/files.ts";

describe("generated fixture cases", () => {
  const cases = fixtureCases();

  it("cover valid and forged answers", () => {
    expect(cases.filter((c) => c.expect.ok).length).toBeGreaterThanOrEqual(12);
    expect(cases.filter((c) => !c.expect.ok).length).toBeGreaterThanOrEqual(20);
  });

  it.each(cases.map((c) => [c.name, c.description, c] as const))("%s: %s", async (_, __, c) => {
    const verdict = await verifyResponse({
      response: fixture(c.response),
      issuer: certificate(fixture(c.issuer)),
      certId: await caseCertId(c),
      now: new Date(c.at),
    });
    if (c.expect.ok) {
      expect(verdict).toMatchObject({
        ok: true,
        certStatus: { status: c.expect.status },
        responder: c.expect.responder,
        responderIdType: c.expect.responderIdType,
      });
      if (c.expect.revocationReason) {
        expect(verdict).toMatchObject({
          certStatus: { revocationReason: c.expect.revocationReason },
        });
      }
    } else {
      expect(verdict).toMatchObject({ ok: false, reason: c.expect.reason });
    }
  });

  it("a CertID built from the certificate matches the one openssl put in its request", async () => {
    for (const c of cases.filter((x) => x.cert && x.request && x.expect.ok)) {
      const fromRequest = await caseCertId(c);
      const fromCert = await certIdFor(
        certificate(fixture(c.issuer)),
        certificate(fixture(c.cert!)),
        fromRequest.hashName!,
      );
      expect(fromCert, c.name).toEqual(fromRequest);
    }
  });
});
