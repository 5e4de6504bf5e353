import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import { describe, expect, it, vi } from 'vitest';
import type { RouteTable } from '../route/route-table.js';
import { MAX_UNSENT_BYTES, ShardEventStream } from './shard-event-stream.js';
import { HashShardProvider } from './shard-hash-provider.js';
import type { ShardMap, ShardMapProvider } from './shard-map.js';
import { ringTable } from './test-support/ring-table.js';
import { ShardMaps } from './shard-maps.js';

const table = (ids: number[], version: number) =>
  ringTable(ids, version, { prefix: 'c', host: '10.0.0.1', policy: { balancer: { kind: 'ring_hash' } } as never });

/** A response whose reader never reads: everything written stays unsent. */
class StuckResponse extends EventEmitter {
  writableLength = 0;
  writableEnded = false;
  destroyed = false;
  writeHead(): this {
    return this;
  }
  write(text: string): boolean {
    this.writableLength += Buffer.byteLength(text);
    return false;
  }
  end(): void {
    this.writableEnded = true;
  }
  destroy(): void {
    this.destroyed = true;
    this.emit('close');
  }
}

/** A response that records the events written to it. */
class RecordingResponse extends EventEmitter {
  writableLength = 0;
  writableEnded = false;
  destroyed = false;
  closed = false;
  readonly text: string[] = [];
  writeHead(): this {
    return this;
  }
  write(text: string): boolean {
    this.text.push(text);
    return true;
  }
  end(): void {
    this.writableEnded = true;
  }
  destroy(): void {
    this.destroyed = this.closed = true;
    this.emit('close');
  }
  /** The events sent, parsed. */
  get events(): Array<{ event: string; data: Record<string, any> }> {
    return this.text
      .filter((t) => t.startsWith('event: '))
      .map((t) => ({
        event: /^event: (.*)$/m.exec(t)?.[1] as string,
        data: JSON.parse(/^data: (.*)$/m.exec(t)?.[1] as string),
      }));
  }
}

const WAIT = { timeout: 5000, interval: 5 };

async function mapFrom(maps: ShardMaps, t: RouteTable): Promise<ShardMap> {
  const r = await maps.resolve('cache', t);
  if (r === undefined || !('map' in r)) throw new Error('no map');
  return r.map;
}

/** A provider whose maps of table `version` wait for `gate`: a build that takes a while (a large table in slices). */
function gated(version: number, gate: Promise<void>): ShardMapProvider {
  const hash = new HashShardProvider();
  return {
    async mapOf(service, t) {
      if (t.version === version) await gate;
      return hash.mapOf(service, t);
    },
  };
}

const open = (res: EventEmitter, maps: ShardMaps, initial: ShardMap) => {
  const stream = new ShardEventStream(res as unknown as ServerResponse, {
    service: 'cache',
    maps,
    initial,
    interest: { self: undefined, keys: [] },
  });
  stream.start();
  return stream;
};

describe('ShardEventStream', () => {
  it('closes the stream of a reader that does not read, once 16 MiB wait unsent, and stops following the service', async () => {
    const maps = new ShardMaps();
    const first = table([1, 2, 3, 4], 1);
    const initial = await maps.resolve('cache', first);
    if (initial === undefined || !('map' in initial)) throw new Error('no map');
    const res = new StuckResponse();
    const keys = Array.from({ length: 1000 }, (_, i) => `key-${i}-${'x'.repeat(2000)}`);
    new ShardEventStream(res as unknown as ServerResponse, {
      service: 'cache',
      maps,
      initial: initial.map,
      interest: { self: undefined, keys },
    }).start();
    expect(maps.watching).toBe(1);
    // Ring changes back and forth: each event names the moved keys (about 0.5 MiB each here) and none is read. Each
    // table waits for its event, so that none is merged into the next.
    for (let v = 2; v < 200 && !res.destroyed; v++) {
      const unsent = res.writableLength;
      maps.onTable(table(v % 2 === 0 ? [1, 2, 3] : [1, 2, 3, 4], v));
      await vi.waitFor(() => expect(res.writableLength !== unsent || res.destroyed).toBe(true), WAIT);
    }
    expect(res.destroyed).toBe(true);
    expect(res.writableLength).toBeLessThan(MAX_UNSENT_BYTES + 4 * 1024 * 1024);
    await vi.waitFor(() => expect(maps.watching).toBe(0), WAIT);
  });

  it('a reader that left while its first map was made leaves no watcher, timer or stream behind', async () => {
    const maps = new ShardMaps();
    const initial = await mapFrom(maps, table([1, 2, 3], 1));
    const res = new RecordingResponse();
    res.destroy(); // gone before the stream starts: its close event came already
    const stream = open(res, maps, initial);
    expect(maps.watching).toBe(0);
    expect(stream.closed).toBe(true);
    expect(res.text).toEqual([]);
  });

  it('a table installed while the first map was made is not missed', async () => {
    const maps = new ShardMaps();
    const initial = await mapFrom(maps, table([1, 2, 3], 1));
    // Installed while the stream's first map (of table 1) was being made: no watcher then.
    maps.onTable(table([1, 2, 3, 4], 2));
    const res = new RecordingResponse();
    const stream = open(res, maps, initial);
    await vi.waitFor(() => expect(res.events.map((e) => e.event)).toEqual(['map', 'moved']), WAIT);
    expect(res.events[1]?.data).toMatchObject({ from: { tableVersion: 1 }, to: { tableVersion: 2 } });
    stream.close();
    expect(maps.watching).toBe(0);
  });

  it('never goes backwards: a stream added while an older table is made ignores that table', async () => {
    let open2!: () => void;
    const gate = new Promise<void>((r) => (open2 = r));
    const maps = new ShardMaps([gated(2, gate)]);
    const t1 = table([1, 2, 3], 1);
    const first = new RecordingResponse();
    open(first, maps, await mapFrom(maps, t1));
    // Table 2's map is being made (held at the gate) when table 3 arrives and a second stream opens on table 3.
    maps.onTable(table([1, 2, 3, 4], 2));
    const t3 = table([1, 2], 3);
    maps.onTable(t3);
    const second = new RecordingResponse();
    open(second, maps, await mapFrom(maps, t3));
    open2();
    // The first stream sees 1 -> 2 -> 3; the second stays on 3 (it would have seen 3 -> 2 -> 3).
    await vi.waitFor(() => expect(first.events.map((e) => e.data.to?.tableVersion)).toEqual([undefined, 2, 3]), WAIT);
    expect(second.events.map((e) => e.event)).toEqual(['map']);
    expect(second.events[0]?.data.tableVersion).toBe(3);
  });
});
