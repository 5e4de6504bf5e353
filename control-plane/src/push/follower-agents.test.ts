import { createLogger, type Routes, type ServiceRoutes } from '@meshlet/shared';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type Convergence, Pusher, type PusherOptions } from './pusher.js';
import { ep, sink } from './test-support/table-sinks.js';
import { MemoryStore } from '../store/test-support/memory-store.js';

// What the pusher of a follower replica answers its own agents, on the
// leader's tables it took (takeTable): a subscription that grew, the ACKs
// that make a convergence, a NACK for a delta on the wrong base. How it takes
// those tables is in follower-tables.test.ts.

/** A table as the leader publishes it. */
const table = (version: number, services: Record<string, ServiceRoutes>, nonce = `leader-${version}`) => ({
  version,
  nonce,
  services: structuredClone(services),
});

describe('Pusher on a follower replica', () => {
  let now: number;
  let services: Record<string, ServiceRoutes>;
  let build: ReturnType<typeof vi.fn<PusherOptions['build']>>;
  let store: MemoryStore;
  let versions: number[];
  let tables: Routes[];
  let converged: Convergence[];
  let nonces: number;
  const pushers: Pusher[] = [];

  beforeEach(() => {
    vi.useFakeTimers();
    now = 1_000;
    services = { a: { endpoints: [ep('a-1')] }, b: { endpoints: [ep('b-1')] }, c: { endpoints: [ep('c-1')] } };
    build = vi.fn<PusherOptions['build']>(() => structuredClone(services));
    store = new MemoryStore();
    versions = [];
    tables = [];
    converged = [];
    nonces = 0;
  });
  afterEach(() => {
    for (const p of pushers.splice(0)) p.close();
    vi.useRealTimers();
  });

  /** A pusher that follows from the start, as a replica's does before it learns its role. */
  const follower = (o: Partial<PusherOptions> = {}) => {
    const p = new Pusher({
      build,
      store,
      log: createLogger('test', 'silent'),
      clock: () => now,
      nonce: () => `own-${++nonces}`,
      debounceMs: 10,
      maxDelayMs: 50,
      startupGraceMs: 0,
      onVersion: (v) => versions.push(v),
      onTable: (t) => tables.push(structuredClone(t)),
      onConverged: (c) => converged.push(c),
      ...o,
    });
    pushers.push(p);
    p.setBuilding(false);
    return p;
  };

  it('sends an agent whose subscriptions grew the services it lacks as a delta on the version it holds', () => {
    const p = follower();
    const x = sink('x');
    p.add(x, 0, ['a']);
    p.takeTable(table(5, services));
    expect(x.sent).toHaveLength(1);

    p.subscribe(x, ['b']);
    expect(x.sent).toHaveLength(1);
    vi.advanceTimersByTime(10);
    expect(x.sent[1]).toEqual({
      type: 'routes',
      version: 5,
      nonce: 'leader-5',
      baseVersion: 5,
      services: { b: services.b },
    });
    expect(JSON.parse(x.texts[1] as string)).toEqual(x.sent[1]);
    expect(p.version).toBe(5);
    expect(build).not.toHaveBeenCalled();
    expect(versions).toEqual([5]);

    // A subscription to a service not in the table sends nothing.
    p.subscribe(x, ['nope']);
    vi.advanceTimersByTime(10);
    expect(x.sent).toHaveLength(2);

    // The next adopted change to b reaches x, on the version it holds.
    services.b = { endpoints: [] };
    p.takeTable(table(6, services));
    expect(x.sent[2]).toEqual({
      type: 'routes',
      version: 6,
      nonce: 'leader-6',
      baseVersion: 5,
      services: { b: { endpoints: [] } },
    });
  });

  it('counts the ACKs of an adopted change for convergence', () => {
    const p = follower();
    const x = sink('x');
    const y = sink('y');
    const z = sink('z');
    p.add(x, 0, ['a']);
    p.add(y, 0, ['a']);
    p.add(z, 0, ['b']);
    p.takeTable(table(5, services));
    // The first table is not a change for anyone.
    p.ack(x, 5);
    p.ack(y, 5);
    p.ack(z, 5);
    expect(converged).toEqual([]);

    now = 2_000;
    services.a = { endpoints: [] };
    p.takeTable(table(6, services));
    now = 2_050;
    p.ack(x, 6);
    expect(converged).toEqual([]);
    now = 2_090;
    p.ack(y, 6);
    expect(converged).toEqual([
      { version: 6, decidedAt: 2_000, convergedAt: 2_090, durationMs: 90, agents: 2, unanswered: 0 },
    ]);

    // A removal is a change too, for the agents that had the service.
    now = 3_000;
    const { b: _b, ...withoutB } = services;
    p.takeTable(table(7, withoutB));
    now = 3_010;
    p.ack(z, 7);
    expect(converged.at(-1)).toEqual({
      version: 7,
      decidedAt: 3_000,
      convergedAt: 3_010,
      durationMs: 10,
      agents: 1,
      unanswered: 0,
    });
  });

  it('answers a base mismatch with a full table of the adopted version at once', () => {
    const p = follower();
    const x = sink('x');
    p.add(x, 0, ['a', 'b']);
    p.takeTable(table(5, services));
    services.a = { endpoints: [] };
    p.takeTable(table(6, services));
    p.nack(x, 6, 'MESHLET_DELTA_BASE_MISMATCH');
    expect(x.sent[2]).toEqual({
      type: 'routes',
      version: 6,
      nonce: 'leader-6',
      services: { a: services.a, b: services.b },
    });
    expect(build).not.toHaveBeenCalled();
  });
});
