import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { FileStore } from '../store/file-store.js';
import { FileLockBackend } from './file-lock-backend.js';
import type { LockChange, LockRecord } from './lock-backend.js';
import { ManualTimers, settle } from './test-support.js';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
const dir = () => {
  const d = mkdtempSync(join(tmpdir(), 'meshlet-locks-'));
  dirs.push(d);
  return d;
};
const rec = (agentId: string, ttlMs = 5_000): LockRecord => ({
  holder: { agentId, instanceId: `${agentId}-i` },
  ttlMs,
  releaseOnUnhealthy: true,
});

/** A file store whose deletions change its memory, then fail to reach the disk while `failing`. */
class FailingDeletes extends FileStore {
  failing = false;
  override delete(key: string): Promise<number> {
    const p = super.delete(key);
    return this.failing ? p.then(() => Promise.reject(new Error('ENOSPC: no space left on device'))) : p;
  }
}

async function open(d: string, timers = new ManualTimers(), store = new FileStore(d)) {
  await store.open();
  const backend = new FileLockBackend({ store, clock: timers.clock, timers });
  await backend.open();
  const changes: LockChange[] = [];
  backend.onChange((c) => changes.push(c));
  return { store, backend, timers, changes };
}

describe('FileLockBackend', () => {
  it('gives a free lock to one holder, its token being the store revision, and refuses a second', async () => {
    const { store, backend } = await open(dir());
    const t1 = await backend.acquire('coord/lock/a/x', rec('a1'));
    expect(t1).toBe(store.modRevision('coord/lock/a/x'));
    expect(await backend.acquire('coord/lock/a/x', rec('a2'))).toBeUndefined();
    expect(backend.read('coord/lock/a/x')).toMatchObject({ token: t1, record: { holder: { agentId: 'a1' } } });
  });

  it('tokens grow strictly across holders', async () => {
    const { backend } = await open(dir());
    const tokens: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t = (await backend.acquire('coord/lock/a/x', rec(`a${i}`))) as number;
      tokens.push(t);
      expect(await backend.release('coord/lock/a/x', t, { reason: 'released' })).toBeGreaterThan(t);
    }
    expect(tokens).toEqual([...tokens].sort((a, b) => a - b));
    expect(new Set(tokens).size).toBe(5);
  });

  it('expires a lease after its TTL, and a renew moves the deadline without changing the token', async () => {
    const { backend, timers, changes } = await open(dir());
    const t = (await backend.acquire('coord/lock/a/x', rec('a1', 3_000))) as number;
    timers.advance(2_000);
    expect(await backend.renew('coord/lock/a/x', t, 3_000)).toBe(true);
    timers.advance(2_000);
    await settle();
    expect(backend.read('coord/lock/a/x')?.token).toBe(t);
    timers.advance(1_001);
    await settle();
    expect(backend.read('coord/lock/a/x')).toBeUndefined();
    await vi.waitFor(() => expect(changes).toHaveLength(1));
    expect(changes).toEqual([
      expect.objectContaining({ key: 'coord/lock/a/x', released: { token: t, reason: 'expired' } }),
    ]);
    expect(await backend.renew('coord/lock/a/x', t, 3_000)).toBe(false);
  });

  it('release and renew need the token that holds the lock', async () => {
    const { backend } = await open(dir());
    const t = (await backend.acquire('coord/lock/a/x', rec('a1'))) as number;
    expect(await backend.renew('coord/lock/a/x', t + 1, 5_000)).toBe(false);
    expect(await backend.release('coord/lock/a/x', t + 1, { reason: 'released' })).toBeUndefined();
    expect(backend.read('coord/lock/a/x')?.token).toBe(t);
  });

  it('a restart keeps held locks and gives each a fresh full TTL from when it is back', async () => {
    const d = dir();
    const first = await open(d);
    const t = (await first.backend.acquire('coord/lock/a/x', rec('a1', 3_000))) as number;
    first.timers.advance(2_500);
    await first.backend.close();
    await first.store.close();
    const timers = new ManualTimers();
    timers.now = first.timers.now + 60_000;
    const again = await open(d, timers);
    expect(again.backend.read('coord/lock/a/x')?.token).toBe(t);
    timers.advance(2_999);
    await settle();
    expect(again.backend.read('coord/lock/a/x')?.token).toBe(t);
    timers.advance(2);
    await settle();
    expect(again.backend.read('coord/lock/a/x')).toBeUndefined();
  });
});

describe('locks in backups', () => {
  it('no snapshot carries a lock, and a restore leaves the locks held now alone', async () => {
    const { takeSnapshot, restoreSnapshots, verifySnapshots } = await import('../backup/snapshot.js');
    const { store, backend } = await open(dir());
    await store.put('policies/orders', { balancer: { kind: 'round_robin' } });
    const t = (await backend.acquire('coord/lock/a/x', rec('a1'))) as number;
    const full = takeSnapshot(store);
    expect(full.entries.map((e) => e.key)).toEqual(['policies/orders']);
    const verified = verifySnapshots([full]);
    if (!verified.ok) throw new Error(verified.error.message);
    await restoreSnapshots(store, verified);
    expect(backend.read('coord/lock/a/x')?.token).toBe(t);
  });

  it('a lapse whose disk write fails still announces the lock free (the store freed it in memory)', async () => {
    const d = dir();
    const store = new FailingDeletes(d);
    const { backend, timers, changes } = await open(d, new ManualTimers(), store);
    const t = (await backend.acquire('coord/lock/a/x', rec('a1', 2_000))) as number;
    store.failing = true;
    timers.advance(2_001);
    await vi.waitFor(() =>
      expect(changes.at(-1)).toMatchObject({ now: undefined, released: { token: t, reason: 'expired' } }),
    );
    expect(backend.read('coord/lock/a/x')).toBeUndefined();
  });

  it('a release whose disk write fails still announces the lock free, and fails', async () => {
    const d = dir();
    const store = new FailingDeletes(d);
    const { backend, changes } = await open(d, new ManualTimers(), store);
    const t = (await backend.acquire('coord/lock/a/x', rec('a1'))) as number;
    store.failing = true;
    await expect(backend.release('coord/lock/a/x', t, { reason: 'forced', by: 'ops' })).rejects.toThrow(/ENOSPC/);
    expect(changes.at(-1)).toMatchObject({ now: undefined, released: { token: t, reason: 'forced' } });
  });

  it('attack: acquiring and releasing many distinct names leaves no state behind (no tombstone per name)', async () => {
    const d = dir();
    const { store, backend } = await open(d);
    await store.put('policies/x', { a: 1 });
    await store.delete('policies/x');
    for (let i = 0; i < 200; i++) {
      const key = `coord/lock/a/name-${i}`;
      const t = (await backend.acquire(key, rec('a1'))) as number;
      await backend.release(key, t, { reason: 'released' });
    }
    await store.close();
    const file = JSON.parse(readFileSync(join(d, 'store.json'), 'utf8')) as { data: object; tombstones: object };
    expect(Object.keys(file.data)).toEqual([]);
    // Before the fix: 200 lock tombstones, one per name ever released, rewritten with every write.
    expect(Object.keys(file.tombstones)).toEqual(['policies/x']);
  });
});
