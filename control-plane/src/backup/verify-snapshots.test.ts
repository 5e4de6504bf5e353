import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FileStore } from '../store/file-store.js';
import { restoreSnapshots, snapshotChecksum, takeSnapshot, verifySnapshots, type Snapshot } from './snapshot.js';
import { asFile, chain, type Chain, contents, freshStore, now, removeStores } from './test-support/stores.js';

let c: Chain;
beforeAll(async () => {
  c = await chain();
});
afterAll(removeStores);

/** What a caller does: verify, and restore only what passed. */
async function restoreIfVerified(target: FileStore, input: unknown[]) {
  const verified = verifySnapshots(input);
  if (verified.ok) await restoreSnapshots(target, verified);
  return verified;
}

/** A target with something in it, to see that a refused restore leaves it alone. */
async function target(): Promise<FileStore> {
  const t = await freshStore();
  await t.put('policies/old', { retries: { attempts: 1 } });
  await t.put('routing', { version: 40 });
  return t;
}

/** Reorders every object's keys (reversed), at every depth. */
function reversedKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(reversedKeys);
  if (typeof v !== 'object' || v === null) return v;
  return Object.fromEntries(
    Object.keys(v)
      .reverse()
      .map((k) => [k, reversedKeys((v as Record<string, unknown>)[k])]),
  );
}

/** The snapshot with `edit` applied and the checksum made again: a well-signed but wrong document. */
function resigned(s: Snapshot, edit: (doc: Snapshot) => void): Snapshot {
  const doc = structuredClone(s);
  edit(doc);
  return { ...doc, checksum: snapshotChecksum(doc) };
}

describe('verifySnapshots', () => {
  it('accepts a full snapshot and its incrementals, read back from files, and adds them up', () => {
    const v = verifySnapshots([c.full, c.inc1, c.inc2].map(asFile));
    expect(v.ok).toBe(true);
    if (!v.ok) return;
    expect(v.revision).toBe(c.inc2.revision);
    expect(v.snapshots.map((s) => s.kind)).toEqual(['full', 'incremental', 'incremental']);
    expect(Object.fromEntries(v.state)).toEqual({
      'policies/orders': { timeouts: { requestMs: 5000 }, retries: { attempts: 3 } },
      'policies/payments': { rateLimit: { requestsPerSecond: 50, burst: 100 } },
      services: ['orders', 'payments'],
    });
  });

  it('accepts the text of the files too', () => {
    expect(verifySnapshots([c.full, c.inc1].map((s) => JSON.stringify(s))).ok).toBe(true);
    expect(verifySnapshots([Buffer.from(JSON.stringify(c.full))]).ok).toBe(true);
  });

  it('verifies a document whose keys were re-serialised in another order: the checksum does not depend on key order', () => {
    const text = JSON.stringify(reversedKeys(c.full));
    expect(text).not.toBe(JSON.stringify(c.full));
    expect(text.indexOf('"checksum"')).toBeLessThan(text.indexOf('"format"'));
    const v = verifySnapshots([JSON.parse(text), reversedKeys(c.inc1)]);
    expect(v.ok).toBe(true);
    expect(snapshotChecksum(JSON.parse(text) as object)).toBe(c.full.checksum);
  });

  it('keeps no handle on its input: changing it afterwards does not change the state', () => {
    const input = [c.full].map(asFile) as Snapshot[];
    const v = verifySnapshots(input);
    (input[0]?.entries[3] as { value: string[] }).value.push('injected');
    expect(v.ok && v.state.get('services')).toEqual(['orders', 'users']);
  });

  it('skips a key that is excluded now, in a snapshot made before it was', () => {
    const old = resigned(c.full, (d) => {
      d.entries = [{ key: 'routing', modRevision: 5, value: { version: 7 } }, ...d.entries].sort((a, b) =>
        a.key < b.key ? -1 : 1,
      );
    });
    const v = verifySnapshots([old]);
    expect(v.ok && v.state.has('routing')).toBe(false);
  });

  // Each refusal: the right file index, a message naming it, what is wrong and what to do, and a target store left as it was.
  const refusals: [string, () => unknown[], { index: number; field?: string; message: RegExp }][] = [
    ['an empty list', () => [], { index: 0, message: /^no snapshots given: pass a full snapshot/ }],
    [
      'a value with one byte changed',
      () => [asFile(c.full), JSON.stringify(c.inc1).replace('"requestMs":5000', '"requestMs":5001'), asFile(c.inc2)],
      {
        index: 1,
        field: 'checksum',
        message:
          /^snapshot 2 of 3: corrupted or edited: checksum sha256:[0-9a-f]{64} of the content does not match the recorded sha256:/,
      },
    ],
    [
      'a truncated file',
      () => [JSON.stringify(c.full).slice(0, 200)],
      { index: 0, message: /^snapshot 1 of 1: truncated or not JSON \(.*\): use an intact copy/ },
    ],
    [
      'a document missing its fields (a truncated file parsed)',
      () => {
        const { entries: _e, checksum: _c, ...rest } = c.inc1;
        return [c.full, rest];
      },
      {
        index: 1,
        field: 'entries',
        message:
          /^snapshot 2 of 2: truncated or invalid: entries must be an array \(it is missing\); use an intact copy/,
      },
    ],
    [
      'an entry of the wrong type',
      () => [{ ...c.full, entries: [{ key: 'services', modRevision: '1', value: [] }] }],
      { index: 0, field: 'entries[0].modRevision', message: /must be a whole number >= 0 \(it is string "1"\)/ },
    ],
    [
      'foreign JSON',
      () => [{ name: 'meshlet', version: '0.1.0' }],
      {
        index: 0,
        field: 'format',
        message:
          /^snapshot 1 of 1: foreign file: not a meshlet snapshot \(format is missing, expected "meshlet-snapshot\/v1"\)/,
      },
    ],
    [
      'a JSON array',
      () => [c.full, [1, 2]],
      { index: 1, field: 'format', message: /^snapshot 2 of 2: foreign file: not a meshlet snapshot \(it is an array/ },
    ],
    [
      'a store file',
      () => [{ format: 'meshlet-store/v1', revision: 3, data: {} }],
      { index: 0, field: 'format', message: /foreign file: not a meshlet snapshot \(format is "meshlet-store\/v1"/ },
    ],
    [
      'a newer format',
      () => [{ ...c.full, format: 'meshlet-snapshot/v2' }],
      { index: 0, field: 'format', message: /written by another meshlet version/ },
    ],
    [
      'an unknown kind',
      () => [{ ...c.full, kind: 'differential' }],
      {
        index: 0,
        field: 'kind',
        message: /^snapshot 1 of 1: unknown kind "differential": expected "full" or "incremental"/,
      },
    ],
    [
      'an incremental first',
      () => [c.inc1, c.full, c.inc2],
      {
        index: 0,
        field: 'kind',
        message: /^snapshot 1 of 3: is an incremental snapshot \(since revision 5\), but the first must be a full one/,
      },
    ],
    [
      'incrementals out of order',
      () => [c.full, c.inc2, c.inc1],
      { index: 1, field: 'since', message: /^snapshot 2 of 3: gap: .*take an incremental since 5$/ },
    ],
    [
      'a second full snapshot',
      () => [c.full, c.inc1, takeSnapshot(c.source, { now })],
      { index: 2, field: 'kind', message: /^snapshot 3 of 3: is a full snapshot, but only the first may be/ },
    ],
    [
      'a gap (a missing incremental)',
      () => [c.full, c.inc2],
      {
        index: 1,
        field: 'since',
        message:
          /^snapshot 2 of 2: gap: it holds the changes since revision 8, but snapshot 1 ends at revision 5, .*take an incremental since 5$/,
      },
    ],
    [
      'an overlap (two incrementals since the full one)',
      () => [c.full, c.inc1, takeSnapshot(c.source, { since: c.full.revision, now })],
      {
        index: 2,
        field: 'since',
        message:
          /^snapshot 3 of 3: overlap: it holds the changes since revision 5, but snapshot 2 already reaches revision 8/,
      },
    ],
    [
      'unsorted entries',
      () => [resigned(c.full, (d) => d.entries.reverse())],
      { index: 0, field: 'entries[1].key', message: /entries must be sorted by key, each key once/ },
    ],
    [
      'a deletion in a full snapshot',
      () => [resigned(c.full, (d) => (d.entries[0] = { key: 'drains/i-1', modRevision: 4, deleted: true }))],
      { index: 0, field: 'entries[0].deleted', message: /full snapshot, which holds values only/ },
    ],
    [
      'a revision before since',
      () => [c.full, resigned(c.inc1, (d) => (d.revision = 4))],
      { index: 1, field: 'since', message: /since \(5\) is after revision \(4\)/ },
    ],
  ];

  it.each(refusals)('refuses %s and writes nothing', async (_what, input, expected) => {
    const t = await target();
    const before = { contents: contents(t), revision: t.revision(), changes: t.changesSince(0) };
    const v = await restoreIfVerified(t, input());
    expect(v.ok).toBe(false);
    if (v.ok) return;
    expect(v.error).toMatchObject({ code: 'MESHLET_SNAPSHOT_INVALID', index: expected.index });
    expect(v.error.field).toBe(expected.field);
    expect(v.error.message).toMatch(expected.message);
    expect({ contents: contents(t), revision: t.revision(), changes: t.changesSince(0) }).toEqual(before);
  });

  it('refuses snapshots of another cluster, even when the revisions chain', async () => {
    const other = await freshStore();
    for (let i = 0; i < 7; i++) await other.put(`policies/p${i}`, { i });
    const foreign = takeSnapshot(other, { since: c.full.revision, now });
    const t = await target();
    const before = contents(t);
    const v = await restoreIfVerified(t, [c.full, foreign]);
    expect(v.ok).toBe(false);
    if (v.ok) return;
    expect(v.error).toMatchObject({ index: 1, field: 'clusterId' });
    expect(v.error.message).toBe(
      `snapshot 2 of 2: from another cluster: its cluster id is ${other.clusterId()}, snapshot 1's is ${c.source.clusterId()}; pass only snapshots of one cluster`,
    );
    expect(contents(t)).toEqual(before);
  });
});
