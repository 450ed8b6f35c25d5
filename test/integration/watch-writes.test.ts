// Found by the review of b2f782f, as a fleet-key holder: every authenticated POST /check sends a
// touch with `watch` and the `leaf`, and each wrote the owner's storage: per request, not per hour.
// Now a touch within the hour writes only what is new (a first watch, a changed leaf).

import { beforeAll, describe, expect, it } from "vitest";
import { ops } from "../../src/instrumentation.ts";
import { certIdFor, encodeRequest, type CertId } from "../../src/ocsp/request.ts";
import { forgeLeaf, type ForgedLeaf } from "../support/crl-forge.ts";
import { certificate, fixture } from "../support/files.ts";
import { askedCertId, forgeOcspGood } from "../support/ocsp-forge.ts";
import { at, Deployment, freshDeploymentPerTest, HOUR, RESPONDER } from "./support.ts";

const CA = "crls/pki/crl-ca.pem";
const CLOCK = at("2026-12-10T12:00:00Z");
const FLEET_KEY = "fleet-key-0123456789";

let leaf: ForgedLeaf;
let certId: CertId;
beforeAll(async () => {
  leaf = await forgeLeaf({
    serial: "5eed02",
    crlUrls: ["http://crl.ca.example/ca.crl"],
    ocspUrls: [RESPONDER],
    notBefore: new Date(CLOCK - 24 * HOUR),
    notAfter: new Date(CLOCK + 90 * 24 * HOUR),
    subjectCn: "watched.example.net",
  });
  certId = await certIdFor(certificate(fixture(CA)), certificate(leaf.der), "SHA-1");
}, 30_000);
freshDeploymentPerTest();

describe("authenticated POST /check", () => {
  it("20 requests within a minute: the watch written once with a fleet key, nothing anonymous", async () => {
    const d = new Deployment(CLOCK);
    d.reply = async (call) =>
      new Response(
        (
          await forgeOcspGood(
            askedCertId(call, RESPONDER),
            new Date(d.clock - HOUR),
            new Date(d.clock + 72 * HOUR),
          )
        ).slice(),
        { headers: { "Content-Type": "application/ocsp-response" } },
      );
    await d.isolate().registered([CA], `?responder=${RESPONDER}`);
    const relay = d.isolate({ OCSP_KEYS: FLEET_KEY });
    const first = await relay.request(`/k/${FLEET_KEY}/`, {
      method: "POST",
      headers: { "Content-Type": "application/ocsp-request" },
      body: encodeRequest(certId).slice(),
    });
    expect(first.status).toBe(200);

    const check = (headers: HeadersInit) =>
      relay.request("/check", { method: "POST", headers, body: leaf.pem });
    let before = ops.ownerWrites;
    for (let i = 0; i < 20; i++) {
      d.advance(1000);
      expect((await check({ Authorization: `Bearer ${FLEET_KEY}` })).status).toBe(200);
    }
    const keyed = ops.ownerWrites - before;

    const open = d.isolate(); // OCSP_KEYS unset: /check is anonymous
    before = ops.ownerWrites;
    for (let i = 0; i < 20; i++) {
      d.advance(1000);
      expect((await open.request("/check", { method: "POST", body: leaf.pem })).status).toBe(200);
    }
    const anonymous = ops.ownerWrites - before;
    // The first keyed /check records the watch (the state, and the alarm if none): 2 rows at most.
    expect({ keyed, anonymous }).toEqual({ keyed: expect.any(Number), anonymous: 0 });
    expect(keyed).toBeLessThanOrEqual(2);
  });
});
