import { join } from 'node:path';
import getPort from 'get-port';
import { beforeAll, describe, expect, it } from 'vitest';
import { connectedIds } from './harness/cluster.js';
import { getJson } from './harness/http.js';
import { requestLoop } from './harness/load.js';
import { type AgentHandle, type ControlPlaneHandle, agentTable, endpointIds, withMesh } from './harness/mesh.js';
import { sharedCaSettings } from './harness/shared-ca.js';
import { waitFor } from './harness/wait.js';

// Agents given two control planes (controlPlane.urls) move to the other when
// the one they use dies, resuming at the table version they hold, while the
// data path keeps serving. The two control planes here are independent (no
// shared store; that is the etcd part of issue 7): each knows only the agents
// connected to it. So the second one is started only once every agent is on
// the first (agents that picked it first found nothing listening and moved
// on), with a startup grace so that it pushes nothing until they have all
// come over, as a replica would whose store already held them.

// Independent control planes share no store, so no join credential either:
// they admit the agents with the shared join token (as a mesh not yet moved
// to per-service credentials would, with auth.allowSharedJoinToken).
const SHARED_JOIN = { joinToken: 'shared-join-5e0d1c9b7a3f', allowSharedJoinToken: true };

describe('agents move to another control plane when theirs dies', () => {
  const mesh = withMesh();
  const { scratch } = mesh;
  let cp1: ControlPlaneHandle;
  let cp2: ControlPlaneHandle;
  let cp2Port: number;
  let ca: Awaited<ReturnType<typeof sharedCaSettings>>;
  let client: AgentHandle;
  const ids = ['client', 'hello-1', 'hello-2'];

  beforeAll(async () => {
    cp2Port = await getPort();
    const cp2Planned = { streamUrl: `ws://127.0.0.1:${cp2Port}/v1/stream` };
    // One CA for both control planes (operator files): agents that move to cp2 keep their certificates, and
    // peers keep trusting each other. With a CA each, the agents would re-certify one by one as they reconnect,
    // and calls between agents certified by cp1 and by cp2 would be refused meanwhile.
    ca = await sharedCaSettings(join(scratch.dir, 'shared-ca'));
    cp1 = await mesh.controlPlane({ dataDir: join(scratch.dir, 'cp1-data'), auth: SHARED_JOIN, ...ca });
    ({ client } = await mesh.start({
      joinToken: SHARED_JOIN.joinToken,
      connectTo: [cp1, cp2Planned],
      instances: { hello: ['hello-1', 'hello-2'] },
      client: { calls: ['hello'] },
    }));
  });

  it('connects every agent, and shows the URL in use and the list', async () => {
    expect(await connectedIds(cp1)).toEqual(ids);
    const cfg = await getJson(client.adminPort, '/config');
    expect(cfg.controlPlane).toMatchObject({
      connected: true,
      url: cp1.streamUrl,
      urls: [cp1.streamUrl, `ws://127.0.0.1:${cp2Port}/v1/stream`],
    });
    expect((await getJson(client.adminPort, '/ready')).controlPlane).toMatchObject({
      connected: true,
      url: cp1.streamUrl,
    });
  });

  it('reconnects every agent to the other control plane after kill -9, with no failed request', async () => {
    cp2 = await mesh.controlPlane(
      {
        dataDir: join(scratch.dir, 'cp2-data'),
        auth: SHARED_JOIN,
        ...ca,
        push: { debounceMs: 10, maxDelayMs: 100, startupGraceMs: 3000 },
      },
      cp2Port,
    );
    const versionBefore = (await agentTable(client))?.version ?? 0;
    const load = requestLoop(client.outboundPort as number, 'http://hello/', { workers: 2, maxMs: 30_000 });
    await waitFor('requests flowing', () => load.result.sent > 20);

    const killedAt = Date.now();
    cp1.proc.child.kill('SIGKILL');
    await cp1.proc.exited();

    const clientBack = await waitFor(
      'the client on the second control plane',
      async () => {
        const c = (await getJson(client.adminPort, '/config')).controlPlane;
        return c.connected && c.url === cp2.streamUrl ? Date.now() - killedAt : undefined;
      },
      { timeoutMs: 10_000 },
    );
    const allBack = await waitFor(
      'every agent on the second control plane',
      async () => ((await connectedIds(cp2)).join() === ids.join() ? Date.now() - killedAt : undefined),
      { timeoutMs: 10_000 },
    );
    const tableBack = await waitFor(
      'the client holding a table from the second control plane with both instances',
      async () => {
        const t = await agentTable(client);
        const ok =
          t !== null &&
          t.source === 'control-plane' &&
          t.version > versionBefore &&
          (await endpointIds(client, 'hello')).length === 2;
        return ok ? Date.now() - killedAt : undefined;
      },
      { timeoutMs: 15_000 },
    );
    // The startup grace (3 s from the second control plane's start) bounds the last time, not the reconnect.
    // Keep the load on a little after the new table, so requests routed by it count too.
    const sentAtTable = load.result.sent;
    await waitFor('requests through the new table', () => load.result.sent > sentAtTable + 50, { timeoutMs: 10_000 });
    const result = await load.stop();

    process.stdout.write(
      `control-plane failover: client reconnected in ${clientBack} ms, all 3 agents in ${allBack} ms, ` +
        `table with both instances in ${tableBack} ms; ${result.sent} requests, ${result.failed} failed\n`,
    );
    // The move is logged at warn with both URLs.
    const move = client.proc.output
      .split('\n')
      .find((l) => l.includes('moving to the next control-plane URL') && l.includes(`"from":"${cp1.streamUrl}"`));
    expect(move).toContain(`"to":"${cp2.streamUrl}"`);
    expect(move).toContain('"level":40');
    expect(result.failures).toEqual([]);
    expect(result.failed).toBe(0);
    expect([...result.byInstance.keys()].sort()).toEqual(['hello-1', 'hello-2']);
    expect(allBack).toBeLessThan(5_000);
    const t = await agentTable(client);
    expect(Object.keys(t?.services ?? {})).toContain('hello');
  });
});
