import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MeshletError } from '@meshlet/shared';
import { afterAll, describe, expect, it } from 'vitest';
import { FileStore } from './file-store.js';

// Complements file-store.test.ts: what is on disk when a put resolves, an
// empty or missing data directory, and each way a store file can be foreign.

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
  const { format, revision, data } = JSON.parse(readFileSync(store.path, 'utf8')) as { format: string; revision: number; data: Record<string, unknown> };
  return { format, revision, data };
};

async function opened(d: string): Promise<FileStore> {
  const s = new FileStore(d);
  await s.open();
  return s;
}

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
    expect(onDisk(s)).toEqual({ format: 'meshlet-store/v1', revision: 2, data: { routing: { version: 7 }, services: ['orders'] } });
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
