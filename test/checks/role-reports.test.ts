import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api } from '../harness/admin-api.js';
import { mintJoinCredential } from '../harness/join-credential.js';
import { type ControlPlaneHandle, withMesh } from '../harness/mesh.js';
import { waitFor } from '../harness/wait.js';
import { RawAgent } from './raw-agent.js';

// Agents speaking the stream protocol by hand (no agent process): what a
// hostile or broken agent can make the control plane record of roles.

const instance = (id: string) => ({ service: 'pg', id, host: '127.0.0.1', port: 1, tier: 0, weight: 1, labels: {} });

async function roles(cp: ControlPlaneHandle): Promise<Record<string, { role: string | null; offset: number | null }>> {
  const a = await api(cp, 'GET', '/v1/instances', undefined, null);
  expect(a.status).toBe(200);
  const items = (a.body as { items: Array<{ id: string; role: string | null; replicationOffset: number | null }> })
    .items;
  return Object.fromEntries(items.map((i) => [i.id, { role: i.role, offset: i.replicationOffset }]));
}

async function refusedHealth(cp: ControlPlaneHandle): Promise<number> {
  const text = (await api(cp, 'GET', '/metrics', undefined, null)).body as string;
  const m = /meshlet_cp_reports_refused_total\{[^}]*type="health"[^}]*\} (\d+)/.exec(text);
  return m ? Number(m[1]) : 0;
}

describe('role reports from agents', () => {
  const mesh = withMesh();
  let cp: ControlPlaneHandle;
  const agents: RawAgent[] = [];

  beforeAll(async () => {
    cp = await mesh.controlPlane();
  });
  afterAll(() => {
    for (const a of agents) a.ws.terminate();
  });

  it('a health report from an agent claiming a role for another instance: only its own admitted instance is recorded', async () => {
    const token = await mintJoinCredential(cp, 'pg');
    // The agent whose id is "pg-2" fronts instance pg-1; instance pg-2 is another agent's.
    const impostor = await RawAgent.connect(cp, 'pg-2', { joinToken: token, instance: instance('pg-1') });
    const owner = await RawAgent.connect(cp, 'agent-b', { joinToken: token, instance: instance('pg-2') });
    const client = await RawAgent.connect(cp, 'client-x', {
      joinToken: await mintJoinCredential(cp, 'web'),
      service: 'web',
    });
    agents.push(impostor, owner, client);
    owner.send({ type: 'health', status: 'healthy', role: 'replica', replicationOffset: 900 });
    await waitFor('pg-2 recorded as a replica', async () => (await roles(cp))['pg-2']?.role === 'replica');
    // It names pg-2 in every way a report could: its agent id, and fields the schema does not have.
    impostor.send({
      type: 'health',
      status: 'healthy',
      role: 'primary',
      replicationOffset: 5,
      instance: instance('pg-2'),
      id: 'pg-2',
      instanceId: 'pg-2',
      service: 'pg',
    });
    // A client-only agent claiming a role.
    client.send({ type: 'health', status: 'healthy', role: 'primary', replicationOffset: 10_000 });
    await waitFor('pg-1 recorded', async () => (await roles(cp))['pg-1']?.role === 'primary');
    const r = await roles(cp);
    expect(r['pg-1']).toEqual({ role: 'primary', offset: 5 });
    expect(r['pg-2']).toEqual({ role: 'replica', offset: 900 });
    expect(Object.keys(r).sort()).toEqual(['pg-1', 'pg-2']);
    // The tables agree: pg-2 stays a replica.
    const table = (await api(cp, 'GET', '/v1/services/pg', undefined, null)).body as {
      instances: Array<{ id: string; role: string | null }>;
    };
    expect(table.instances.find((i) => i.id === 'pg-2')?.role).toBe('replica');
  });

  it('a report flood with changing offsets: rate limited, coalesced (the newest applies), the table not churned per report', async () => {
    const token = await mintJoinCredential(cp, 'pg');
    const flooder = await RawAgent.connect(cp, 'pg-3', { joinToken: token, instance: instance('pg-3') });
    agents.push(flooder);
    const refusedBefore = await refusedHealth(cp);
    const versionBefore = (await api(cp, 'GET', '/v1/services', undefined, null)).body.tableVersion as number;
    const N = 2_000;
    for (let i = 1; i <= N; i++)
      flooder.send({ type: 'health', status: 'healthy', role: i % 2 ? 'replica' : 'primary', replicationOffset: i });
    // Held reports are applied at the agent's next heartbeat with a token free: the newest one wins.
    let seq = 0;
    const last = await waitFor(
      'the newest report applied',
      async () => {
        flooder.send({ type: 'heartbeat', seq: seq++ });
        const r = (await roles(cp))['pg-3'];
        return r?.offset === N && r;
      },
      { timeoutMs: 20_000, intervalMs: 200 },
    );
    expect(last).toEqual({ role: 'primary', offset: N });
    const refused = (await refusedHealth(cp)) - refusedBefore;
    // The bucket (burst 40, 20 a second) let few through: the rest were refused and counted.
    expect(refused).toBeGreaterThan(N - 400);
    const versionAfter = (await api(cp, 'GET', '/v1/services', undefined, null)).body.tableVersion as number;
    expect(versionAfter - versionBefore).toBeLessThan(400);
  });
});
