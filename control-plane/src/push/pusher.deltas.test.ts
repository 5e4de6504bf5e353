import { createLogger, type Endpoint, type Routes, type ServiceRoutes } from '@meshlet/shared';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AgentRecord } from '../registry/agent-record.js';
import { type Convergence, Pusher, type TableSink } from './pusher.js';
import { MemoryStore } from '../store/test-support/memory-store.js';


type Sink = TableSink & { sent: Routes[]; texts: string[] };

function sink(id: string): Sink {
  const sent: Routes[] = [];
  const texts: string[] = [];
  return {
    record: { agentId: id, sent: undefined } as AgentRecord,
    sent,
    texts,
    send: (m: Routes, text: string) => {
      sent.push(m);
      texts.push(text);
    },
  };
}

const ep = (id: string, health?: 'unhealthy'): Endpoint => ({ id, host: '127.0.0.1', port: 1, tier: 0, weight: 1, labels: {}, ...(health ? { health } : {}) });

describe('Pusher: subscriptions, deltas and convergence', () => {
  let now: number;
  let services: Record<string, ServiceRoutes>;
  let converged: Convergence[];
  let p: Pusher;

  beforeEach(() => {
    now = 1000;
    services = { a: { endpoints: [ep('a-1')] }, b: { endpoints: [ep('b-1')] }, c: { endpoints: [ep('c-1')] } };
    converged = [];
    p = new Pusher({
      build: () => structuredClone(services),
      store: new MemoryStore(),
      log: createLogger('test', 'silent'),
      clock: () => now,
      nonce: () => `n${now}`,
      debounceMs: 0,
      maxDelayMs: 0,
      startupGraceMs: 0,
      onConverged: (c) => converged.push(c),
    });
    p.flush();
  });
  afterEach(() => p.close());

  it('sends each agent a full table of its services first, then only the services that changed, and nothing for others', () => {
    const x = sink('x');
    const y = sink('y');
    p.add(x, 0, ['a', 'b']);
    p.add(y, 0, ['c']);
    expect(x.sent[0]).toEqual({ type: 'routes', version: 1, nonce: 'n1000', services: { a: services.a, b: services.b } });
    expect(JSON.parse(x.texts[0] as string)).toEqual(x.sent[0]);
    expect(Object.keys(y.sent[0]?.services ?? {})).toEqual(['c']);

    services.a = { endpoints: [ep('a-1', 'unhealthy')] };
    p.flush();
    expect(x.sent[1]).toEqual({ type: 'routes', version: 2, nonce: 'n1000', baseVersion: 1, services: { a: services.a } });
    expect(JSON.parse(x.texts[1] as string)).toEqual(x.sent[1]);
    // y does not call a: no message at all, and it stays on version 1.
    expect(y.sent).toHaveLength(1);
    expect(y.record.sent?.version).toBe(1);

    services.c = { endpoints: [] };
    p.flush();
    expect(y.sent[1]).toMatchObject({ version: 3, baseVersion: 1, services: { c: { endpoints: [] } } });
    expect(x.sent).toHaveLength(2);
  });

  it('shares one serialisation between agents that get the same message', () => {
    const sinks = Array.from({ length: 5 }, (_, i) => sink(`s${i}`));
    for (const s of sinks) p.add(s, 0, ['a']);
    services.a = { endpoints: [] };
    p.flush();
    const texts = new Set(sinks.map((s) => s.texts[1]));
    expect(texts.size).toBe(1);
    expect(sinks.every((s) => s.texts[1] === sinks[0]?.texts[1])).toBe(true);
  });

  it('sends a newly subscribed service after the debounce, and drops a service that left the table', () => {
    const x = sink('x');
    p.add(x, 0, ['a']);
    p.subscribe(x, ['b', 'nope']);
    p.flush();
    expect(x.sent[1]).toMatchObject({ version: 2, baseVersion: 1, services: { b: services.b } });
    expect(p.subscriptions(x)).toEqual(new Set(['a', 'b', 'nope']));
    // A subscription is not a change: it is not counted for convergence.
    p.ack(x, 2);
    expect(converged).toEqual([]);

    delete services.b;
    p.flush();
    expect(x.sent[2]).toMatchObject({ version: 3, baseVersion: 2, services: {}, removed: ['b'] });
  });

  it('measures convergence from the decision to the last affected ACK', () => {
    const x = sink('x');
    const y = sink('y');
    const z = sink('z');
    p.add(x, 0, ['a']);
    p.add(y, 0, ['a']);
    p.add(z, 0, ['c']);
    now = 2000;
    p.schedule();
    services.a = { endpoints: [] };
    now = 2020;
    p.flush();
    now = 2050;
    p.ack(x, 2);
    expect(converged).toEqual([]);
    now = 2090;
    p.ack(y, 2);
    expect(converged).toEqual([{ version: 2, decidedAt: 2000, convergedAt: 2090, durationMs: 90, agents: 2, unanswered: 0 }]);
  });

  it('sends a full table at once after a base mismatch, and its ACK answers the change', () => {
    const x = sink('x');
    const y = sink('y');
    p.add(x, 0, ['a', 'b']);
    p.add(y, 0, ['a']);
    services.a = { endpoints: [] };
    p.flush();
    p.nack(x, 2, 'MESHLET_DELTA_BASE_MISMATCH');
    expect(x.sent[2]).toEqual({ type: 'routes', version: 2, nonce: 'n1000', services: { a: services.a, b: services.b } });
    p.ack(x, 2);
    p.remove(y);
    expect(converged).toMatchObject([{ version: 2, agents: 2, unanswered: 1 }]);
  });

  it('after any other NACK keeps the agent on its table, sends nothing for changes it does not call, then a full table', () => {
    const x = sink('x');
    p.add(x, 0, ['a', 'b']);
    services.b = { endpoints: [] };
    p.flush();
    p.nack(x, 2, undefined);
    expect(converged).toMatchObject([{ version: 2, agents: 1, unanswered: 1 }]);
    // A change to a service x does not call: nothing, not a full table on every flush.
    services.c = { endpoints: [] };
    p.flush();
    expect(x.sent).toHaveLength(2);
    services.a = { endpoints: [ep('a-9')] };
    p.flush();
    expect(x.sent).toHaveLength(3);
    expect(x.sent[2]?.baseVersion).toBeUndefined();
    expect(Object.keys(x.sent[2]?.services ?? {})).toEqual(['a', 'b']);
    // Back to deltas after that.
    services.b = { endpoints: [ep('b-2')] };
    p.flush();
    expect(x.sent[3]).toMatchObject({ baseVersion: 4, services: { b: services.b } });
  });

  it('makes no new version for a subscription that brings nothing new', () => {
    const x = sink('x');
    p.add(x, 0, ['a']);
    const v = p.version;
    p.subscribe(x, ['nope']);
    p.flush();
    expect(p.version).toBe(v);
    expect(x.sent).toHaveLength(1);
  });

  it('closes a change that an agent never answers after the deadline', () => {
    const x = sink('x');
    p.add(x, 0, ['a']);
    services.a = { endpoints: [] };
    p.flush();
    now += 60_000;
    p.expirePending();
    expect(converged).toMatchObject([{ version: 2, agents: 1, unanswered: 1 }]);
  });
});

describe('Pusher: route splits', () => {
  it('sends an agent the services its services split traffic to', () => {
    const services: Record<string, ServiceRoutes> = {
      web: { endpoints: [], policy: { routes: [{ match: { pathPrefix: '/' }, splits: [{ weight: 90 }, { service: 'web-canary', weight: 10 }] }] } as never },
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
