// The issuer registry under concurrent use, in workerd through the real app: registrations and
// deletions sent at once through several isolates all take effect (the Registrar Durable Object is
// their one writer), a 2xx means the change is stored and published to KV (`v1:issuers`), and a
// registry left in KV by an older deployment is taken over. CAs: test/fixtures/many-cas
// (scripts/fixtures/many-cas.sh).

import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { KV_KEYS } from "../../src/cache/record.ts";
import { makeIssuerRecord, type IssuerRecord } from "../../src/issuers/issuer.ts";
import { REGISTRY_TTL_MS } from "../../src/issuers/registry.ts";
import { certIdFor, encodeRequest } from "../../src/ocsp/request.ts";
import { certificate, fixture } from "../support/files.ts";
import {
  ADMIN_TOKEN,
  bodyOf,
  Deployment,
  freshDeploymentPerTest,
  ocspStatusOf,
  RESPONDER,
  type IssuerJson,
  type Isolate,
} from "./support.ts";

freshDeploymentPerTest();

const bearer = { Authorization: `Bearer ${ADMIN_TOKEN}` };
const CAS = Array.from(
  { length: 20 },
  (_, i) => `many-cas/ca-${String(i + 1).padStart(2, "0")}.pem`,
);
const subjectOf = (path: string) => certificate(fixture(path)).subjectText;
const clock = Math.ceil(Date.now() / 60_000) * 60_000;

/** The CA answers nothing useful: what matters is that the relay asked it. */
const deployment = () => new Deployment(clock, () => new Response("busy", { status: 503 }));

/** `isolates` apps on the same bindings. */
const isolates = (d: Deployment, n: number) => Array.from({ length: n }, () => d.isolate());

/** Sends every registration at once, spread round-robin over `apps`. */
function registerAll(apps: Isolate[], paths: string[], query?: string): Promise<Response[]> {
  return Promise.all(paths.map((p, i) => apps[i % apps.length]!.register([p], query)));
}

async function listed(app: Isolate): Promise<IssuerJson[]> {
  const res = await app.request("/admin/issuers", { headers: bearer });
  expect(res.status).toBe(200);
  return ((await res.json()) as { issuers: IssuerJson[] }).issuers;
}

const kvRegistry = async () =>
  (await env.OCSP_CACHE.get<IssuerRecord[]>(KV_KEYS.issuers, "json")) ?? [];

/** An OCSP request for a serial nobody issued, under the CA at `path`. */
async function madeUpRequest(path: string, n: number): Promise<Uint8Array> {
  const ca = certificate(fixture(path));
  return encodeRequest(await certIdFor(ca, { serialNumber: new Uint8Array([0x4d, n]) }));
}

const sorted = (xs: string[]) => [...xs].sort();

describe("concurrent registrations through several isolates", () => {
  it("20 registrations sent at once over 4 isolates: all 201, all listed, all in KV, all served", async () => {
    const d = deployment();
    const responses = await registerAll(isolates(d, 4), CAS);
    expect(responses.map((r) => r.status)).toEqual(CAS.map(() => 201));
    const ids = await Promise.all(responses.map(async (r) => ((await r.json()) as IssuerJson).id));
    expect(new Set(ids).size).toBe(20);

    // A fifth isolate, which took part in none of them, lists all 20.
    const list = await listed(d.isolate());
    expect(sorted(list.map((i) => i.id))).toEqual(sorted(ids));
    expect(sorted(list.map((i) => i.subject))).toEqual(sorted(CAS.map(subjectOf)));

    // The read path of every isolate holds all 20 once the 2xx came back.
    expect(sorted((await kvRegistry()).map((r) => r.id))).toEqual(sorted(ids));

    // A fresh isolate serves every one of them: the CA is asked, nobody gets `unauthorized`.
    const fresh = d.isolate();
    for (const [i, path] of CAS.entries()) {
      const res = await fresh.get(await madeUpRequest(path, i));
      expect(res.status, path).toBe(200);
      expect(ocspStatusOf(await bodyOf(res)), path).toBe("tryLater"); // the CA's 503
    }
    expect(d.calls).toHaveLength(20);
  });

  it("deletions and registrations at once: exactly the expected 15 remain", async () => {
    const d = deployment();
    const apps = isolates(d, 4);
    const first = await registerAll(apps, CAS.slice(0, 10));
    expect(first.map((r) => r.status)).toEqual(Array(10).fill(201));
    const ids = await Promise.all(first.map(async (r) => ((await r.json()) as IssuerJson).id));
    const gone = ids.slice(0, 5);

    const [deletions, registrations] = await Promise.all([
      Promise.all(
        gone.map((id, i) =>
          apps[(i + 1) % apps.length]!.request(`/admin/issuers/${id}`, {
            method: "DELETE",
            headers: bearer,
          }),
        ),
      ),
      registerAll(apps, CAS.slice(10)),
    ]);
    expect(deletions.map((r) => r.status)).toEqual(Array(5).fill(204));
    expect(registrations.map((r) => r.status)).toEqual(Array(10).fill(201));
    const added = await Promise.all(
      registrations.map(async (r) => ((await r.json()) as IssuerJson).id),
    );

    const expected = sorted([...ids.slice(5), ...added]);
    expect(sorted((await listed(d.isolate())).map((i) => i.id))).toEqual(expected);
    expect(sorted((await kvRegistry()).map((r) => r.id))).toEqual(expected);
    // A deleted issuer's certificates are refused by an isolate that reads the registry now.
    const refused = await d.isolate().get(await madeUpRequest(CAS[0]!, 1));
    expect(ocspStatusOf(await bodyOf(refused))).toBe("unauthorized");
    expect(d.calls).toHaveLength(0);
  });

  it("the same CA registered 5 times at once: one 201, four 200, one record", async () => {
    const d = deployment();
    const responses = await registerAll(isolates(d, 4), Array(5).fill(CAS[0]!));
    expect(sorted(responses.map((r) => String(r.status)))).toEqual(
      sorted(["201", "200", "200", "200", "200"]),
    );
    const bodies = await Promise.all(responses.map(async (r) => (await r.json()) as IssuerJson));
    expect(new Set(bodies.map((b) => b.id)).size).toBe(1);
    expect(new Set(bodies.map((b) => b.createdAt)).size).toBe(1);
    const list = await listed(d.isolate());
    expect(list).toHaveLength(1);
    expect(list[0]!.createdAt).toBe(bodies[0]!.createdAt);
    expect(await kvRegistry()).toHaveLength(1);
  });

  it("re-registering an existing CA 5 times at once keeps its createdAt", async () => {
    const d = deployment();
    const app = d.isolate();
    const created = (await app.registered([CAS[0]!])) as IssuerJson;
    d.advance(60 * 60_000);
    // A new responder URL: the change is taken, the creation time is not.
    const moved = "http://ocsp2.ca.example/";
    const responses = await registerAll(
      isolates(d, 4),
      Array(5).fill(CAS[0]!),
      `?responder=${moved}`,
    );
    expect(responses.map((r) => r.status)).toEqual(Array(5).fill(200));
    for (const r of responses)
      expect(((await r.json()) as IssuerJson).createdAt).toBe(created.createdAt);
    const list = await listed(d.isolate());
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({ createdAt: created.createdAt, responderUrl: moved });
    expect(await kvRegistry()).toEqual([expect.objectContaining({ responderUrl: moved })]);
  });
});

describe("other isolates see a change", () => {
  it("an isolate holding a copy of the registry serves a CA registered elsewhere within REGISTRY_TTL_MS", async () => {
    const d = deployment();
    const [x, y] = isolates(d, 2);
    await x!.registered([CAS[0]!]);
    expect(ocspStatusOf(await bodyOf(await x!.get(await madeUpRequest(CAS[0]!, 1))))).toBe(
      "tryLater",
    ); // x holds a copy listing ca-01 only
    await y!.registered([CAS[1]!]);
    d.advance(REGISTRY_TTL_MS);
    const res = await x!.get(await madeUpRequest(CAS[1]!, 2));
    expect(ocspStatusOf(await bodyOf(res))).toBe("tryLater"); // reached the CA
    expect(d.calls).toHaveLength(2);
  });
});

describe("a registry left in KV by an older deployment", () => {
  it("is taken over by the Registrar on first use, and a new registration keeps it", async () => {
    const d = deployment();
    const old = await Promise.all(
      CAS.slice(0, 2).map((p, i) =>
        makeIssuerRecord(
          certificate(fixture(p)),
          { responderUrl: RESPONDER },
          new Date(clock - (2 - i) * 86_400_000),
        ),
      ),
    );
    await env.OCSP_CACHE.put(KV_KEYS.issuers, JSON.stringify(old));

    const list = await listed(d.isolate());
    expect(list.map((i) => i.id)).toEqual(old.map((r) => r.id));
    expect(list.map((i) => i.createdAt)).toEqual(old.map((r) => r.createdAt));

    const added = await d.isolate().register([CAS[2]!]);
    expect(added.status).toBe(201);
    const addedId = ((await added.json()) as IssuerJson).id;
    const expected = [...old.map((r) => r.id), addedId];
    expect((await listed(d.isolate())).map((i) => i.id)).toEqual(expected);
    expect((await kvRegistry()).map((r) => r.id)).toEqual(expected);
    // The imported issuers still serve.
    const res = await d.isolate().get(await madeUpRequest(CAS[0]!, 7));
    expect(ocspStatusOf(await bodyOf(res))).toBe("tryLater");
    expect(d.calls).toHaveLength(1);
  });

  it("registering first (before any listing) also keeps the old records", async () => {
    const d = deployment();
    const old = await Promise.all(
      CAS.slice(0, 2).map((p) =>
        makeIssuerRecord(certificate(fixture(p)), { responderUrl: RESPONDER }, new Date(clock)),
      ),
    );
    await env.OCSP_CACHE.put(KV_KEYS.issuers, JSON.stringify(old));
    const responses = await registerAll(isolates(d, 2), CAS.slice(2, 6));
    expect(responses.map((r) => r.status)).toEqual(Array(4).fill(201));
    expect(sorted((await kvRegistry()).map((r) => r.subject))).toEqual(
      sorted(CAS.slice(0, 6).map(subjectOf)),
    );
    expect(await listed(d.isolate())).toHaveLength(6);
  });
});
