import { EtcdLockBackend } from '@meshlet/control-plane/coordination/etcd-lock-backend';
import type { LockChange, LockRecord } from '@meshlet/control-plane/coordination/lock-backend';
import { EtcdStore } from '@meshlet/control-plane/store/etcd-store';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EtcdCluster, startEtcdCluster } from '../harness/etcd.js';
import { Scratch } from '../harness/mesh.js';
import { killAll } from '../harness/process.js';
import { waitFor } from '../harness/wait.js';

// The etcd lock backend against a real etcd member, as two replicas use it:
// two stores on one prefix, each with its backend. One etcd lease per
// acquire, the token the put's revision, renew and release through the other
// replica, and a lease that lapses freeing the lock for both.

const scratch = new Scratch();
const stores: EtcdStore[] = [];
let etcd: EtcdCluster;
let prefixes = 0;

const rec = (agentId: string, ttlMs = 5_000): LockRecord => ({
  holder: { agentId, instanceId: `${agentId}-i` },
  ttlMs,
  releaseOnUnhealthy: true,
});

/** Two replicas' backends on one fresh prefix, each recording the changes it learns of. */
async function replicas() {
  const prefix = `/meshlet-locks-${++prefixes}/`;
  const out = [];
  for (let i = 0; i < 2; i++) {
    const store = new EtcdStore({ endpoints: etcd.endpoints, prefix });
    stores.push(store);
    await store.open();
    const backend = new EtcdLockBackend({ store });
    await backend.open();
    const changes: LockChange[] = [];
    backend.onChange((c) => changes.push(c));
    out.push({ store, backend, changes });
  }
  return out as [(typeof out)[0], (typeof out)[0]];
}

beforeAll(async () => {
  etcd = await startEtcdCluster(scratch, 1);
});

afterAll(async () => {
  await Promise.all(stores.map((s) => s.close().catch(() => undefined)));
  await killAll();
  scratch.remove();
});

describe('EtcdLockBackend on a real etcd', () => {
  it('one holder through either replica: the token is the put revision; renew and release through the other replica', async () => {
    const [a, b] = await replicas();
    const key = 'coord/lock/svc/job';
    const token = (await a.backend.acquire(key, rec('a1'))) as number;
    expect(token).toBe(a.store.modRevision(key));
    await waitFor('replica b sees the holder', () => b.backend.read(key)?.token === token);
    expect(b.changes.at(-1)).toMatchObject({ key, now: { token } });
    expect(await b.backend.acquire(key, rec('b1'))).toBeUndefined();
    expect(await b.backend.renew(key, token, 5_000)).toBe(true);
    expect(await b.backend.renew(key, token + 1, 5_000)).toBe(false);
    expect(await b.backend.release(key, token + 1, { reason: 'released' })).toBeUndefined();
    const revision = await b.backend.release(key, token, { reason: 'forced', by: 'ops' });
    expect(revision).toBeGreaterThan(token);
    await waitFor('replica a sees it free', () => a.backend.read(key) === undefined);
    expect(a.changes.at(-1)).toMatchObject({ key, now: undefined, released: { token, reason: 'forced', by: 'ops' } });
    expect(await a.backend.renew(key, token, 5_000)).toBe(false);
  });

  it('renews and releases through a replica whose copy of the store has not caught up with the acquire yet', async () => {
    const [a, b] = await replicas();
    const key = 'coord/lock/svc/moved';
    const token = (await a.backend.acquire(key, rec('a1'))) as number;
    // No wait for b's watch (it usually has not delivered the put yet): an agent that moved replicas right after its acquire.
    expect(await b.backend.renew(key, token, 5_000)).toBe(true);
    expect(await b.backend.readLatest(key)).toMatchObject({ token, record: { holder: { agentId: 'a1' } } });
    expect(await b.backend.release(key, token, { reason: 'released' })).toBeGreaterThan(token);
  });

  it('both replicas racing for a free lock: exactly one wins', async () => {
    const [a, b] = await replicas();
    const key = 'coord/election/svc/leader';
    const won = await Promise.all([a.backend.acquire(key, rec('a1')), b.backend.acquire(key, rec('b1'))]);
    expect(won.filter((t) => t !== undefined)).toHaveLength(1);
  });

  it('tokens grow strictly across holders', async () => {
    const [a, b] = await replicas();
    const key = 'coord/lock/svc/fenced';
    const tokens: number[] = [];
    for (let i = 0; i < 4; i++) {
      const side = i % 2 === 0 ? a : b;
      const t = (await side.backend.acquire(key, rec(`h${i}`))) as number;
      expect(t).toBeDefined();
      tokens.push(t);
      await side.backend.release(key, t, { reason: 'released' });
    }
    for (let i = 1; i < tokens.length; i++) expect(tokens[i]).toBeGreaterThan(tokens[i - 1]!);
  });

  it('a lease that is not renewed lapses in etcd: both replicas see the lock free, with no release note (expired)', async () => {
    const [a, b] = await replicas();
    const key = 'coord/lock/svc/lapse';
    const token = (await a.backend.acquire(key, rec('a1', 1_000))) as number;
    await waitFor('the lease to lapse, as replica b sees it', () => b.backend.read(key) === undefined, {
      timeoutMs: 10_000,
    });
    await waitFor('replica a too', () => a.backend.read(key) === undefined);
    expect(b.changes.at(-1)).toMatchObject({ key, now: undefined });
    expect(b.changes.at(-1)!.released).toBeUndefined();
    expect(await a.backend.renew(key, token, 1_000)).toBe(false);
    expect(await b.backend.acquire(key, rec('b1'))).toBeGreaterThan(token);
  });

  it('attack: acquiring and releasing many distinct names leaves no tombstone, and release notes that lapse (bound to a lease)', async () => {
    const [a, b] = await replicas();
    const prefix = a.store.prefix;
    const names = 40;
    for (let i = 0; i < names; i++) {
      const key = `coord/lock/svc/churn-${i}`;
      const side = i % 2 === 0 ? a : b;
      const t = (await side.backend.acquire(key, rec('a1'))) as number;
      await side.backend.release(key, t, { reason: 'released' });
    }
    await waitFor(
      'replica a sees every release',
      () => a.changes.filter((c) => c.now === undefined).length >= names / 2,
    );
    const client = a.store.client;
    // Before the fix: one tombstone per name ever released, and a note per name that never went.
    expect(await client.getAll().prefix(`${prefix}tombstones/coord`).keys()).toEqual([]);
    const notes = await client.getAll().prefix(`${prefix}data/coord-note/`).exec();
    expect(notes.kvs.length).toBe(names);
    for (const kv of notes.kvs) expect(kv.lease).not.toBe('0');
    // Both notes' leases are etcd's to end (each replica's own: at most a minute).
    const leases = new Set(notes.kvs.map((kv) => kv.lease));
    expect(leases.size).toBeLessThanOrEqual(2);
    for (const lease of leases) {
      const ttl = await client.leaseClient.leaseTimeToLive({ ID: lease });
      expect(Number(ttl.TTL)).toBeGreaterThan(0);
      expect(Number(ttl.TTL)).toBeLessThanOrEqual(60);
    }
    expect(a.store.keys('coord/')).toEqual([]);
    expect(a.store.changesSince(1).filter((c) => c.key.startsWith('coord/'))).toEqual([]);
  });

  it("a free lock is announced at its deletion's revision on the other replica", async () => {
    const [a, b] = await replicas();
    const key = 'coord/lock/svc/rev';
    const t = (await a.backend.acquire(key, rec('a1'))) as number;
    const freed = (await a.backend.release(key, t, { reason: 'released' })) as number;
    await waitFor('replica b sees it free', () => b.changes.some((c) => c.key === key && c.now === undefined));
    expect(b.changes.find((c) => c.key === key && c.now === undefined)).toMatchObject({
      revision: freed,
      released: { token: t, reason: 'released' },
    });
  });
});
