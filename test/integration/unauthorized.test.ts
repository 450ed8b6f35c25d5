// `unauthorized` has four causes (src/errors.ts): an issuer nobody registered, an issuer registered
// for CRLs only, a refused fleet key, and OCSP_ACCESS=registered for a certificate nobody pinned.
// RFC 6960 has one status for all of them; the relay names the cause in X-OCSP-Relay-Cause, so an
// operator can tell them apart with curl -i, and the CA hears of none of them.

import { beforeAll, describe, expect, it } from "vitest";
import type { UnauthorizedCause } from "../../src/errors.ts";
import { encodeRequest } from "../../src/ocsp/request.ts";
import { fixtureCase } from "../support/cases.ts";
import { fixture } from "../support/files.ts";
import {
  certIdOf,
  Deployment,
  expectOcspError,
  freshDeploymentPerTest,
  ocspReply,
  servingClock,
  type Isolate,
} from "./support.ts";

const good = fixtureCase("rsa-direct-good");
let clock: number;
let request: Uint8Array;

beforeAll(async () => {
  clock = await servingClock(good);
  request = encodeRequest(await certIdOf(good.issuer, good.cert!));
});
freshDeploymentPerTest();

const KEY = "fleet-key-0123456789abcdef";

const cases: [string, UnauthorizedCause, (d: Deployment) => Promise<Isolate>][] = [
  ["an issuer nobody registered", "issuerNotRegistered", async (d) => d.isolate()],
  [
    "an issuer registered for CRLs only",
    "crlOnly",
    async (d) => {
      const relay = d.isolate();
      await relay.registered([good.issuer], "?crl=http://crl.ca.example/ca.crl");
      return relay;
    },
  ],
  [
    "no fleet key on an endpoint closed with OCSP_KEYS",
    "fleetKey",
    async (d) => {
      const relay = d.isolate({ OCSP_KEYS: KEY });
      await relay.registered([good.issuer]);
      return relay;
    },
  ],
  [
    "a certificate nobody pinned under OCSP_ACCESS=registered",
    "registeredOnly",
    async (d) => {
      const relay = d.isolate({ OCSP_ACCESS: "registered" });
      await relay.registered([good.issuer]);
      return relay;
    },
  ],
];

describe("the OCSP endpoint names the cause of each unauthorized", () => {
  it.each(cases)("%s: %s", async (_, cause, setUp) => {
    const d = new Deployment(clock, ocspReply(fixture(good.response)));
    const relay = await setUp(d);
    const res = await relay.get(request);
    expect(res.headers.get("X-OCSP-Relay-Error")).toBe("unauthorized");
    expect(res.headers.get("X-OCSP-Relay-Cause")).toBe(cause);
    await expectOcspError(res, 200, "unauthorized");
    expect(d.calls).toHaveLength(0);
  });
});
