import getPort from 'get-port';
import { beforeAll, describe, expect, it } from 'vitest';
import { cluster, connectedIds } from './harness/cluster.js';
import { type EtcdCluster, startEtcdCluster } from './harness/etcd.js';
import { getJson, httpRequest } from './harness/http.js';
import { requestLoop } from './harness/load.js';
import { type AgentHandle, agentTable, type ControlPlaneHandle, endpointIds, withMesh } from './harness/mesh.js';
import { LEASE_TTL_S, replicaSettings } from './harness/replica-settings.js';
import { waitFor } from './harness/wait.js';

// Three control-plane replicas on a three-member etcd cluster (issue 7). One
// leads (etcd election); every replica takes agents and serves reads; the
// leader's tables reach every agent with the same version whichever replica
// it is on. kill -9 of the leader, with every agent connected to it and
// requests flowing: another replica leads within the lease TTL, the agents
// reconnect to the others, no request fails and no configuration is lost.

async function send(
  cp: ControlPlaneHandle,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: any }> {
  // A write without a token must show it comes from a script, not a page of another site (docs/security.md).
  const res = await fetch(`${cp.url}${path}`, {
    method,
    headers: { 'x-meshlet-request': 'test', ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: await res.json() };
}

const balancerOf = async (agent: AgentHandle, service: string) =>
  ((await agentTable(agent))?.services[service] as { policy?: { balancer: { kind: string } } } | undefined)?.policy
    ?.balancer.kind;

describe('three control-plane replicas on etcd: one leader, the same table everywhere, kill -9 of the leader', () => {
  const mesh = withMesh();
  let etcd: EtcdCluster;
  const cps: ControlPlaneHandle[] = [];
  let a: ControlPlaneHandle;
  let b: ControlPlaneHandle;
  let c: ControlPlaneHandle;
  let client: AgentHandle;
  let clientC: AgentHandle;
  /** The leader after the kill, and the other survivor. */
  let leader2: ControlPlaneHandle;
  let survivor: ControlPlaneHandle;

  const replica = (name: string, port?: number) =>
    mesh.controlPlane(replicaSettings(mesh.scratch, name, etcd.endpoints), port);

  beforeAll(async () => {
    etcd = await startEtcdCluster(mesh.scratch, 3);
    // A first, alone: it leads, and every agent (whichever URL it tries first) ends up on it.
    a = await replica('cp-a');
    await waitFor('cp-a to lead', async () => (await cluster(a)).role === 'leader', { timeoutMs: 10_000 });
    const [pb, pc] = [await getPort(), await getPort()];
    ({ client } = await mesh.start({
      connectTo: [a, { streamUrl: `ws://127.0.0.1:${pb}/v1/stream` }, { streamUrl: `ws://127.0.0.1:${pc}/v1/stream` }],
      instances: { hello: ['hello-1', 'hello-2'] },
      client: { calls: ['hello'] },
    }));
    b = await replica('cp-b', pb);
    c = await replica('cp-c', pc);
    cps.push(a, b, c);
    // One more client, on C only: the same table must reach agents of every replica.
    clientC = await mesh.agent({ agentId: 'client-c', cps: [c], outbound: true, calls: ['hello'] });
  });

  it('elects one leader; every replica names it and lists every agent with its health', async () => {
    const views = await Promise.all(cps.map(cluster));
    expect(views.map((v) => v.role)).toEqual(['leader', 'follower', 'follower']);
    for (const v of views) expect(v.leader?.replicaId).toBe('cp-a');
    expect(views[1]?.leader?.url).toBe(a.url);
    expect(await connectedIds(a)).toEqual(['client', 'hello-1', 'hello-2']);
    expect(await connectedIds(c)).toEqual(['client-c']);
    for (const cp of cps) {
      await waitFor(`${cp.url} to list both hello instances as healthy`, async () => {
        const svc = (await getJson(cp.port, '/v1/services/hello')) as {
          instances: Array<{ id: string; state: string }>;
        };
        return svc.instances.filter((i) => i.state === 'healthy').length === 2;
      });
    }
    const metricsB = (await httpRequest(b.port, '/metrics')).body;
    expect(metricsB).toMatch(/^meshlet_cp_leader 0$/m);
    expect((await httpRequest(a.port, '/metrics')).body).toMatch(/^meshlet_cp_leader 1$/m);
  });

  it('sends the same table version to agents of the leader and of a follower', async () => {
    await waitFor('client-c to route to hello', async () => (await endpointIds(clientC, 'hello')).length === 2);
    const put = await send(b, 'PUT', '/v1/policies/hello', { policy: { balancer: { kind: 'least_request' } } });
    expect(put.status).toBe(200);
    await waitFor(
      'both clients to hold the policy written through B',
      async () =>
        (await balancerOf(client, 'hello')) === 'least_request' &&
        (await balancerOf(clientC, 'hello')) === 'least_request',
    );
    await waitFor('every agent to hold the same version', async () => {
      const versions = await Promise.all([client, clientC].map(async (x) => (await agentTable(x))?.version));
      return versions[0] !== undefined && versions[0] === versions[1];
    });
  });

  it('refuses a manual failover on a follower with the leader to ask', async () => {
    const r = await send(c, 'POST', '/v1/services/hello/failover');
    expect(r.status).toBe(503);
    expect(r.body.error.code).toBe('MESHLET_NOT_LEADER');
    expect(r.body.error.leader).toBe(a.url);
    expect(r.body.error.message).toContain('cp-a');
  });

  it('elects a new leader within the lease TTL after kill -9 of the leader; agents reconnect; no request fails; no configuration lost', async () => {
    const load = requestLoop(client.outboundPort as number, 'http://hello/', { workers: 2, maxMs: 40_000 });
    const loadC = requestLoop(clientC.outboundPort as number, 'http://hello/', { workers: 1, maxMs: 40_000 });
    await waitFor('requests flowing', () => load.result.sent > 20 && loadC.result.sent > 10);

    const killedAt = Date.now();
    a.proc.child.kill('SIGKILL');
    await a.proc.exited();

    // Both measured from the kill, side by side.
    const [[newLeaderMs, newLeader], reconnectedMs] = await Promise.all([
      waitFor(
        'a new leader',
        async () => {
          for (const cp of [b, c])
            if ((await cluster(cp)).role === 'leader') return [Date.now() - killedAt, cp] as const;
          return undefined;
        },
        { timeoutMs: 15_000, intervalMs: 25 },
      ),
      waitFor(
        'every agent of the dead leader to reconnect to another replica',
        async () => {
          const on = [...(await connectedIds(b)), ...(await connectedIds(c))].sort();
          return on.join() === 'client,client-c,hello-1,hello-2' ? Date.now() - killedAt : undefined;
        },
        { timeoutMs: 10_000, intervalMs: 25 },
      ),
    ]);
    const follower = newLeader === b ? c : b;
    leader2 = newLeader;
    survivor = follower;
    await waitFor(
      'the follower to name the new leader',
      async () => (await cluster(follower)).leader?.url === newLeader.url,
      { timeoutMs: 5_000 },
    );
    // Nothing lost: the policy written before the kill is on both replicas.
    for (const cp of [b, c])
      expect((await send(cp, 'GET', '/v1/policies/hello')).body.policy.balancer.kind).toBe('least_request');
    // A write through the new leader reaches every agent, and the load runs on through it.
    const put = await send(newLeader, 'PUT', '/v1/policies/hello', { policy: { balancer: { kind: 'random' } } });
    expect(put.status).toBe(200);
    await waitFor(
      'both clients to hold the write made after the kill',
      async () => (await balancerOf(client, 'hello')) === 'random' && (await balancerOf(clientC, 'hello')) === 'random',
      { timeoutMs: 10_000 },
    );
    const sent = load.result.sent;
    await waitFor('requests through the new table', () => load.result.sent > sent + 50, { timeoutMs: 10_000 });
    const [result, resultC] = await Promise.all([load.stop(), loadC.stop()]);

    process.stdout.write(
      `leader kill -9: new leader (${(await cluster(newLeader)).replicaId}) in ${newLeaderMs} ms (lease TTL ${LEASE_TTL_S} s), ` +
        `every agent reconnected in ${reconnectedMs} ms; ${result.sent + resultC.sent} requests, ${result.failed + resultC.failed} failed\n`,
    );
    expect(result.failures).toEqual([]);
    expect(resultC.failures).toEqual([]);
    expect([...result.byInstance.keys()].sort()).toEqual(['hello-1', 'hello-2']);
    expect(newLeaderMs).toBeLessThanOrEqual(LEASE_TTL_S * 1000 + 1000);

    // Both replicas show the write and both instances healthy; every agent holds the same version.
    for (const cp of [b, c]) {
      const got = await send(cp, 'GET', '/v1/policies/hello');
      expect(got.body.policy.balancer.kind).toBe('random');
      const svc = (await getJson(cp.port, '/v1/services/hello')) as { instances: Array<{ id: string; state: string }> };
      expect(
        svc.instances
          .filter((i) => i.state === 'healthy')
          .map((i) => i.id)
          .sort(),
      ).toEqual(['hello-1', 'hello-2']);
    }
    // (The hello agents call nothing, so a change of hello's policy does not concern them.)
    const versions = await Promise.all([client, clientC].map(async (x) => (await agentTable(x))?.version));
    expect(new Set(versions).size).toBe(1);
  });

  it('hands leadership over at once when the leader stops cleanly, and its agents stay routed while they move', async () => {
    const load = requestLoop(client.outboundPort as number, 'http://hello/', { workers: 2, maxMs: 40_000 });
    await waitFor('requests flowing', () => load.result.sent > 20);
    const stoppedAt = Date.now();
    const stopping = leader2.proc.stop('SIGTERM');
    const handoverMs = await waitFor(
      'the survivor to lead',
      async () => ((await cluster(survivor)).role === 'leader' ? Date.now() - stoppedAt : undefined),
      {
        timeoutMs: 10_000,
        intervalMs: 25,
      },
    );
    expect((await stopping).code).toBe(0);
    await waitFor(
      'every agent on the survivor',
      async () => (await connectedIds(survivor)).join() === 'client,client-c,hello-1,hello-2',
      { timeoutMs: 10_000 },
    );
    const sent = load.result.sent;
    await waitFor('requests after the move', () => load.result.sent > sent + 50, { timeoutMs: 10_000 });
    const result = await load.stop();
    process.stdout.write(
      `leader SIGTERM: the survivor leads in ${handoverMs} ms; ${result.sent} requests, ${result.failed} failed\n`,
    );
    expect(result.failures).toEqual([]);
    // A clean stop resigns: no waiting for the lease to expire.
    expect(handoverMs).toBeLessThan(LEASE_TTL_S * 1000);
    // The stopped replica's agents moved; they did not shut down, so their instances never left the table.
    const events = (await getJson(survivor.port, '/v1/events?kind=health')).events as Array<{
      instance: string;
      to: string;
      time: string;
    }>;
    expect(events.filter((e) => Date.parse(e.time) >= stoppedAt && e.to !== 'healthy')).toEqual([]);
    expect((await endpointIds(client, 'hello')).join()).toBe('hello-1,hello-2');
  });
});
