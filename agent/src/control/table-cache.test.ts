import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Routes, writeJsonFile } from '@meshlet/shared';
import { afterEach, describe, expect, it } from 'vitest';
import { capturedLogger } from '../listener/test-support/log-capture.js';
import { until } from '../listener/test-support/loopback.js';
import { TableCache } from './table-cache.js';

const table = (version: number): Routes => ({ version, services: {} }) as unknown as Routes;

describe('TableCache', () => {
  const dirs: string[] = [];
  const dir = (): string => {
    const d = mkdtempSync(join(tmpdir(), 'meshlet-table-cache-'));
    dirs.push(d);
    return d;
  };
  const onDisk = (d: string): number | undefined => {
    try {
      return (JSON.parse(readFileSync(join(d, 'routing-table.json'), 'utf8')) as Routes).version;
    } catch {
      return undefined;
    }
  };
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('writes a burst of tables once or twice, the latest last, not once per table', async () => {
    const d = dir();
    let writes = 0;
    const cache = new TableCache(d, capturedLogger().root, Date.now, undefined, (path, routes) => {
      writes++;
      return writeJsonFile(path, routes);
    });
    for (let v = 1; v <= 20; v++) cache.save(table(v));
    await until(() => onDisk(d) === 20, 'the latest table on disk');
    expect(writes).toBeLessThanOrEqual(2);
    await cache.flush();
  });

  it('writes after save() returns, not inside it (serialising is off the install and its ACK)', async () => {
    const d = dir();
    let writes = 0;
    const cache = new TableCache(d, capturedLogger().root, Date.now, 1_000, (path, routes) => {
      writes++;
      return writeJsonFile(path, routes);
    });
    cache.save(table(1));
    expect(writes).toBe(0);
    await until(() => onDisk(d) === 1, 'the table on disk');
    await cache.flush();
  });

  it('waits at most the interval when the clock stepped back since the last write', async () => {
    const d = dir();
    let now = 10_000_000;
    const cache = new TableCache(d, capturedLogger().root, () => now, 50);
    cache.save(table(1));
    await until(() => onDisk(d) === 1, 'the first table on disk');
    now -= 3_600_000; // the wall clock stepped back an hour
    cache.save(table(2));
    await until(() => onDisk(d) === 2, 'the second table within the interval, not an hour later');
    await cache.flush();
  });

  it('writes a table accepted after a write within a few event-loop turns, not a second later', async () => {
    // A restarted agent installs what is on disk: a former primary's agent killed and restarted ran its rejoin for
    // a term long passed when the last second of tables was held back.
    const written: number[] = [];
    const cache = new TableCache(dir(), capturedLogger().root, Date.now, undefined, async (_path, routes) => {
      written.push(routes.version);
    });
    const turns = async (n: number, done: () => boolean): Promise<boolean> => {
      for (let i = 0; i < n && !done(); i++) await new Promise((r) => setTimeout(r, 0));
      return done();
    };
    cache.save(table(1));
    expect(await turns(20, () => written.length === 1)).toBe(true);
    cache.save(table(2));
    expect(await turns(20, () => written.length === 2)).toBe(true);
    expect(written).toEqual([1, 2]);
    await cache.flush();
  });

  it('flush writes the table still waiting at once (the agent stopping)', async () => {
    const d = dir();
    const cache = new TableCache(d, capturedLogger().root, Date.now, 60_000);
    cache.save(table(1));
    cache.save(table(2));
    await cache.flush();
    expect(onDisk(d)).toBe(2);
  });

  it('logs a failed write, keeps going, and writes the next table', async () => {
    const d = dir();
    const { root, lines } = capturedLogger();
    // The file's path is a directory: the write fails.
    mkdirSync(join(d, 'routing-table.json'));
    const cache = new TableCache(d, root, Date.now, 10);
    cache.save(table(1));
    await cache.flush();
    expect(lines.some((l) => l.msg === 'could not persist the routing table')).toBe(true);
    rmSync(join(d, 'routing-table.json'), { recursive: true });
    writeFileSync(join(d, 'other'), '');
    cache.save(table(2));
    await cache.flush();
    expect(onDisk(d)).toBe(2);
  });
});
