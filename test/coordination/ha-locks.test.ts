import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN, api } from '../harness/admin-api.js';
import { type EtcdCluster, startEtcdCluster } from '../harness/etcd.js';
import { type ControlPlaneHandle, Scratch, startControlPlane } from '../harness/mesh.js';
import { killAll } from '../harness/process.js';
import { RawCoordAgent } from '../harness/raw-coord-agent.js';
import { replicaSettings } from '../harness/replica-settings.js';

// Three control-plane replicas on etcd: a lock is one etcd lease and key,
// so any replica serves any operation. An agent that acquired through one
// replica renews and releases through another after moving, a watcher on a
// third hears each change, and a lease that its holder stops renewing lapses
// in etcd and frees the lock everywhere.

const scratch = new Scratch();
const SHARED = 'shared-join-token-0123456789abcdef';
const agents: RawCoordAgent[] = [];
let etcd: EtcdCluster;
let replicas: ControlPlaneHandle[];

const open = async (cp: ControlPlaneHandle, agentId: string, instanceId: string) => {
  const a = await RawCoordAgent.open(cp.streamUrl, agentId, 'ledger', instanceId, { joinToken: SHARED });
  agents.push(a);
  return a;
};

beforeAll(async () => {
  etcd = await startEtcdCluster(scratch, 1);
  replicas = [];
  for (const name of ['r1', 'r2', 'r3'])
    replicas.push(
      await startControlPlane(scratch, {
        ...replicaSettings(scratch, name, etcd.endpoints),
        auth: { adminToken: ADMIN, joinToken: SHARED, allowSharedJoinToken: true },
      }),
    );
});

afterAll(async () => {
  for (const a of agents) a.close();
  await killAll();
  scratch.remove();
});

describe('locks across control-plane replicas on etcd', () => {
  it('acquired through one replica, renewed and released through another, watched from a third', async () => {
    const [r1, r2, r3] = replicas as [ControlPlaneHandle, ControlPlaneHandle, ControlPlaneHandle];
    const watcher = await open(r3, 'watcher', 'ledger-w');
    await watcher.ask({ op: 'watch', name: 'books' });
    const first = await open(r1, 'holder', 'ledger-1');
    const token = (await first.ask({ op: 'acquire', name: 'books', ttlMs: 5_000 })).state.token;
    await watcher.event('the acquire, through etcd', (e) => e.reason === 'acquired' && e.state.token === token);
    for (const cp of replicas)
      expect((await api(cp, 'GET', '/v1/locks?service=ledger')).body.locks).toEqual([
        expect.objectContaining({ name: 'books', token }),
      ]);
    // The agent moves to another replica (as after its replica went away), and carries on there.
    first.close();
    const moved = await open(r2, 'holder', 'ledger-1');
    expect(await moved.ask({ op: 'renew', name: 'books', token })).toMatchObject({ ok: true, state: { token } });
    const other = await open(r2, 'other', 'ledger-2');
    expect(await other.ask({ op: 'release', name: 'books', token })).toMatchObject({ code: 'MESHLET_LOCK_NOT_HELD' });
    expect(await moved.ask({ op: 'release', name: 'books', token })).toMatchObject({ ok: true });
    const released = await watcher.event('the release, through etcd', (e) => e.reason === 'released');
    expect(released.state.holder).toBeUndefined();
    const next = await other.ask({ op: 'acquire', name: 'books', ttlMs: 5_000 });
    expect(next.state.token).toBeGreaterThan(token);
    await other.ask({ op: 'release', name: 'books', token: next.state.token });
  });

  it('a lease its holder stops renewing lapses in etcd: every replica sees the lock free (expired)', async () => {
    const [r1, , r3] = replicas as [ControlPlaneHandle, ControlPlaneHandle, ControlPlaneHandle];
    const watcher = await open(r3, 'watcher-2', 'ledger-w2');
    await watcher.ask({ op: 'watch', name: 'lapse' });
    const holder = await open(r1, 'holder-2', 'ledger-3');
    const token = (await holder.ask({ op: 'acquire', name: 'lapse', ttlMs: 1_000 })).state.token;
    expect(await watcher.event('the expiry', (e) => e.reason === 'expired')).toMatchObject({
      state: { name: 'lapse' },
    });
    expect(await holder.event('the holder told', (e) => e.lost === token)).toMatchObject({ reason: 'expired' });
    expect((await api(r1, 'GET', '/v1/locks?service=ledger')).body.locks).toEqual([]);
  });
});
