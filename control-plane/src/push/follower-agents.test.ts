import { describe, expect, it, vi } from 'vitest';
import { leaderTable as table, useFollower } from './test-support/follower.js';
import { sink } from './test-support/table-sinks.js';

// What the pusher of a follower replica answers its own agents, on the
// leader's tables it took (takeTable): a subscription that grew, the ACKs
// that make a convergence, a NACK for a delta on the wrong base. How it takes
// those tables is in follower-tables.test.ts.

/** A table as the leader publishes it. */
describe('Pusher on a follower replica', () => {
  const fx = useFollower();

  it('sends an agent whose subscriptions grew the services it lacks as a delta on the version it holds', () => {
    const p = fx.follower();
    const x = sink('x');
    p.add(x, 0, ['a']);
    p.takeTable(table(5, fx.services));
    expect(x.sent).toHaveLength(1);

    p.subscribe(x, ['b']);
    expect(x.sent).toHaveLength(1);
    vi.advanceTimersByTime(10);
    expect(x.sent[1]).toEqual({
      type: 'routes',
      version: 5,
      nonce: 'leader-5',
      baseVersion: 5,
      services: { b: fx.services.b },
    });
    expect(JSON.parse(x.texts[1] as string)).toEqual(x.sent[1]);
    expect(p.version).toBe(5);
    expect(fx.build).not.toHaveBeenCalled();
    expect(fx.versions).toEqual([5]);

    // A subscription to a service not in the table sends nothing.
    p.subscribe(x, ['nope']);
    vi.advanceTimersByTime(10);
    expect(x.sent).toHaveLength(2);

    // The next adopted change to b reaches x, on the version it holds.
    fx.services.b = { endpoints: [] };
    p.takeTable(table(6, fx.services));
    expect(x.sent[2]).toEqual({
      type: 'routes',
      version: 6,
      nonce: 'leader-6',
      baseVersion: 5,
      services: { b: { endpoints: [] } },
    });
  });

  it('counts the ACKs of an adopted change for convergence', () => {
    const p = fx.follower();
    const x = sink('x');
    const y = sink('y');
    const z = sink('z');
    p.add(x, 0, ['a']);
    p.add(y, 0, ['a']);
    p.add(z, 0, ['b']);
    p.takeTable(table(5, fx.services));
    // The first table is not a change for anyone.
    p.ack(x, 5);
    p.ack(y, 5);
    p.ack(z, 5);
    expect(fx.converged).toEqual([]);

    fx.now = 2_000;
    fx.services.a = { endpoints: [] };
    p.takeTable(table(6, fx.services));
    fx.now = 2_050;
    p.ack(x, 6);
    expect(fx.converged).toEqual([]);
    fx.now = 2_090;
    p.ack(y, 6);
    expect(fx.converged).toEqual([
      { version: 6, decidedAt: 2_000, convergedAt: 2_090, durationMs: 90, agents: 2, unanswered: 0 },
    ]);

    // A removal is a change too, for the agents that had the service.
    fx.now = 3_000;
    const { b: _b, ...withoutB } = fx.services;
    p.takeTable(table(7, withoutB));
    fx.now = 3_010;
    p.ack(z, 7);
    expect(fx.converged.at(-1)).toEqual({
      version: 7,
      decidedAt: 3_000,
      convergedAt: 3_010,
      durationMs: 10,
      agents: 1,
      unanswered: 0,
    });
  });

  it('answers a base mismatch with a full table of the adopted version at once', () => {
    const p = fx.follower();
    const x = sink('x');
    p.add(x, 0, ['a', 'b']);
    p.takeTable(table(5, fx.services));
    fx.services.a = { endpoints: [] };
    p.takeTable(table(6, fx.services));
    p.nack(x, 6, 'MESHLET_DELTA_BASE_MISMATCH');
    expect(x.sent[2]).toEqual({
      type: 'routes',
      version: 6,
      nonce: 'leader-6',
      services: { a: fx.services.a, b: fx.services.b },
    });
    expect(fx.build).not.toHaveBeenCalled();
  });
});
