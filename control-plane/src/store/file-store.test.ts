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

  it.each([
    ['not JSON', '{"format": "meshlet-'],
    ['a foreign file', '{"hello": "world"}'],
  ])('refuses %s with MESHLET_STORE_CORRUPT', async (_what, text) => {
    const d = dir();
    writeFileSync(join(d, 'store.json'), text);
    await expect(new FileStore(d).open()).rejects.toMatchObject({ code: 'MESHLET_STORE_CORRUPT' });
  });
});
