import { createLogger, type ServiceRoutes } from '@meshlet/shared';
import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../store/test-support/memory-store.js';
import { HeldTable } from './held-table.js';
import { Pusher } from './pusher.js';
import { ServiceTable } from './service-table.js';
import type { TableMessage } from './table-message.js';
import { ep, sink, usePusher } from './test-support/table-sinks.js';

// What each agent holds of the table and so what it is sent, through the
// pusher: a full table of its services first, then deltas, nothing for a
// change it does not call, a full table after a NACK, and the services its
// services split traffic to.

describe('Pusher: subscriptions and deltas', () => {
  const fx = usePusher();

  it('knows which endpoints it sent each agent, by service, including those since removed', () => {
    const caller = sink('caller');
    const other = sink('other');
    expect(fx.p.tableSent(caller)).toBe(false);
    fx.p.add(caller, 0, ['a']);
    fx.p.add(other, 0, ['b']);
    expect(fx.p.tableSent(caller)).toBe(true);
    expect(fx.p.wasSent(caller, 'a', 'a-1')).toBe(true);
    expect(fx.p.wasSent(caller, 'b', 'b-1')).toBe(false);
    expect(fx.p.wasSent(caller, 'b', 'a-1')).toBe(false);
    expect(fx.p.wasSent(other, 'b', 'b-1')).toBe(true);
    fx.services.a = { endpoints: [ep('a-2')] };
    fx.p.flush();
    expect(fx.p.wasSent(caller, 'a', 'a-2')).toBe(true);
    // Reports lag the table: one on an endpoint just removed still names what the agent was told.
    expect(fx.p.wasSent(caller, 'a', 'a-1')).toBe(true);
    fx.p.remove(caller);
    expect(fx.p.wasSent(caller, 'a', 'a-2')).toBe(false);
  });

  it('sends each agent a full table of its services first, then only the services that changed, and nothing for others', () => {
    const x = sink('x');
    const y = sink('y');
    fx.p.add(x, 0, ['a', 'b']);
    fx.p.add(y, 0, ['c']);
    expect(x.sent[0]).toEqual({
      type: 'routes',
      version: 1,
      nonce: 'n1000',
      services: { a: fx.services.a, b: fx.services.b },
    });
    expect(JSON.parse(x.texts[0] as string)).toEqual(x.sent[0]);
    expect(Object.keys(y.sent[0]?.services ?? {})).toEqual(['c']);

    fx.services.a = { endpoints: [ep('a-1', 'unhealthy')] };
    fx.p.flush();
    expect(x.sent[1]).toEqual({
      type: 'routes',
      version: 2,
      nonce: 'n1000',
      baseVersion: 1,
      services: { a: fx.services.a },
    });
    expect(JSON.parse(x.texts[1] as string)).toEqual(x.sent[1]);
    // y does not call a: no message at all, and it stays on version 1.
    expect(y.sent).toHaveLength(1);
    expect(y.record.sent?.version).toBe(1);

    fx.services.c = { endpoints: [] };
    fx.p.flush();
    expect(y.sent[1]).toMatchObject({ version: 3, baseVersion: 1, services: { c: { endpoints: [] } } });
    expect(x.sent).toHaveLength(2);
  });

  it('shares one serialisation between agents that get the same message', () => {
    const sinks = Array.from({ length: 5 }, (_, i) => sink(`s${i}`));
    for (const s of sinks) fx.p.add(s, 0, ['a']);
    fx.services.a = { endpoints: [] };
    fx.p.flush();
    const texts = new Set(sinks.map((s) => s.texts[1]));
    expect(texts.size).toBe(1);
    expect(sinks.every((s) => s.texts[1] === sinks[0]?.texts[1])).toBe(true);
  });

  it('sends a newly subscribed service after the debounce, and drops a service that left the table', () => {
    const x = sink('x');
    fx.p.add(x, 0, ['a']);
    fx.p.subscribe(x, ['b', 'nope']);
    fx.p.flush();
    expect(x.sent[1]).toMatchObject({ version: 2, baseVersion: 1, services: { b: fx.services.b } });
    expect(fx.p.subscriptions(x)).toEqual(new Set(['a', 'b', 'nope']));
    // A subscription is not a change: it is not counted for convergence.
    fx.p.ack(x, 2);
    expect(fx.converged).toEqual([]);

    delete fx.services.b;
    fx.p.flush();
    expect(x.sent[2]).toMatchObject({ version: 3, baseVersion: 2, services: {}, removed: ['b'] });
  });

  it('sends a full table at once after a base mismatch, and its ACK answers the change', () => {
    const x = sink('x');
    const y = sink('y');
    fx.p.add(x, 0, ['a', 'b']);
    fx.p.add(y, 0, ['a']);
    fx.services.a = { endpoints: [] };
    fx.p.flush();
    fx.p.nack(x, 2, 'MESHLET_DELTA_BASE_MISMATCH');
    expect(x.sent[2]).toEqual({
      type: 'routes',
      version: 2,
      nonce: 'n1000',
      services: { a: fx.services.a, b: fx.services.b },
    });
    fx.p.ack(x, 2);
    fx.p.remove(y);
    expect(fx.converged).toMatchObject([{ version: 2, agents: 2, unanswered: 1 }]);
  });

  it('after any other NACK keeps the agent on its table, sends nothing for changes it does not call, then a full table', () => {
    const x = sink('x');
    fx.p.add(x, 0, ['a', 'b']);
    fx.services.b = { endpoints: [] };
    fx.p.flush();
    fx.p.nack(x, 2, undefined);
    expect(fx.converged).toMatchObject([{ version: 2, agents: 1, unanswered: 1 }]);
    // A change to a service x does not call: nothing, not a full table on every flush.
    fx.services.c = { endpoints: [] };
    fx.p.flush();
    expect(x.sent).toHaveLength(2);
    fx.services.a = { endpoints: [ep('a-9')] };
    fx.p.flush();
    expect(x.sent).toHaveLength(3);
    expect(x.sent[2]?.baseVersion).toBeUndefined();
    expect(Object.keys(x.sent[2]?.services ?? {})).toEqual(['a', 'b']);
    // Back to deltas after that.
    fx.services.b = { endpoints: [ep('b-2')] };
    fx.p.flush();
    expect(x.sent[3]).toMatchObject({ baseVersion: 4, services: { b: fx.services.b } });
  });

  it('makes no new version for a subscription that brings nothing new', () => {
    const x = sink('x');
    fx.p.add(x, 0, ['a']);
    const v = fx.p.version;
    fx.p.subscribe(x, ['nope']);
    fx.p.flush();
    expect(fx.p.version).toBe(v);
    expect(x.sent).toHaveLength(1);
  });
});

describe('Pusher: route splits', () => {
  it('sends an agent the services its services split traffic to', () => {
    const services: Record<string, ServiceRoutes> = {
      web: {
        endpoints: [],
        policy: {
          routes: [{ match: { pathPrefix: '/' }, splits: [{ weight: 90 }, { service: 'web-canary', weight: 10 }] }],
        } as never,
      },
      'web-canary': { endpoints: [] },
      other: { endpoints: [] },
    };
    const p = new Pusher({
      build: () => structuredClone(services),
      store: new MemoryStore(),
      log: createLogger('test', 'silent'),
      clock: () => 0,
      nonce: () => 'n',
      debounceMs: 0,
      maxDelayMs: 0,
      startupGraceMs: 0,
    });
    p.flush();
    const x = sink('x');
    p.add(x, 0, ['web']);
    expect(Object.keys(x.sent[0]?.services ?? {})).toEqual(['web', 'web-canary']);
    p.close();
  });
});

describe('HeldTable: the endpoints sent, under churn', () => {
  it('forgets endpoint ids that left the table more than forgetSentMs ago, so churn does not grow memory', () => {
    const clock = { now: 1_000 };
    const table = new ServiceTable(0);
    const held = new HeldTable('all', { clock: () => clock.now, forgetSentMs: 6000 });
    const cache = new Map<string, TableMessage>();
    const publish = (services: Record<string, { endpoints: ReturnType<typeof ep>[] }>) => {
      const { texts } = table.diff(services);
      table.commit(services, texts, 'n');
      held.next(table, cache, false);
    };
    // 200 rounds of churn: each round replaces the one endpoint of `a` with a new id.
    for (let i = 0; i < 200; i++) {
      publish({ a: { endpoints: [ep(`a-${i}`)] }, b: { endpoints: [ep('b-1')] } });
      clock.now += 1000;
    }
    // What left within the last 6 s still counts (reports lag the table); older ids are gone.
    expect(held.wasSent('a', 'a-199')).toBe(true);
    expect(held.wasSent('a', 'a-195')).toBe(true);
    expect(held.wasSent('a', 'a-150')).toBe(false);
    expect(held.wasSent('b', 'b-1')).toBe(true);
    expect(held.sentCount()).toBeLessThan(20);
    // A service the agent no longer gets: its ids leave with it.
    publish({ b: { endpoints: [ep('b-1')] } });
    clock.now += 7000;
    expect(held.wasSent('a', 'a-199')).toBe(false);
    publish({ b: { endpoints: [ep('b-1')] }, c: { endpoints: [] } });
    expect(held.sentCount()).toBe(1);
  });
});
