import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MeshletError } from '@meshlet/shared';
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

const onDisk = (store: FileStore) => {
  const { format, revision, data } = JSON.parse(readFileSync(store.path, 'utf8')) as {
    format: string;
    revision: number;
    data: Record<string, unknown>;
  };
  return { format, revision, data };
};

async function opened(d: string): Promise<FileStore> {
  const s = new FileStore(d);
  await s.open();
  return s;
}

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

  it("keeps each key's modRevision, tombstones for deletions and a cluster id across a reopen", async () => {
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

// What is on disk when a put resolves, an empty or missing data directory,
// and each way a store file can be foreign.
describe('FileStore durability', () => {
  it('opens an empty directory as revision 0 with no values, writing nothing', async () => {
    const s = await opened(dir());
    expect(s.revision()).toBe(0);
    expect(s.get('routing')).toBeUndefined();
    expect(() => statSync(s.path)).toThrow();
  });

  it('creates a missing data directory, private to its owner', async () => {
    const d = join(dir(), 'nested', 'data');
    const s = await opened(d);
    expect(statSync(d).mode & 0o777).toBe(0o700);
    await s.put('k', 1);
    expect(s.path).toBe(join(d, 'store.json'));
  });

  it('has the value and its revision on disk when put resolves', async () => {
    const s = await opened(dir());
    expect(await s.put('routing', { version: 7 })).toBe(1);
    expect(onDisk(s)).toEqual({ format: 'meshlet-store/v1', revision: 1, data: { routing: { version: 7 } } });
    expect(await s.put('services', ['orders'])).toBe(2);
    expect(onDisk(s)).toEqual({
      format: 'meshlet-store/v1',
      revision: 2,
      data: { routing: { version: 7 }, services: ['orders'] },
    });
  });

  it('answers get at once, before the write lands', async () => {
    const s = await opened(dir());
    const pending = s.put('k', 'v');
    expect(s.get('k')).toBe('v');
    expect(s.revision()).toBe(1);
    await pending;
  });

  it('lands a burst of concurrent puts in order, the last value winning on disk and on reopen', async () => {
    const d = dir();
    const s = await opened(d);
    const revisions = await Promise.all(Array.from({ length: 20 }, (_, i) => s.put('routing', { version: i })));
    expect(revisions).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(onDisk(s)).toMatchObject({ revision: 20, data: { routing: { version: 19 } } });
    const again = await opened(d);
    expect(again.revision()).toBe(20);
    expect(again.get('routing')).toEqual({ version: 19 });
  });

  it('continues the revision after a reopen', async () => {
    const d = dir();
    const a = await opened(d);
    await a.put('k', 1);
    await a.put('k', 2);
    await a.close();
    const b = await opened(d);
    expect(await b.put('k', 3)).toBe(3);
    expect((await opened(d)).get('k')).toBe(3);
  });

  it('waits for pending writes on close', async () => {
    const d = dir();
    const s = await opened(d);
    void s.put('a', 1);
    void s.put('b', 2);
    await s.close();
    expect(onDisk(s)).toMatchObject({ revision: 2, data: { a: 1, b: 2 } });
  });

  it('keeps writing after a failed write, the next file holding every value', async () => {
    const d = dir();
    const s = await opened(d);
    rmSync(d, { recursive: true, force: true });
    await expect(s.put('a', 1)).rejects.toThrow();
    const again = await opened(d);
    expect(again.revision()).toBe(0);
    await expect(s.put('b', 2)).resolves.toBe(2);
    expect(onDisk(s)).toEqual({ format: 'meshlet-store/v1', revision: 2, data: { a: 1, b: 2 } });
  });

  it.each([
    ['an empty file', ''],
    ['truncated JSON', '{"format":"meshlet-store/v1","revision":3,"da'],
    ['another format version', JSON.stringify({ format: 'meshlet-store/v2', revision: 1, data: {} })],
    ['no format', JSON.stringify({ revision: 1, data: {} })],
    ['a non-numeric revision', JSON.stringify({ format: 'meshlet-store/v1', revision: '1', data: {} })],
    ['null data', JSON.stringify({ format: 'meshlet-store/v1', revision: 1, data: null })],
    ['no data', JSON.stringify({ format: 'meshlet-store/v1', revision: 1 })],
    ['a JSON array', '[]'],
    ['JSON null (regression: crashed open() with a TypeError)', 'null'],
    ['array data', JSON.stringify({ format: 'meshlet-store/v1', revision: 1, data: [] })],
  ])('refuses %s with MESHLET_STORE_CORRUPT and an instruction', async (_what, text) => {
    const d = dir();
    writeFileSync(join(d, 'store.json'), text);
    const err = await new FileStore(d).open().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(MeshletError);
    expect(err).toMatchObject({ code: 'MESHLET_STORE_CORRUPT' });
    expect((err as Error).message).toContain(join(d, 'store.json'));
    expect((err as Error).message).toMatch(/move it aside/);
  });
});
