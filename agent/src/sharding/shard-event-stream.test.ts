import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import type { Endpoint, Routes } from '@meshlet/shared';
import { describe, expect, it } from 'vitest';
import { EndpointStatsMap } from '../balancer/endpoint-stats.js';
import { RouteTable } from '../route/route-table.js';
import { MAX_UNSENT_BYTES, ShardEventStream } from './shard-event-stream.js';
import { ShardMaps } from './shard-maps.js';

const ep = (i: number): Endpoint => ({
  id: `c-${i}`,
  host: '10.0.0.1',
  port: 20000 + i,
  tier: 0,
  weight: 400,
  labels: {},
});

function table(ids: number[], version: number): RouteTable {
  const endpoints = ids.map(ep);
  const routes: Routes = {
    type: 'routes',
    version,
    nonce: `n${version}`,
    services: {
      cache: {
        endpoints,
        policy: { balancer: { kind: 'ring_hash' } } as never,
        ring: { version, members: endpoints.map((e) => ({ id: e.id, weight: e.weight })) },
      },
    },
  };
  return new RouteTable(routes, 'control-plane', 0, {
    random: () => 0.5,
    clock: () => 0,
    stats: new EndpointStatsMap(),
    zone: undefined,
  });
}

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

const settle = async (maps: ShardMaps, watching: number) => {
  for (let i = 0; i < 100 && maps.watching !== watching; i++) await new Promise((r) => setTimeout(r, 5));
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
      for (let i = 0; i < 200 && res.writableLength === unsent && !res.destroyed; i++)
        await new Promise((r) => setTimeout(r, 5));
    }
    expect(res.destroyed).toBe(true);
    expect(res.writableLength).toBeLessThan(MAX_UNSENT_BYTES + 4 * 1024 * 1024);
    await settle(maps, 0);
    expect(maps.watching).toBe(0);
  });
});
