import { EtcdStore } from '@meshlet/control-plane/store/etcd-store';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EtcdCluster, startEtcdCluster } from './harness/etcd.js';
import { Scratch } from './harness/mesh.js';
import { killAll } from './harness/process.js';
import { waitFor } from './harness/wait.js';

// Real etcd members on loopback (Debian's etcd-server), as production runs
// them: the store's contract, replicas seeing each other's writes through the
// watch, and what happens to writes and reads when the quorum goes and comes back.

const scratch = new Scratch();
const stores: EtcdStore[] = [];
let prefixes = 0;

/** A store on its own prefix (each test starts from an empty store), closed after the file. */
async function openStore(endpoints: string[], prefix = `/meshlet-test-${++prefixes}/`): Promise<EtcdStore> {
  const s = new EtcdStore({ endpoints, prefix });
  stores.push(s);
  await s.open();
  return s;
}

afterAll(async () => {
  await Promise.all(stores.map((s) => s.close().catch(() => undefined)));
  await killAll();
  scratch.remove();
});

describe('EtcdStore on one etcd member', () => {
  let etcd: EtcdCluster;
  beforeAll(async () => {
    etcd = await startEtcdCluster(scratch, 1);
  });

  it('keeps values across a reopen, last write winning, with etcd revisions', async () => {
    const prefix = '/meshlet-contract-1/';
    const a = await openStore(etcd.endpoints, prefix);
    const start = a.revision();
    expect(start).toBeGreaterThan(0);
    const revs = await Promise.all([a.put('k', 1), a.put('k', 2), a.put('other', { x: true }), a.put('k', 3)]);
    // etcd orders the concurrent writes; each gets its own revision, after the store's.
    expect(new Set(revs).size).toBe(4);
    for (const r of revs) expect(r).toBeGreaterThan(start);
    expect(a.get('other')).toEqual({ x: true });
    const b = await openStore(etcd.endpoints, prefix);
    expect(b.get('k')).toBe(a.get('k'));
    expect(b.modRevision('k')).toBe(a.modRevision('k'));
    expect(b.modRevision('other')).toBe(revs[2]);
    expect(b.revision()).toBeGreaterThanOrEqual(Math.max(...revs));
    // The last write to reach etcd wins, and a read right after it sees it.
    const last = await a.put('k', 4);
    expect(a.get('k')).toBe(4);
    expect(a.modRevision('k')).toBe(last);
    expect(a.revision()).toBe(last);
  });

  it("keeps each key's modRevision, tombstones for deletions and a cluster id across a reopen", async () => {
    const prefix = '/meshlet-contract-2/';
    const a = await openStore(etcd.endpoints, prefix);
    const r1 = await a.put('policies/a', { x: 1 });
    const r2 = await a.put('policies/b', { x: 2 });
    const r3 = await a.put('policies/a', { x: 3 });
    const r4 = await a.delete('policies/b');
    expect(r4).toBeGreaterThan(r3);
    // Deleting a key without a value makes no revision.
    expect(await a.delete('policies/nope')).toBe(r4);
    expect(a.revision()).toBe(r4);
    const r5 = await a.put('other', 1);
    expect(a.modRevision('policies/a')).toBe(r3);
    expect(a.modRevision('policies/b')).toBeUndefined();
    expect(a.get('policies/b')).toBeUndefined();
    expect(a.keys('policies/')).toEqual(['policies/a']);
    expect(a.keys()).toEqual(['other', 'policies/a']);
    expect(a.changesSince(0)).toEqual([
      { key: 'other', modRevision: r5, value: 1 },
      { key: 'policies/a', modRevision: r3, value: { x: 3 } },
    ]);
    expect(a.changesSince(r2)).toEqual([
      { key: 'other', modRevision: r5, value: 1 },
      { key: 'policies/a', modRevision: r3, value: { x: 3 } },
      { key: 'policies/b', modRevision: r4, deleted: true },
    ]);
    expect(a.changesSince(r4)).toEqual([{ key: 'other', modRevision: r5, value: 1 }]);
    expect(r1).toBeLessThan(r2);

    // A put over a tombstone removes it.
    const r6 = await a.put('policies/b', { x: 6 });
    expect(a.changesSince(r2).find((c) => c.key === 'policies/b')).toEqual({
      key: 'policies/b',
      modRevision: r6,
      value: { x: 6 },
    });
    await a.delete('policies/b');

    await a.close();
    const b = await openStore(etcd.endpoints, prefix);
    expect(b.changesSince(r2)).toEqual(a.changesSince(r2));
    expect(b.changesSince(0)).toEqual(a.changesSince(0));
    expect(b.clusterId()).toBe(a.clusterId());
    expect(b.clusterId()).toMatch(/^[0-9a-f-]{36}$/);
    // Another prefix is another meshlet cluster.
    const c = await openStore(etcd.endpoints);
    expect(c.clusterId()).not.toBe(b.clusterId());
    expect(c.keys()).toEqual([]);
  });

  it("shows one replica's writes and deletions to another through the watch, and calls onChange", async () => {
    const prefix = '/meshlet-replicas/';
    const a = await openStore(etcd.endpoints, prefix);
    const b = await openStore(etcd.endpoints, prefix);
    const seen: string[] = [];
    b.onChange((key) => seen.push(key));
    const rev = await a.put('services/api', { port: 80 });
    await waitFor('replica b to see the put', () => b.modRevision('services/api') === rev, { timeoutMs: 5_000 });
    expect(b.get('services/api')).toEqual({ port: 80 });
    expect(seen).toContain('services/api');
    expect(b.revision()).toBeGreaterThanOrEqual(rev);

    seen.length = 0;
    const del = await a.delete('services/api');
    await waitFor('replica b to see the deletion', () => b.get('services/api') === undefined, { timeoutMs: 5_000 });
    expect(seen).toEqual(['services/api']);
    expect(b.changesSince(rev)).toEqual([{ key: 'services/api', modRevision: del, deleted: true }]);
    expect(b.changesSince(rev)).toEqual(a.changesSince(rev));
  });
});

describe('EtcdStore on three etcd members', () => {
  let etcd: EtcdCluster;
  beforeAll(async () => {
    etcd = await startEtcdCluster(scratch, 3);
  });

  it('writes through one lost member; refuses writes without a quorum while reads answer from memory; catches up when it is back', async () => {
    const prefix = '/meshlet-quorum/';
    const a = await openStore(etcd.endpoints, prefix);
    const b = await openStore(etcd.endpoints, prefix);
    const [m0, m1] = etcd.members as [EtcdCluster['members'][0], EtcdCluster['members'][0]];

    await m0.kill();
    const r1 = await a.put('config', { v: 1 });
    expect(a.get('config')).toEqual({ v: 1 });
    await waitFor('replica b to see the write made with one member down', () => b.modRevision('config') === r1, {
      timeoutMs: 15_000,
    });

    await m1.kill();
    const t0 = performance.now();
    const failed = await a.put('config', { v: 2 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    const elapsed = performance.now() - t0;
    expect(failed, 'a put without a quorum must fail').toMatchObject({ code: 'MESHLET_STORE_UNAVAILABLE' });
    expect((failed as Error).message).toMatch(
      /the etcd cluster at http:\/\/127\.0\.0\.1:\d+.* cannot commit writes \(.+\); the control plane keeps serving from memory; writes resume when a quorum is back/,
    );
    expect(elapsed, "the put fails within the request timeout, not etcd's own").toBeLessThan(6_000);
    await expect(a.delete('config')).rejects.toMatchObject({ code: 'MESHLET_STORE_UNAVAILABLE' });
    // Reads keep answering from memory.
    expect(a.get('config')).toEqual({ v: 1 });
    expect(b.get('config')).toEqual({ v: 1 });
    expect(a.keys()).toEqual(['config']);

    await Promise.all([m0.restart(), m1.restart()]);
    const r3 = await waitFor('writes to succeed again', () => a.put('after', { v: 3 }).catch(() => undefined), {
      timeoutMs: 30_000,
      intervalMs: 200,
    });
    expect(a.get('after')).toEqual({ v: 3 });
    await waitFor('replica b to catch up', () => b.modRevision('after') === r3, { timeoutMs: 30_000 });
    expect(b.get('after')).toEqual({ v: 3 });
    // Whatever became of the write that timed out, both replicas agree on it.
    await waitFor('both replicas to agree on config', () => a.modRevision('config') === b.modRevision('config'), {
      timeoutMs: 10_000,
    });
    expect(b.get('config')).toEqual(a.get('config'));
    expect(b.changesSince(0)).toEqual(a.changesSince(0));
  });
});
