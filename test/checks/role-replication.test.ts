import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN, api } from '../harness/admin-api.js';
import { type EtcdCluster, startEtcdCluster } from '../harness/etcd.js';
import { mintJoinCredential } from '../harness/join-credential.js';
import { type ControlPlaneHandle, withMesh } from '../harness/mesh.js';
import { waitFor } from '../harness/wait.js';
import { RawAgent } from './raw-agent.js';

// Two control-plane replicas on a real etcd: the role and offset an agent's
// check reports on one replica reach the other (in the agent's
// registration), so whichever replica leads builds tables with it.

async function reported(cp: ControlPlaneHandle, id: string) {
  const items = (await api(cp, 'GET', '/v1/instances')).body.items as Array<{
    id: string;
    role: string | null;
    replicationOffset: number | null;
  }>;
  const i = items.find((x) => x.id === id);
  return i && { role: i.role, offset: i.replicationOffset };
}

describe('roles across control-plane replicas', () => {
  const mesh = withMesh();
  let etcd: EtcdCluster;
  let a: ControlPlaneHandle;
  let b: ControlPlaneHandle;
  let agent: RawAgent;

  beforeAll(async () => {
    etcd = await startEtcdCluster(mesh.scratch, 1);
    const replica = (name: string) =>
      mesh.controlPlane({
        auth: { adminToken: ADMIN },
        store: { kind: 'etcd', etcd: { endpoints: etcd.endpoints, requestTimeoutMs: 2_000 } },
        dataDir: join(mesh.scratch.dir, `cp-${name}`),
      });
    a = await replica('a');
    b = await replica('b');
  }, 120_000);

  afterAll(async () => {
    agent?.ws.terminate();
    await etcd?.stop();
  });

  it('shows on each replica the role and offset an agent of the other reported, and follows their changes', async () => {
    const token = await mintJoinCredential(a, 'pg', [a, b]);
    agent = await RawAgent.connect(b, 'pg-9', {
      joinToken: token,
      instance: { service: 'pg', id: 'pg-9', host: '127.0.0.1', port: 1, tier: 0, weight: 1, labels: {} },
    });
    agent.send({ type: 'health', status: 'healthy', role: 'replica', replicationOffset: 100 });
    for (const cp of [b, a])
      await waitFor(`${cp.url} to show pg-9 a replica at 100`, async () => {
        const r = await reported(cp, 'pg-9');
        return r?.role === 'replica' && r.offset === 100;
      });
    agent.send({ type: 'health', status: 'healthy', role: 'replica', replicationOffset: 250 });
    await waitFor('A to see the offset move', async () => (await reported(a, 'pg-9'))?.offset === 250);
    agent.send({ type: 'health', status: 'healthy', role: 'primary', replicationOffset: 300 });
    await waitFor('A to see the promotion', async () => (await reported(a, 'pg-9'))?.role === 'primary');
    // Whichever replica leads, the published table marks it.
    const table = (await api(a, 'GET', '/v1/services/pg')).body as {
      instances: Array<{ id: string; role: string | null }>;
    };
    expect(table.instances.find((i) => i.id === 'pg-9')?.role).toBe('primary');
  });
});
