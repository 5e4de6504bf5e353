import { EventEmitter } from 'node:events';
import { createLogger, isServiceName, type Routes, seededRandom } from '@meshlet/shared';
import { describe, expect, it } from 'vitest';
import { EndpointStatsMap } from '../balancer/endpoint-stats.js';
import { manualTimers } from '../resilience/test-support/manual-timers.js';
import { RouteTable } from '../route/route-table.js';
import { Subscriptions } from './subscriptions.js';

/** A client as a listener sees it: emits 'close' when it goes away. */
class Client extends EventEmitter {
  destroyed = false;
  leave(): void {
    this.destroyed = true;
    this.emit('close');
  }
}

function table(...services: string[]): RouteTable {
  const routes: Routes = {
    type: 'routes',
    version: 1,
    nonce: 'n',
    services: Object.fromEntries(services.map((s) => [s, { endpoints: [] }])),
  };
  return new RouteTable(routes, 'control-plane', 0, {
    random: seededRandom(1),
    clock: () => 0,
    stats: new EndpointStatsMap(),
    zone: undefined,
  });
}

function setup(options: { waitMs?: number; maxLearned?: number; declared?: string[] } = {}) {
  const t = manualTimers();
  const sent: string[][] = [];
  const subs = new Subscriptions({
    declared: options.declared ?? ['orders'],
    waitMs: options.waitMs ?? 1000,
    subscribe: (services) => sent.push(services),
    log: createLogger('test', 'silent'),
    timers: t.timers,
    ...(options.maxLearned === undefined ? {} : { maxLearned: options.maxLearned }),
  });
  return { subs, sent, ...t };
}

describe('Subscriptions', () => {
  it('subscribes to a new name once, and the requests for it share one wait that ends with a table that has it', async () => {
    const { subs, sent, pending } = setup();
    const clients = [new Client(), new Client(), new Client()];
    const waits = clients.map((c) => subs.wait('users', c));
    expect(sent).toEqual([['users']]);
    expect(pending.size).toBe(1);
    subs.onTable(table('orders'));
    expect(subs.waiting).toBe(1);
    subs.onTable(table('orders', 'users'));
    expect(await Promise.all(waits)).toEqual(['route', 'route', 'route']);
    expect(pending.size).toBe(0);
    for (const c of clients) expect(c.listenerCount('close')).toBe(0);
  });

  it('ends the wait when the time is up, and does not hold a later request for the same name', async () => {
    const { subs, sent, fireAll } = setup();
    const w = subs.wait('users', new Client());
    fireAll();
    expect(await w).toBe('route');
    expect(subs.wait('users', new Client())).toBeUndefined();
    expect(sent).toEqual([['users']]);
  });

  it('takes a request whose client left off the wait, leaving no listener behind', async () => {
    const { subs, pending } = setup();
    const stays = new Client();
    const leaves = new Client();
    const a = subs.wait('users', stays);
    const b = subs.wait('users', leaves);
    leaves.leave();
    expect(await b).toBe('gone');
    expect(leaves.listenerCount('close')).toBe(0);
    subs.onTable(table('users'));
    expect(await a).toBe('route');
    expect(stays.listenerCount('close')).toBe(0);
    expect(pending.size).toBe(0);
  });

  it('does not hold requests for declared names, invalid names, or with no wait configured', () => {
    const { subs, sent } = setup();
    expect(subs.wait('orders', new Client())).toBeUndefined();
    for (const bad of ['Users', '127.0.0.1', '-x', 'a'.repeat(64), 'x_y', ''])
      expect(subs.wait(bad, new Client())).toBeUndefined();
    expect(sent).toEqual([]);
    const noWait = setup({ waitMs: 0 });
    expect(noWait.subs.wait('users', new Client())).toBeUndefined();
    expect(noWait.sent).toEqual([['users']]);
    expect(noWait.pending.size).toBe(0);
  });

  it('learns at most maxLearned names; beyond, it neither subscribes nor waits', () => {
    const { subs, sent } = setup({ maxLearned: 2 });
    subs.wait('a', new Client());
    subs.wait('b', new Client());
    expect(subs.wait('c', new Client())).toBeUndefined();
    expect(sent).toEqual([['a'], ['b']]);
    expect(subs.describe()).toEqual({ declared: ['orders'], learned: ['a', 'b'] });
  });

  it('names declared and learned services in the hello, sorted', () => {
    const { subs } = setup({ declared: ['zeta', 'orders'] });
    subs.wait('beta', new Client());
    expect(subs.helloUpstreams()).toEqual(['beta', 'orders', 'zeta']);
  });

  it('accepts DNS labels only', () => {
    expect(['a', 'user-api', 'x1', 'a'.repeat(63)].every(isServiceName)).toBe(true);
    expect(['a-', 'A', 'a.b', 'a'.repeat(64)].some(isServiceName)).toBe(false);
  });
});
