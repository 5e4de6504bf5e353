import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MeshletError } from './errors.js';
import { readJsonFile, writeJsonFile } from './json-file.js';

const dirs: string[] = [];
const dir = () => {
  const d = mkdtempSync(join(tmpdir(), 'meshlet-json-'));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('writeJsonFile and readJsonFile', () => {
  it('round-trips a nested value', async () => {
    const path = join(dir(), 'table.json');
    const value = {
      version: 3,
      nonce: 'n3',
      services: { orders: { endpoints: [{ id: 'o-1', port: 1, labels: { a: 'é' } }] } },
      empty: [],
    };
    await writeJsonFile(path, value);
    expect(await readJsonFile(path)).toEqual(value);
  });

  it('replaces the previous content whole and leaves no temp file behind', async () => {
    const d = dir();
    const path = join(d, 'state.json');
    await writeJsonFile(path, { long: 'x'.repeat(1000) });
    await writeJsonFile(path, { short: true });
    expect(await readJsonFile(path)).toEqual({ short: true });
    expect(readdirSync(d)).toEqual(['state.json']);
    expect(readFileSync(path, 'utf8').endsWith('}\n')).toBe(true);
  });

  it('writes the file readable by its owner only, even over a wider existing file', async () => {
    const path = join(dir(), 'secret.json');
    await writeJsonFile(path, { a: 1 });
    expect(statSync(path).mode & 0o777).toBe(0o600);
    chmodSync(path, 0o644);
    expect(statSync(path).mode & 0o777).toBe(0o644);
    await writeJsonFile(path, { a: 2 });
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  it('reads a missing file as undefined', async () => {
    expect(await readJsonFile(join(dir(), 'absent.json'))).toBeUndefined();
  });

  it.each([
    ['truncated JSON', '{"version": 3, "services": {'],
    ['an empty file', ''],
    ['text', 'hello'],
  ])('refuses %s with MESHLET_FILE_CORRUPT, naming the file and keeping the cause', async (_what, text) => {
    const path = join(dir(), 'corrupt.json');
    writeFileSync(path, text);
    const err = await readJsonFile(path).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(MeshletError);
    expect(err).toMatchObject({ code: 'MESHLET_FILE_CORRUPT' });
    expect((err as Error).message).toContain(path);
    expect((err as Error).cause).toBeInstanceOf(SyntaxError);
  });

  it('passes other read errors through unchanged', async () => {
    await expect(readJsonFile(dir())).rejects.toMatchObject({ code: 'EISDIR' });
  });
});
