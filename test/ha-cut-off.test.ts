import { createServer, connect, type Server, type Socket } from 'node:net';
import getPort from 'get-port';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cluster, connectedIds as localAgents } from './harness/cluster.js';
import { type EtcdCluster, startEtcdCluster } from './harness/etcd.js';
import { getJson } from './harness/http.js';
import { requestLoop } from './harness/load.js';
import { type AgentHandle, type ControlPlaneHandle, endpointIds, withMesh } from './harness/mesh.js';
import { replicaSettings } from './harness/replica-settings.js';
import { waitFor } from './harness/wait.js';

// A replica cut off from etcd while its agents still reach it (issue 7). Its
// path to etcd goes through a TCP relay in this test; closing the relay cuts
// it off as a network partition would. etcd expires its lease, the other
// replica takes over, and the cut-off replica, reaching no etcd member,
// sends its agents over (close code 4010) instead of keeping them where
// nobody else can see them, and turns hellos away until etcd is back.

/** A TCP relay on loopback to one etcd member, which can be cut and mended. */
class Relay {
  readonly port: number;
  readonly #target: number;
  #server: Server | undefined;
  readonly #sockets = new Set<Socket>();

  constructor(port: number, target: number) {
    this.port = port;
    this.#target = target;
  }

  async open(): Promise<void> {
    const server = createServer((client) => {
      const upstream = connect({ host: '127.0.0.1', port: this.#target });
      for (const s of [client, upstream]) {
        this.#sockets.add(s);
        s.on('close', () => this.#sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    this.#server = server;
  }

  /** Refuses new connections and drops the open ones. */
  async cut(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    for (const s of this.#sockets) s.destroy();
    if (server) await new Promise((resolve) => server.close(resolve));
  }
}

describe('a control-plane replica cut off from etcd', () => {
  const mesh = withMesh();
  let etcd: EtcdCluster;
  let relay: Relay;
  let a: ControlPlaneHandle;
  let b: ControlPlaneHandle;
  let client: AgentHandle;

  const replica = (name: string, endpoints: string[], port?: number) =>
    mesh.controlPlane(replicaSettings(mesh.scratch, name, endpoints, { requestTimeoutMs: 1000 }), port);

  beforeAll(async () => {
    etcd = await startEtcdCluster(mesh.scratch, 1);
    const member = new URL(etcd.endpoints[0] as string);
    relay = new Relay(await getPort(), Number(member.port));
    await relay.open();
    // A reaches etcd only through the relay; it starts alone, so it leads and every agent is on it.
    a = await replica('cp-a', [`http://127.0.0.1:${relay.port}`]);
    await waitFor('cp-a to lead', async () => (await cluster(a)).role === 'leader', { timeoutMs: 10_000 });
    const pb = await getPort();
    ({ client } = await mesh.start({
      connectTo: [a, { streamUrl: `ws://127.0.0.1:${pb}/v1/stream` }],
      instances: { hello: ['hello-1', 'hello-2'] },
      client: { calls: ['hello'] },
    }));
    b = await replica('cp-b', etcd.endpoints, pb);
    await waitFor('cp-b to list both instances healthy', async () => {
      const svc = (await getJson(b.port, '/v1/services/hello')) as { instances: Array<{ state: string }> };
      return svc.instances.filter((i) => i.state === 'healthy').length === 2;
    });
  });
  afterAll(async () => {
    await relay?.cut();
  });

  it('sends its agents to a replica that reaches etcd, which leads; no request fails and no instance is taken for gone', async () => {
    expect(await localAgents(a)).toEqual(['client', 'hello-1', 'hello-2']);
    const load = requestLoop(client.outboundPort as number, 'http://hello/', { workers: 2, maxMs: 40_000 });
    await waitFor('requests flowing', () => load.result.sent > 20);
    const cutAt = Date.now();
    await relay.cut();

    const [movedMs, leaderMs] = await Promise.all([
      waitFor(
        'every agent on cp-b',
        async () => ((await localAgents(b)).join() === 'client,hello-1,hello-2' ? Date.now() - cutAt : undefined),
        {
          timeoutMs: 15_000,
          intervalMs: 50,
        },
      ),
      waitFor('cp-b to lead', async () => ((await cluster(b)).role === 'leader' ? Date.now() - cutAt : undefined), {
        timeoutMs: 15_000,
        intervalMs: 50,
      }),
    ]);
    const sent = load.result.sent;
    await waitFor('requests after the move', () => load.result.sent > sent + 50, { timeoutMs: 10_000 });
    const result = await load.stop();
    process.stdout.write(
      `replica cut off from etcd: agents moved in ${movedMs} ms, cp-b leads after ${leaderMs} ms; ${result.sent} requests, ${result.failed} failed\n`,
    );
    expect(result.failures).toEqual([]);
    // The cut-off replica no longer leads, and keeps no agent.
    expect((await cluster(a)).role).toBe('follower');
    expect(await localAgents(a)).toEqual([]);
    // Nobody took the moved instances for gone.
    const events = (await getJson(b.port, '/v1/events?kind=health')).events as Array<{ to: string; time: string }>;
    expect(events.filter((e) => Date.parse(e.time) >= cutAt && e.to === 'unhealthy')).toEqual([]);
    expect(await endpointIds(client, 'hello')).toEqual(['hello-1', 'hello-2']);
    // It turned the agents away with a reason the agent logs.
    await waitFor(`the log line ${'cannot reach etcd'}`, async () => client.proc.output.includes('cannot reach etcd'));
  });

  it('takes agents again once etcd is reachable', async () => {
    await relay.open();
    await waitFor(
      'cp-a to follow cp-b again',
      async () => {
        const c = (await getJson(a.port, '/v1/cluster')) as { role: string; leader: { replicaId: string } | null };
        return c.role === 'follower' && c.leader?.replicaId === 'cp-b';
      },
      { timeoutMs: 20_000 },
    );
    // An agent that knows only cp-a is accepted again.
    const late = await mesh.agent({ agentId: 'late', cps: [a], outbound: true, calls: ['hello'] });
    await waitFor('the late agent to route through cp-a', async () => (await endpointIds(late, 'hello')).length === 2);
    expect(await localAgents(a)).toEqual(['late']);
  });
});
