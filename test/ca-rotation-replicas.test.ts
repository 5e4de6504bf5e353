import getPort from 'get-port';
import { beforeAll, describe, expect, it } from 'vitest';
import { identityOf } from './harness/agent-identity.js';
import { cluster, connectedIds } from './harness/cluster.js';
import { startEtcdCluster } from './harness/etcd.js';
import { getJson } from './harness/http.js';
import { requestLoop } from './harness/load.js';
import { sharedCa } from './harness/mesh-ca.js';
import { type AgentHandle, type ControlPlaneHandle, endpointIds, type Mesh, withMesh } from './harness/mesh.js';
import { replicaSettings } from './harness/replica-settings.js';
import { waitFor } from './harness/wait.js';

// A root rotation on three control-plane replicas on a real etcd, agents
// spread over them (hello-1 on A, the client on B, hello-2 on C), the leader
// A killed (SIGKILL) while it runs: another replica leads and finishes it,
// the follower follows it, agents of every replica end on the new issuer and
// root, and the request loop through the client (whose certificate B signs,
// calling hello-2 whose certificate C signs) never fails, not even while
// hello-1 moves from the dead A to B: it reconnects within milliseconds,
// long before A's lease (2 s) ends and another replica leads, so no step is
// proven without it. Twice: started through the leader and killed at once,
// and started through a follower and killed once the issuer switched.

/** What `GET /v1/ca` says of the rotation, the part every replica must agree on. */
const caView = async (cp: ControlPlaneHandle) => {
  const ca = await getJson(cp.port, '/v1/ca');
  return {
    step: ca.step as string,
    generation: ca.generation as number,
    activeIssuer: ca.activeIssuer as string,
    roots: (ca.roots as Array<{ fingerprint: string }>).map((r) => r.fingerprint),
  };
};

/** Three replicas and three agents, each agent on the replica the test puts it on. */
interface Spread {
  a: ControlPlaneHandle;
  b: ControlPlaneHandle;
  c: ControlPlaneHandle;
  client: AgentHandle;
  agents: AgentHandle[];
}

async function spread(mesh: Mesh): Promise<Spread> {
  // Three members, as in production (and ha-leader.test.ts): on a single member, a new leader's etcd
  // connection was seen to drop within seconds of a kill -9 of the old one, and leadership to pass around
  // for tens of seconds (an HA matter of its own, not the rotation's).
  const etcd = await startEtcdCluster(mesh.scratch, 3);
  // The agents here reconnect within 500 ms (the harness's controlPlane.reconnectMaxDelayMs), and a new leader
  // is told so: it waits the heartbeat timeout and 500 ms before it moves the rotation on, not 5 s more.
  const identity = { ca: { ...sharedCa(mesh.scratch.dir), agentReconnectMaxDelayMs: 500 } };
  const replica = (name: string, port?: number) =>
    mesh.controlPlane({ ...replicaSettings(mesh.scratch, name, etcd.endpoints), identity }, port);
  // A first, alone: it leads, and hello-1 (which may try B first, not yet listening) lands on it.
  const a = await replica('cp-a');
  await waitFor('cp-a to lead', async () => (await cluster(a)).role === 'leader', { timeoutMs: 10_000 });
  const pb = await getPort();
  const hello1 = (await mesh.instance([a, { streamUrl: `ws://127.0.0.1:${pb}/v1/stream` }], 'hello', 'hello-1')).agent;
  const b = await replica('cp-b', pb);
  const c = await replica('cp-c');
  // The others know one replica each, so that each stays where it is put.
  const hello2 = (await mesh.instance(c, 'hello', 'hello-2')).agent;
  const client = await mesh.agent({ agentId: 'client', cp: b, outbound: true, calls: ['hello'] });
  await waitFor(
    'the client to see both hello instances',
    async () => (await endpointIds(client, 'hello')).join() === 'hello-1,hello-2',
  );
  expect(await connectedIds(a)).toEqual(['hello-1']);
  expect(await connectedIds(b)).toEqual(['client']);
  expect(await connectedIds(c)).toEqual(['hello-2']);
  return { a, b, c, client, agents: [hello1, client, hello2] };
}

/** How a scenario starts the rotation and when it kills the leader A. */
interface Scenario {
  name: string;
  /** The replica `POST /v1/ca/rotate` goes to. */
  through: (s: Spread) => ControlPlaneHandle;
  /** The step A must have reached (in its own `GET /v1/ca`) before it is killed. */
  killAt: 'adding-root' | 'switching-issuer';
}

const scenarios: Scenario[] = [
  { name: 'started through the leader, the leader killed at once', through: (s) => s.a, killAt: 'adding-root' },
  {
    name: 'started through a follower, the leader killed once the issuer switched',
    through: (s) => s.c,
    killAt: 'switching-issuer',
  },
];

describe.each(scenarios)('root rotation across control-plane replicas on etcd: $name', ({ through, killAt }) => {
  const mesh = withMesh();
  let s: Spread;

  beforeAll(async () => {
    s = await spread(mesh);
  });

  it('has every replica show one CA, and certificates signed by each replica trusted across them', async () => {
    const views = await Promise.all([s.a, s.b, s.c].map(caView));
    expect(views[0]).toMatchObject({ step: 'none', generation: 0 });
    expect(views[1]).toEqual(views[0]);
    expect(views[2]).toEqual(views[0]);
    for (const x of s.agents)
      expect(await identityOf(x)).toEqual({ issuer: views[0]?.activeIssuer, roots: views[0]?.roots });
    // The client (signed by B) reaches hello-1 (signed by A) and hello-2 (signed by C) over mTLS.
    const load = requestLoop(s.client.outboundPort as number, 'http://hello/', { workers: 2, maxMs: 20_000 });
    await waitFor('both instances to serve the client', () => load.result.byInstance.size === 2);
    expect((await load.stop()).failures).toEqual([]);
  });

  it('finishes through another replica after the leader A is killed, with zero failed requests', async () => {
    const { a, b, c, client } = s;
    const before = await caView(b);
    // A steady trickle (about 100 requests a second), bounded by time: a new leader waits about 8 s
    // (heartbeat timeout and the agents' reconnect ceiling) before it moves a step, and replicas that
    // starve for CPU lose their 2 s etcd leases and hand leadership around, each new leader waiting again.
    const load = requestLoop(client.outboundPort as number, 'http://hello/', {
      workers: 2,
      pauseMs: 20,
      maxMs: 150_000,
      maxRequests: Number.MAX_SAFE_INTEGER,
    });
    let result: Awaited<ReturnType<typeof load.stop>>;
    let leader: ControlPlaneHandle;
    let doneMs: number;
    let killedStep: string = killAt;
    try {
      await waitFor('the loop to be served', () => load.sentSince(0).length > 20);
      expect((await cluster(a)).role).toBe('leader');
      const started = await fetch(`${through(s).url}/v1/ca/rotate`, {
        method: 'POST',
        headers: { 'x-meshlet-request': 'test' },
      });
      expect(started.status).toBe(202);
      expect(await started.json()).toMatchObject({ step: 'adding-root', generation: 1 });
      if (killAt === 'switching-issuer') {
        // The step lasts at least one 500 ms tick of the leader: polled every 20 ms, it is seen.
        await waitFor('A to switch the issuer', async () => (await caView(a)).generation >= 2, {
          timeoutMs: 20_000,
          intervalMs: 20,
        });
        // A follower shows what the leader wrote.
        await waitFor('B to show the issuer switched', async () => (await caView(b)).generation >= 2);
        killedStep = (await caView(a)).step;
      }
      const killedAt = Date.now();
      a.proc.child.kill('SIGKILL');
      await a.proc.exited();

      leader = await waitFor(
        'another replica to lead',
        async () => {
          for (const cp of [b, c]) if ((await cluster(cp)).role === 'leader') return cp;
          return undefined;
        },
        { timeoutMs: 15_000 },
      );
      await waitFor(
        'hello-1 to move from the dead A to B',
        async () => (await connectedIds(b)).join() === 'client,hello-1',
        { timeoutMs: 15_000 },
      );
      const trail: string[] = [];
      await waitFor(
        'the rotation to finish through the new leader',
        async () => {
          const ca = await getJson(leader.port, '/v1/ca');
          trail.push(`${Date.now() - killedAt} ms ${ca.step} behind ${JSON.stringify(ca.agents.behind)}`);
          return ca.step === 'done';
        },
        { timeoutMs: 90_000, intervalMs: 1000 },
      ).catch((e: Error) => {
        throw new Error(`${e.message}\n${trail.join('\n')}`);
      });
      doneMs = Date.now() - killedAt;
      // More traffic on the final state, new connections included.
      const at = Date.now();
      await waitFor('more requests after the rotation', () => load.sentSince(at).length > 50, { timeoutMs: 20_000 });
    } finally {
      result = await load.stop();
    }
    process.stdout.write(
      `[ca rotation across replicas, killed at ${killedStep}] done ${doneMs} ms after the kill of the leader; ` +
        `${result.sent} requests, ${result.failed} failed\n`,
    );
    expect(result.failures).toEqual([]);
    expect([...result.byInstance.keys()].sort()).toEqual(['hello-1', 'hello-2']);

    const after = await getJson(leader.port, '/v1/ca');
    expect(after).toMatchObject({ step: 'done', generation: 3, agents: { behind: [], connected: 3 } });
    expect(after.roots).toHaveLength(1);
    const view = await caView(leader);
    expect(view.roots[0]).not.toBe(before.roots[0]);
    expect(view.activeIssuer).not.toBe(before.activeIssuer);
    // The follower shows the same step, generation, issuer and root.
    expect(await caView(leader === b ? c : b)).toEqual(view);
    // Every agent holds a certificate from the new issuer and trusts only the new root.
    for (const x of s.agents) expect(await identityOf(x)).toEqual({ issuer: view.activeIssuer, roots: view.roots });
    expect(await connectedIds(c)).toEqual(['hello-2']);
  }, 200_000);
});
