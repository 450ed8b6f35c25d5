// Rows a certificate owner writes (Durable Object billing: each key put or deleted, each setAlarm):
// its state and answer are one row, `owner`, so a pinned certificate's refresh writes two rows (the
// row and the alarm), and a touch of a pinned certificate none. Owners a deployed relay stored the
// old way (`state` and `answer`) are read from those keys, which their first save deletes. Through
// the real CertOwner in workerd (its storage, its row counter), the CA mocked at the fetch
// boundary.

import { env } from "cloudflare:workers";
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { CertOwner, type OwnerEnv } from "../../src/fleet/durable-object.ts";
import type { StoredOwner } from "../../src/fleet/owner.ts";
import { ops } from "../../src/instrumentation.ts";
import { certIdKey } from "../../src/ocsp/request.ts";
import { fixtureCase } from "../support/cases.ts";
import { fixture, text } from "../support/files.ts";
import {
  ADMIN_TOKEN,
  certIdOf,
  Deployment,
  freshDeploymentPerTest,
  HOUR,
  ocspReply,
  servingClock,
} from "./support.ts";

const good = fixtureCase("rsa-direct-good"); // leaf-rsa-good, serial 1001, rsa-ca
let clock: number;
beforeAll(async () => {
  clock = await servingClock(good);
});
freshDeploymentPerTest();

/** A deployment with the certificate pinned; its owner (the stub). */
async function pinnedOwner() {
  const d = new Deployment(clock, ocspReply(fixture(good.response)));
  const relay = d.isolate();
  await relay.registered([good.issuer]);
  const res = await relay.request("/admin/certificates", {
    method: "POST",
    headers: { Authorization: `Bearer ${ADMIN_TOKEN}` },
    body: text(fixture(good.cert!)),
  });
  expect(res.status).toBe(200);
  const key = certIdKey(await certIdOf(good.issuer, good.cert!));
  const owner = env.CERT_OWNER.get(env.CERT_OWNER.idFromName(key));
  return { d, owner };
}

type Stub = Awaited<ReturnType<typeof pinnedOwner>>["owner"];

const keys = (owner: Stub) =>
  runInDurableObject(owner, async (_, state) => [...(await state.storage.list()).keys()].sort());
const row = (owner: Stub) =>
  runInDurableObject(owner, (_, state) => state.storage.get<StoredOwner>("owner"));

describe("rows a certificate owner writes", () => {
  it("a pinned certificate's scheduled refresh: the owner row and the alarm, two rows", async () => {
    const { d, owner } = await pinnedOwner();
    expect(await keys(owner)).toEqual(["owner"]);
    for (let i = 0; i < 2; i++) {
      const before = await row(owner);
      expect(before?.state.pinned).toBe(true);
      d.clock = before!.state.nextAttemptAt!;
      const calls = d.calls.length;
      const writes = ops.ownerWrites;
      expect(await runDurableObjectAlarm(owner)).toBe(true);
      expect(d.calls).toHaveLength(calls + 1); // the CA asked
      expect(ops.ownerWrites - writes).toBe(2);
      const after = await row(owner);
      expect(after?.state.lastFetchAt).toBe(d.clock);
      expect(after?.held?.fetchedAt).toBe(d.clock);
    }
    expect(await keys(owner)).toEqual(["owner"]);
  });

  it("a touch of a pinned certificate, 4 days on, writes nothing", async () => {
    const { d, owner } = await pinnedOwner();
    const stored = (await row(owner))!.state;
    d.advance(4 * 24 * HOUR);
    const writes = ops.ownerWrites;
    const inMemory = await runInDurableObject(owner, async (instance: CertOwner) => {
      await instance.touch({
        certIdKey: stored.certIdKey,
        certId: stored.certId,
        issuer: stored.issuer,
      });
      return (await instance.inspect()).state!.lastRequestedAt;
    });
    expect(ops.ownerWrites - writes).toBe(0);
    expect(inMemory).toBe(d.clock);
    expect((await row(owner))!.state.lastRequestedAt).toBe(stored.lastRequestedAt);
  });

  it("an owner stored the old way: served and refreshed, then one row (the old keys deleted, counted)", async () => {
    const { d, owner } = await pinnedOwner();
    const pinned = (await row(owner))!;
    // As a relay before the one row left it: `state` and `answer`.
    await runInDurableObject(owner, async (_, state) => {
      await state.storage.delete("owner");
      await state.storage.put({ state: pinned.state, answer: pinned.held });
    });
    expect(await keys(owner)).toEqual(["answer", "state"]);
    await runInDurableObject(owner, async (_, state) => {
      // A new object (the old one evicted) reads the old keys: its pin and its answer are there.
      const upgraded = new CertOwner(state, env as unknown as OwnerEnv);
      const read = await upgraded.inspect();
      expect(read.state?.pinned).toBe(true);
      expect(read.answer?.etag).toBe(pinned.held?.etag);
      d.clock = pinned.state.nextAttemptAt!;
      const writes = ops.ownerWrites;
      await upgraded.alarm();
      // The row, the two old keys deleted, the alarm.
      expect(ops.ownerWrites - writes).toBe(4);
    });
    expect(await keys(owner)).toEqual(["owner"]);
    const after = (await row(owner))!;
    expect(after.state.pinned).toBe(true);
    expect(after.held?.fetchedAt).toBe(d.clock);
  });
});
