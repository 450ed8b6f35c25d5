// Certificates end (issue 18): the operator unpins a certificate (DELETE /admin/certificates/<issuer
// id>/<serial>), or pins a server's renewed certificate with ?replaces=<serial> of the one it
// replaces; an unpinned certificate is refreshed from then on only while clients ask for it. Through
// the real worker in workerd, the CA mocked at the fetch boundary.

import { env } from "cloudflare:workers";
import { runInDurableObject } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import type { OwnerState, StoredOwner } from "../../src/fleet/owner.ts";
import { certIdKey } from "../../src/ocsp/request.ts";
import { fixtureCase } from "../support/cases.ts";
import { fixture, text } from "../support/files.ts";
import {
  ADMIN_TOKEN,
  certIdOf,
  Deployment,
  freshDeploymentPerTest,
  ocspReply,
  servingClock,
  type Isolate,
} from "./support.ts";

const good = fixtureCase("rsa-direct-good"); // leaf-rsa-good, serial 1001, rsa-ca
const bearer = { Authorization: `Bearer ${ADMIN_TOKEN}` };
let clock: number;
beforeAll(async () => {
  clock = await servingClock(good);
});
freshDeploymentPerTest();

async function pinned(relay: Isolate, query = "", leaf = good.cert!, status = 200) {
  const res = await relay.request(`/admin/certificates${query}`, {
    method: "POST",
    headers: bearer,
    body: text(fixture(leaf)),
  });
  expect(res.status).toBe(status);
  return (await res.json()) as Record<string, unknown>;
}

async function ownerState(): Promise<OwnerState | undefined> {
  const key = certIdKey(await certIdOf(good.issuer, good.cert!));
  const owner = env.CERT_OWNER.get(env.CERT_OWNER.idFromName(key));
  return runInDurableObject(
    owner,
    async (_, state) => (await state.storage.get<StoredOwner>("owner"))?.state,
  );
}

describe("DELETE /admin/certificates/<issuer id>/<serial>", () => {
  it("unpins a pinned certificate; a second time, or an unknown serial, is 404", async () => {
    const d = new Deployment(clock, ocspReply(fixture(good.response)));
    const relay = d.isolate();
    const issuer = await relay.registered([good.issuer]);
    await pinned(relay);
    expect((await ownerState())?.pinned).toBe(true);

    const res = await relay.request(`/admin/certificates/${issuer.id}/10:01`, {
      method: "DELETE",
      headers: bearer,
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ issuer: issuer.id, serial: "1001", unpinned: true });
    expect((await ownerState())?.pinned).toBe(false);

    for (const serial of ["1001", "0bad"]) {
      const again = await relay.request(`/admin/certificates/${issuer.id}/${serial}`, {
        method: "DELETE",
        headers: bearer,
      });
      expect(again.status).toBe(404);
      expect(await again.json()).toMatchObject({ error: "not pinned" });
    }
  });

  it("refuses without the admin token, for an unknown issuer, and for a serial that is not hex", async () => {
    const d = new Deployment(clock, ocspReply(fixture(good.response)));
    const relay = d.isolate();
    const issuer = await relay.registered([good.issuer]);
    const del = (path: string, headers: HeadersInit = bearer) =>
      relay.request(path, { method: "DELETE", headers });
    expect((await del(`/admin/certificates/${issuer.id}/1001`, {})).status).toBe(401);
    expect((await del("/admin/certificates/0000000000000000/1001")).status).toBe(404);
    expect((await del(`/admin/certificates/${issuer.id}/zz`)).status).toBe(400);
  });
});

describe("POST /admin/certificates?replaces=<serial>", () => {
  it("pins the renewed certificate and unpins the one it replaces", async () => {
    const d = new Deployment(clock, ocspReply(fixture(good.response)));
    const relay = d.isolate();
    const issuer = await relay.registered([good.issuer]);
    await pinned(relay);
    // leaf-rsa-revoked (another serial of rsa-ca) stands in for the renewal.
    const body = await pinned(relay, `?replaces=${issuer.id}/1001`, "pki/leaf-rsa-revoked.pem");
    expect(body.replaced).toMatchObject({ issuer: issuer.id, serial: "1001", unpinned: true });
    expect((await ownerState())?.pinned).toBe(false);
  });

  it("refuses, before pinning anything, a bad serial or the renewal's own serial", async () => {
    const d = new Deployment(clock, ocspReply(fixture(good.response)));
    const relay = d.isolate();
    await relay.registered([good.issuer]);
    for (const query of ["?replaces=zz", "?replaces=1001"]) {
      const body = await pinned(relay, query, good.cert!, 400);
      expect(body).toMatchObject({ error: query.endsWith("zz") ? "bad serial" : "bad query" });
    }
    expect(await ownerState()).toBeUndefined();
    expect(d.calls).toHaveLength(0);
  });
});
