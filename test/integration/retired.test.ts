// Retired certificates are not at risk (issue 18): a pinned Must-Staple leaf whose refresh fails
// is at risk on /metrics and /status until its owner lets it go. Unpinned, its row stays (clients
// may still ask for it) but is at risk no more; past its notAfter, its owner forgets it and its row
// goes at once, not 7 days after its answer expires. Through the real worker in workerd, the CA
// mocked at the fetch boundary; the owner tells the ledger (FleetLedger) after its reply.

import { env } from "cloudflare:workers";
import { listDurableObjectIds, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { CertOwner } from "../../src/fleet/durable-object.ts";
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
  type Isolate,
} from "./support.ts";

const staple = fixtureCase("rsa-delegated-muststaple"); // leaf-rsa-muststaple, serial 1004, rsa-ca
const bearer = { Authorization: `Bearer ${ADMIN_TOKEN}` };
const caDown = () => new Response("down for maintenance", { status: 503 });

let clock: number;
beforeAll(async () => {
  clock = await servingClock(staple);
});
freshDeploymentPerTest();
beforeEach(async () => {
  await wipeLedger();
  return wipeLedger;
});

async function wipeLedger(): Promise<void> {
  for (const id of await listDurableObjectIds(env.FLEET_LEDGER))
    await runInDurableObject(env.FLEET_LEDGER.get(id), (_, state) => state.storage.deleteAll());
}

const ownerOf = async () => {
  const key = certIdKey(await certIdOf(staple.issuer, staple.cert!));
  return { key, owner: env.CERT_OWNER.get(env.CERT_OWNER.idFromName(key)) };
};

/**
 * rsa-ca registered, the Must-Staple leaf pinned (its answer fetched), then its refresh failing:
 * with a margin of 10 days, less than that is left of the answer held, so it is at risk.
 */
async function atRiskPinnedLeaf() {
  const d = new Deployment(clock, ocspReply(fixture(staple.response)));
  const relay = d.isolate({ ALERT_MUST_STAPLE_MARGIN_SECONDS: String(10 * 24 * 3600) });
  const issuer = await relay.registered([staple.issuer]);
  const res = await relay.request("/admin/certificates", {
    method: "POST",
    headers: bearer,
    body: text(fixture(staple.cert!)),
  });
  expect(res.status).toBe(200);
  d.reply = caDown;
  const { key, owner } = await ownerOf();
  expect(await runDurableObjectAlarm(owner)).toBe(true); // the refresh, failing
  const before = await looked(relay, issuer.id);
  expect(before).toMatchObject({
    atRisk: 1,
    listed: [key],
    row: expect.stringContaining("pinned"),
  });
  return { d, relay, issuer, key, owner };
}

/** What /metrics counts and /status lists as at risk, and the certificate's row on /status. */
async function looked(relay: Isolate, issuerId: string) {
  const scrape = await (await relay.request("/metrics", { headers: bearer })).text();
  const line = scrape
    .split("\n")
    .find((l) => l.startsWith(`ocsp_relay_certificates_at_risk{issuer="${issuerId}"} `));
  const html = await (await relay.request("/status", { headers: bearer })).text();
  const { key } = await ownerOf();
  return {
    atRisk: line === undefined ? 0 : Number(line.slice(line.lastIndexOf(" ") + 1)),
    listed: (await select(html, "#at-risk li")).map((li) => li.attrs["data-risk"]),
    summaryAtRisk: (await select(html, `tr[data-summary="${issuerId}"]`))[0]?.attrs["data-at-risk"],
    row: (await select(html, `tr[data-cert="${key}"]`))[0]?.text,
  };
}

/** The `data-*` attributes and text of the elements matching `selector` (HTMLRewriter). */
async function select(html: string, selector: string) {
  const found: { attrs: Record<string, string>; text: string }[] = [];
  const open: (typeof found)[number][] = [];
  await new HTMLRewriter()
    .on(selector, {
      element(e) {
        const el = { attrs: Object.fromEntries(e.attributes), text: "" };
        found.push(el);
        open.push(el);
        e.onEndTag(() => void open.pop());
      },
    })
    .on("*", {
      text(t) {
        for (const el of open) el.text += t.text;
      },
    })
    .transform(new Response(html))
    .text();
  return found.map((el) => ({ ...el, text: el.text.replace(/\s+/g, " ").trim() }));
}

describe("a retired Must-Staple certificate is not at risk", () => {
  it("unpinned: /metrics and /status count it at risk no more; its row stays, marked unpinned", async () => {
    const { relay, issuer } = await atRiskPinnedLeaf();
    const res = await relay.request(`/admin/certificates/${issuer.id}/1004`, {
      method: "DELETE",
      headers: bearer,
    });
    expect(await res.json()).toMatchObject({ unpinned: true });

    const after = await looked(relay, issuer.id);
    expect(after).toMatchObject({ atRisk: 0, listed: [], summaryAtRisk: "0" });
    expect(after.row).toContain("Must-Staple unpinned");
    expect(after.row).toContain("HTTP 503"); // still failing, and shown so
  });

  it("past its notAfter: its owner forgets it and its row goes at once", async () => {
    const { d, relay, issuer, owner } = await atRiskPinnedLeaf();
    // The fixture leaf is valid for a year: its notAfter, as the owner knows it, brought forward
    // to within the hour (in memory and in storage, as a pin of a leaf ending then leaves it).
    const ending = clock + HOUR;
    await runInDurableObject(owner, async (instance: CertOwner, state) => {
      const { state: known, answer: held } = await instance.inspect();
      known!.leaf = { ...known!.leaf!, notAfter: ending };
      await state.storage.put("owner", { state: known, held });
      await state.storage.setAlarm(Date.now() + HOUR);
    });
    d.advance(HOUR);
    const calls = d.calls.length;
    expect(await runDurableObjectAlarm(owner)).toBe(true); // at its notAfter: forgotten
    expect(d.calls).toHaveLength(calls); // the CA not asked
    expect((await owner.inspect()).state).toBeUndefined();

    const after = await looked(relay, issuer.id);
    expect(after).toEqual({ atRisk: 0, listed: [], summaryAtRisk: undefined, row: undefined });
  });
});
