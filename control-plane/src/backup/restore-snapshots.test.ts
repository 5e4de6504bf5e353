import { afterAll, describe, expect, it } from 'vitest';
import { isExcludedKey, restoreSnapshots, takeSnapshot, verifySnapshots } from './snapshot.js';
import { asFile, chain, contents, freshStore, now, removeStores, reopened } from './test-support/stores.js';

afterAll(removeStores);

const withoutExcluded = (o: Record<string, unknown>) =>
  Object.fromEntries(Object.entries(o).filter(([k]) => !isExcludedKey(k)));

describe('restoreSnapshots', () => {
  it('round-trips a full snapshot into a wiped store: every key and value but routing, on disk too', async () => {
    const { source, full } = await chain();
    const wiped = await freshStore();
    const verified = verifySnapshots([asFile(full)]);
    if (!verified.ok) throw new Error(verified.error.message);
    const done = await restoreSnapshots(wiped, verified);
    const expected = {
      'drains/i-1': { reason: 'kernel upgrade' },
      'policies/orders': { timeouts: { requestMs: 2000 }, retries: { attempts: 2 } },
      'policies/users': { loadBalancer: { kind: 'round_robin' } },
      services: ['orders', 'users'],
    };
    expect(contents(wiped)).toEqual(expected);
    expect(contents(await reopened(wiped))).toEqual(expected);
    expect(done).toEqual({ keys: 4, revision: 4, written: 4, deleted: 0 });
    // The source has moved on since (the chain went on after the full snapshot), so compare with the snapshot's own entries.
    expect(full.entries.map((e) => e.key)).toEqual(Object.keys(expected));
    expect(wiped.get('routing')).toBeUndefined();
    expect(source.get('routing')).toEqual({ version: 9 });
  });

  it('reproduces the exact state from a full snapshot and two incrementals with updates and deletions', async () => {
    const { source, full, inc1, inc2 } = await chain();
    const target = await freshStore();
    await target.put('policies/stale', { retries: { attempts: 9 } });
    await target.put('policies/orders', { timeouts: { requestMs: 1 } });
    await target.put('routing', { version: 99 });
    const verified = verifySnapshots([full, inc1, inc2].map(asFile));
    if (!verified.ok) throw new Error(verified.error.message);
    const done = await restoreSnapshots(target, verified);

    expect(withoutExcluded(contents(target))).toEqual(withoutExcluded(contents(source)));
    expect(withoutExcluded(contents(await reopened(target)))).toEqual(withoutExcluded(contents(source)));
    expect(target.get('policies/users')).toBeUndefined();
    expect(target.get('drains/i-1')).toBeUndefined();
    // Operational state stays the target's own.
    expect(target.get('routing')).toEqual({ version: 99 });
    expect(done).toMatchObject({ keys: 3, written: 3, deleted: 1 });
  });

  it('rewrites only what differs: restoring the same snapshots again writes nothing', async () => {
    const { source, full, inc1 } = await chain();
    const target = await freshStore();
    const verified = verifySnapshots([full, inc1]);
    if (!verified.ok) throw new Error(verified.error.message);
    await restoreSnapshots(target, verified);
    const revisions = Object.fromEntries(target.keys().map((k) => [k, target.modRevision(k)]));
    const revision = target.revision();
    expect(await restoreSnapshots(target, verified)).toEqual({ keys: 3, revision, written: 0, deleted: 0 });
    expect(Object.fromEntries(target.keys().map((k) => [k, target.modRevision(k)]))).toEqual(revisions);

    // A restore over the source itself changes only the keys that moved on since the snapshots.
    const before = source.revision();
    const back = await restoreSnapshots(source, verified);
    expect(back).toMatchObject({ written: 2, deleted: 1 });
    expect(source.revision()).toBe(before + 3);
  });

  it('compares values as JSON: the same data in another key order is not rewritten', async () => {
    const source = await freshStore();
    await source.put('policies/a', { retries: { attempts: 2, perTryTimeoutMs: 100 }, timeouts: { requestMs: 1000 } });
    const target = await freshStore();
    await target.put('policies/a', { timeouts: { requestMs: 1000 }, retries: { perTryTimeoutMs: 100, attempts: 2 } });
    const verified = verifySnapshots([takeSnapshot(source, { now })]);
    if (!verified.ok) throw new Error(verified.error.message);
    expect(await restoreSnapshots(target, verified)).toEqual({ keys: 1, revision: 1, written: 0, deleted: 0 });
  });

  it('takes only a verified list, by type', async () => {
    const target = await freshStore();
    const unchecked = verifySnapshots([]);
    // Never called: the lines are here for the type checker (tsconfig.test.json), which must reject both.
    const _typeChecks = [
      // @ts-expect-error a result that may be a refusal
      () => restoreSnapshots(target, unchecked),
      // @ts-expect-error a hand-made "verified" list
      () => restoreSnapshots(target, { ok: true, snapshots: [], state: new Map(), revision: 0 }),
    ];
    expect(unchecked.ok).toBe(false);
  });
});
