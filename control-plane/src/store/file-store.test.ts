import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FileStore } from './file-store.js';

const dirs: string[] = [];
const dir = () => {
  const d = mkdtempSync(join(tmpdir(), 'meshlet-store-'));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('FileStore', () => {
  it('keeps values and the revision across a reopen, last write winning', async () => {
    const d = dir();
    const a = new FileStore(d);
    await a.open();
    const writes = [a.put('k', 1), a.put('k', 2), a.put('other', { x: true }), a.put('k', 3)];
    expect(await Promise.all(writes)).toEqual([1, 2, 3, 4]);
    await a.close();
    expect(statSync(a.path).mode & 0o777).toBe(0o600);

    const b = new FileStore(d);
    await b.open();
    expect(b.get('k')).toBe(3);
    expect(b.get('other')).toEqual({ x: true });
    expect(b.revision()).toBe(4);
  });

  it('keeps each key\'s modRevision, tombstones for deletions and a cluster id across a reopen', async () => {
    const d = dir();
    const a = new FileStore(d);
    await a.open();
    await a.put('policies/a', { x: 1 });
    await a.put('policies/b', { x: 2 });
    await a.put('policies/a', { x: 3 });
    expect(await a.delete('policies/b')).toBe(4);
    expect(await a.delete('policies/nope')).toBe(4);
    await a.put('other', 1);
    expect(a.modRevision('policies/a')).toBe(3);
    expect(a.modRevision('policies/b')).toBeUndefined();
    expect(a.keys('policies/')).toEqual(['policies/a']);
    expect(a.changesSince(0)).toEqual([
      { key: 'other', modRevision: 5, value: 1 },
      { key: 'policies/a', modRevision: 3, value: { x: 3 } },
    ]);
    expect(a.changesSince(2)).toEqual([
      { key: 'other', modRevision: 5, value: 1 },
      { key: 'policies/a', modRevision: 3, value: { x: 3 } },
      { key: 'policies/b', modRevision: 4, deleted: true },
    ]);
    await a.close();
    const b = new FileStore(d);
    await b.open();
    expect(b.changesSince(2)).toEqual(a.changesSince(2));
    expect(b.clusterId()).toBe(a.clusterId());
    expect(b.clusterId()).toMatch(/^[0-9a-f-]{36}$/);
  });

  it.each([
    ['not JSON', '{"format": "meshlet-'],
    ['a foreign file', '{"hello": "world"}'],
  ])('refuses %s with MESHLET_STORE_CORRUPT', async (_what, text) => {
    const d = dir();
    writeFileSync(join(d, 'store.json'), text);
    await expect(new FileStore(d).open()).rejects.toMatchObject({ code: 'MESHLET_STORE_CORRUPT' });
  });
});
