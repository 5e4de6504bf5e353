import { MeshletError } from '@meshlet/shared';
import { afterAll, describe, expect, it } from 'vitest';
import { SNAPSHOT_EXCLUDED_KEYS, snapshotChecksum, takeSnapshot } from './snapshot.js';
import { chain, freshStore, now, removeStores } from './test-support/stores.js';

afterAll(removeStores);

describe('takeSnapshot', () => {
  it('excludes exactly the routing counter', () => {
    expect(SNAPSHOT_EXCLUDED_KEYS).toEqual(['routing']);
  });

  it('takes every key but routing, sorted, with its modRevision, in a checksummed full snapshot', async () => {
    const { full, source } = await chain();
    expect(full).toEqual({
      format: 'meshlet-snapshot/v1',
      kind: 'full',
      clusterId: source.clusterId(),
      since: 0,
      revision: 5,
      createdAt: '2025-03-01T12:00:00.000Z',
      entries: [
        { key: 'drains/i-1', modRevision: 4, value: { reason: 'kernel upgrade' } },
        { key: 'policies/orders', modRevision: 2, value: { timeouts: { requestMs: 2000 }, retries: { attempts: 2 } } },
        { key: 'policies/users', modRevision: 3, value: { loadBalancer: { kind: 'round_robin' } } },
        { key: 'services', modRevision: 1, value: ['orders', 'users'] },
      ],
      checksum: expect.stringMatching(/^sha256:[0-9a-f]{64}$/),
    });
    expect(full.checksum).toBe(snapshotChecksum(full));
  });

  it('takes the updates and deletions since a revision, without routing, in an incremental snapshot', async () => {
    const { full, inc1, inc2 } = await chain();
    expect(inc1).toMatchObject({ kind: 'incremental', since: full.revision, revision: 8 });
    expect(inc1.entries).toEqual([
      { key: 'drains/i-1', modRevision: 7, deleted: true },
      { key: 'policies/orders', modRevision: 6, value: { timeouts: { requestMs: 5000 }, retries: { attempts: 3 } } },
    ]);
    expect(inc2).toMatchObject({ kind: 'incremental', since: 8, revision: 12 });
    expect(inc2.entries.map((e) => e.key)).toEqual(['policies/payments', 'policies/users', 'services']);
    expect(inc2.entries.some((e) => e.key === 'routing')).toBe(false);
    expect(inc2.checksum).toBe(snapshotChecksum(inc2));
  });

  it("takes an empty incremental when nothing changed, and one holding only routing's change as empty too", async () => {
    const { source, inc2 } = await chain();
    expect(takeSnapshot(source, { since: inc2.revision, now }).entries).toEqual([]);
    await source.put('routing', { version: 10 });
    const s = takeSnapshot(source, { since: inc2.revision, now });
    expect(s).toMatchObject({ since: 12, revision: 13, entries: [] });
  });

  it.each([[13], [-1], [1.5], [Number.NaN]])(
    'refuses an incremental since %s on a store at revision 12',
    async (since) => {
      const { source } = await chain();
      let error: unknown;
      try {
        takeSnapshot(source, { since, now });
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(MeshletError);
      expect(error).toMatchObject({
        code: 'MESHLET_SNAPSHOT_INVALID',
        message: expect.stringContaining('the store is at revision 12'),
      });
    },
  );

  it('copies the values: changing the snapshot does not change the store', async () => {
    const store = await freshStore();
    await store.put('policies/a', { retries: { attempts: 1 } });
    const s = takeSnapshot(store, { now });
    (s.entries[0] as { value: { retries: { attempts: number } } }).value.retries.attempts = 9;
    expect(store.get('policies/a')).toEqual({ retries: { attempts: 1 } });
  });

  it('takes an empty store as a full snapshot with no entries at revision 0', async () => {
    const store = await freshStore();
    expect(takeSnapshot(store, { now })).toMatchObject({ kind: 'full', since: 0, revision: 0, entries: [] });
  });
});
