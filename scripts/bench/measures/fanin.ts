// Fan-in (README "Performance"): --fanin-clients servers ask at once, half GET, half POST, each
// with its own client headers, about --fanin-certs certificates on a fresh workerd with no state;
// the CA's access log counts its fetches (the target: one per certificate), then a second wave
// (the target: none).

import { registerIssuer } from "../../support/relay.ts";
import { loopbackFetch as http } from "../../support/loopback.ts";
import { log, type Bench } from "../context.ts";
import type { Peers } from "../peers.ts";
import { diffOps, ZERO_OPS, type BenchResults, type CostRow } from "../report.ts";
import type { Prepared } from "../setup.ts";
import { readOps, startWorkerd, type RelayVars } from "../workerd.ts";

export async function measureFanin(
  b: Bench,
  prep: Prepared,
  peers: Peers,
  relay: RelayVars,
): Promise<{ fanin: BenchResults["fanin"]; cost: CostRow | undefined }> {
  const { o, notes } = b;
  log(
    `fan-in: fresh workerd, ${o.faninClients} clients, ${o.faninCerts} certificates, half GET half POST`,
  );
  const fw = await startWorkerd(b, "workerd-fanin", prep.bundle, relay.vars, false);
  await registerIssuer(fw.url, prep.ca.caPem, peers.caFront, { token: relay.token });
  const opsBefore = (await readOps(fw.url, notes)) ?? ZERO_OPS;
  const clients = Array.from({ length: o.faninClients }, (_, i) => ({
    i,
    req: prep.faninReqs[i % prep.faninReqs.length]!,
    post: i % 2 === 1,
  }));
  const askAll = () =>
    Promise.all(
      clients.map(async (c) => {
        const headers: Record<string, string> = {
          "User-Agent": `bench-server/${c.i}`,
          "X-Forwarded-For": `127.${(c.i >> 16) & 255}.${(c.i >> 8) & 255}.${c.i & 255}`,
        };
        const res = c.post
          ? await http(`${fw.url}/`, {
              method: "POST",
              headers: { ...headers, "Content-Type": "application/ocsp-request" },
              body: new Uint8Array(c.req.der),
            })
          : await http(`${fw.url}${c.req.path}`, { headers });
        await res.arrayBuffer();
        return res.status;
      }),
    );
  let offset = peers.caLogSize();
  const started = Date.now();
  const statuses = await askAll();
  const ms = Date.now() - started;
  const firstWave = (await peers.caFetchesSince(offset)).filter((f) => f.status === 200);
  offset = peers.caLogSize();
  await askAll();
  const secondWave = await peers.caFetchesSince(offset);
  const opsAfter = await readOps(fw.url, notes);
  const byUri = new Map<string, number>();
  for (const f of firstWave) byUri.set(f.uri, (byUri.get(f.uri) ?? 0) + 1);
  const asked = new Set(prep.faninReqs.map((r) => r.path));
  const strays = [...byUri.keys()].filter((u) => !asked.has(u));
  if (strays.length > 0)
    notes.add(`fan-in: ${strays.length} CA fetches for paths the clients did not ask about`);
  const ops = opsAfter ? diffOps(opsBefore, opsAfter) : null;
  const fanin: BenchResults["fanin"] = {
    clients: o.faninClients,
    certs: o.faninCerts,
    gets: clients.filter((c) => !c.post).length,
    posts: clients.filter((c) => c.post).length,
    answered200: statuses.filter((s) => s === 200).length,
    upstreamFetches: firstWave.length,
    distinctCertsFetched: byUri.size,
    maxFetchesPerCert: Math.max(0, ...byUri.values()),
    secondWaveFetches: secondWave.length,
    relayOps: ops,
    ms,
  };
  log(
    `fan-in: ${fanin.answered200}/${fanin.clients} answered 200 in ${ms} ms; the CA saw ${fanin.upstreamFetches} fetches for ${fanin.distinctCertsFetched} certificates (max ${fanin.maxFetchesPerCert} per certificate); second wave: ${fanin.secondWaveFetches}`,
  );
  await fw.service.stop();
  const note = "cold start, first wave and second wave";
  return { fanin, cost: ops ? { path: "fan-in", requests: ops.requests, ops, note } : undefined };
}
