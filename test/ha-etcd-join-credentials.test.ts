import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ADMIN, api } from './harness/admin-api.js';
import { startEtcdCluster } from './harness/etcd.js';
import { type AgentHandle, type ControlPlaneHandle, startAgent, startDemoApp, withMesh } from './harness/mesh.js';
import { waitFor } from './harness/wait.js';

// Join credentials live in etcd: one minted through replica A admits an
// agent on replica B, and revoking it through A sends that agent away from B.

describe('join credentials on etcd replicas', () => {
  const mesh = withMesh();
  let a: ControlPlaneHandle;
  let b: ControlPlaneHandle;
  let agent: AgentHandle;
  let id = '';
  let credential = '';

  beforeAll(async () => {
    const etcd = await startEtcdCluster(mesh.scratch, 1);
    const replica = (name: string) =>
      mesh.controlPlane({
        auth: { adminToken: ADMIN },
        store: { kind: 'etcd', etcd: { endpoints: etcd.endpoints, requestTimeoutMs: 3000 } },
        // Set explicitly: auto is a config error on etcd.
        identity: { ca: { source: 'memory' } },
        dataDir: join(mesh.scratch.dir, `cp-${name}`),
      });
    a = await replica('a');
    b = await replica('b');
  });

  it('a credential minted through one replica admits an agent on another', async () => {
    const minted = await api(a, 'POST', '/v1/join-credentials', { service: 'hello' });
    expect(minted.status).toBe(201);
    ({ id, credential } = minted.body);
    const listed = await api(b, 'GET', '/v1/join-credentials');
    expect(listed.body.items).toEqual([expect.objectContaining({ id, service: 'hello', state: 'active' })]);
    const app = await startDemoApp('hello', 'hello-1');
    agent = await startAgent(mesh.scratch, {
      agentId: 'hello-1',
      cp: b,
      instance: { service: 'hello', app },
      joinToken: credential,
    });
    await waitFor('hello-1 healthy on B', async () => (await api(b, 'GET', '/v1/services/hello')).body.healthy === 1);
  });

  it('a credential revoked through one replica sends its agent away from another', async () => {
    expect((await api(a, 'DELETE', `/v1/join-credentials/${id}`)).status).toBe(200);
    await waitFor('hello-1 to be sent away by B', async () =>
      agent.proc.output.includes(`join credential ${id} was revoked`),
    );
    await waitFor('hello-1 disconnected on B', async () => {
      const agents = (await api(b, 'GET', '/v1/agents')).body.agents as any[];
      return agents.find((x) => x.agentId === 'hello-1')?.connected === false;
    });
    const secret = credential.split('_').slice(2).join('_');
    for (const p of [a.proc, b.proc, agent.proc]) expect(p.output, p.name).not.toContain(secret);
  });
});
