import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { type EtcdCluster, startEtcdCluster } from './harness/etcd.js';
import { meshctl, rowOf, type Run } from './harness/meshctl.js';
import { type ControlPlaneHandle, withMesh } from './harness/mesh.js';
import { waitFor } from './harness/wait.js';

// meshctl, the built binary, against two control-plane replicas on a real
// etcd (issue 7): get cluster on the leader and on the follower, the
// REPLICA column of get agents, and a failover and failback sent to the
// follower that meshctl resends to the leader it names.

const ADMIN = 'meshctl-ha-admin-token-0123456789';

/** Runs meshctl ARGS --server SERVER with the admin token. */
function meshctlOn(server: ControlPlaneHandle, home: string, ...args: string[]): Promise<Run> {
  return meshctl([...args, '--server', server.url], { env: { MESHCTL_TOKEN: ADMIN }, home });
}

describe('meshctl with control-plane replicas on etcd', () => {
  const mesh = withMesh();
  const { scratch } = mesh;
  let etcd: EtcdCluster;
  let a: ControlPlaneHandle;
  let b: ControlPlaneHandle;
  const run = (cp: ControlPlaneHandle, ...args: string[]) => meshctlOn(cp, scratch.dir, ...args);
  const json = async (cp: ControlPlaneHandle, ...args: string[]) => {
    const r = await run(cp, ...args, '-o', 'json');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    return JSON.parse(r.stdout);
  };

  const replica = (name: string) =>
    mesh.controlPlane({
      auth: { adminToken: ADMIN },
      store: {
        kind: 'etcd',
        etcd: { endpoints: etcd.endpoints, requestTimeoutMs: 2000, leaseTtlSeconds: 2, replicaId: name },
      },
      dataDir: join(scratch.dir, `cp-${name}`),
      failover: { failbackHoldMs: 60_000 },
    });

  beforeAll(async () => {
    etcd = await startEtcdCluster(scratch, 1);
    // A first, alone: it leads.
    a = await replica('cp-a');
    await waitFor('cp-a to lead', async () => (await json(a, 'get', 'cluster')).role === 'leader', {
      timeoutMs: 10_000,
    });
    b = await replica('cp-b');
    // A two-tier service, both instances on A.
    await mesh.start({
      connectTo: a,
      instances: {
        db: [
          { id: 'db-1', tier: 0 },
          { id: 'db-2', tier: 1 },
        ],
      },
    });
    await waitFor(
      'cp-b to name cp-a as the leader',
      async () => (await json(b, 'get', 'cluster')).leader?.replicaId === 'cp-a',
      { timeoutMs: 10_000 },
    );
    for (const cp of [a, b]) {
      await waitFor(`${cp.url} to list db with both instances healthy`, async () => {
        const db = (await json(cp, 'get', 'services')).services.find((s: { name: string }) => s.name === 'db');
        return db?.total === 2 && db.healthy === 2;
      });
    }
  });

  it('get cluster: the leader and the follower each show their role and name the leader', async () => {
    const onA = await run(a, 'get', 'cluster');
    expect(onA.stderr).toBe('');
    expect(onA.stdout.split('\n')[0]).toMatch(/^REPLICA +ROLE +LEADER +LEADER-URL +SINCE +STORE$/);
    const rowA = rowOf(onA.stdout, 'cp-a');
    expect(rowA?.slice(0, 4)).toEqual(['cp-a', 'leader', 'cp-a', a.url]);
    expect(rowA?.[5]).toBe('etcd');

    const rowB = rowOf((await run(b, 'get', 'cluster')).stdout, 'cp-b');
    expect(rowB?.slice(0, 4)).toEqual(['cp-b', 'follower', 'cp-a', a.url]);
    expect(rowB?.[4]).toMatch(/^\d+(s|m\d*s?)$/);
    expect(await json(b, 'get', 'cluster')).toMatchObject({
      replicaId: 'cp-b',
      role: 'follower',
      leader: { replicaId: 'cp-a', url: a.url },
      store: 'etcd',
    });
  });

  it('get agents: REPLICA names the replica an agent is on when it is another one', async () => {
    const onB = await run(b, 'get', 'agents');
    expect(onB.stdout.split('\n')[0]).toMatch(/^AGENT +CONNECTED +REPLICA +SERVICE +APPLIED +SENT +IN-SYNC +NACK$/);
    expect(rowOf(onB.stdout, 'db-1')?.slice(0, 4)).toEqual(['db-1', 'yes', 'cp-a', 'db']);
    expect(rowOf((await run(a, 'get', 'agents')).stdout, 'db-1')?.slice(0, 4)).toEqual(['db-1', 'yes', '-', 'db']);
  });

  it('failover and failback sent to the follower go to the leader, once, with a note on stderr', async () => {
    const note = `note: ${b.url} follows; sent to the leader at ${a.url}\n`;
    expect(await run(b, 'failover', 'db')).toEqual({
      code: 0,
      stdout: 'service/db failed over: active tier 1\n',
      stderr: note,
    });
    await waitFor(
      'both replicas to show db on tier 1',
      async () =>
        (await json(a, 'get', 'service', 'db')).activeTier === 1 &&
        (await json(b, 'get', 'service', 'db')).activeTier === 1,
      {
        timeoutMs: 5000,
      },
    );
    expect(await run(b, 'failback', 'db')).toEqual({
      code: 0,
      stdout: 'service/db failed back: active tier 0\n',
      stderr: note,
    });
    // The leader's refusal comes back as it is.
    const refused = await run(b, 'failover', 'nope');
    expect(refused.code).toBe(1);
    expect(refused.stderr.startsWith(note)).toBe(true);
    expect(refused.stderr.slice(note.length)).toMatch(/^meshctl: failover nope: .+ \(404 MESHLET_NOT_FOUND\)\n$/);
    // Sent to the leader itself: no note.
    expect(await run(a, 'failover', 'db')).toEqual({
      code: 0,
      stdout: 'service/db failed over: active tier 1\n',
      stderr: '',
    });
    expect((await run(a, 'failback', 'db')).code).toBe(0);
  });
});
