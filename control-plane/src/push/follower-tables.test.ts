import type { ServiceRoutes } from '@meshlet/shared';
import { describe, expect, it, vi } from 'vitest';
import { leaderTable as table, useFollower } from './test-support/follower.js';
import { ep, sink } from './test-support/table-sinks.js';

// What the pusher does with tables while its replica follows (what
// EtcdReplication's attach, #onRole and #onTable ask of it): it makes no
// version of its own (setBuilding(false)), takes the leader's tables
// (takeTable, version and nonce included) and sends its own agents what
// concerns them; and what changes when the replica becomes the leader, or
// finds it led wrongly. What a follower answers its agents' subscriptions,
// ACKs and NACKs is in follower-agents.test.ts.

/** A table as the leader publishes it. */
describe('Pusher on a follower replica', () => {
  const fx = useFollower();

  it('builds nothing and makes no version on schedule, flush or a subscription', () => {
    fx.store.data.set('routing', { version: 41 });
    const p = fx.follower();
    const x = sink('x');
    p.add(x, 0, ['a']);
    p.schedule();
    vi.advanceTimersByTime(1_000);
    p.flush();
    p.subscribe(x, ['b']);
    vi.advanceTimersByTime(1_000);
    expect(fx.build).not.toHaveBeenCalled();
    expect(p.version).toBe(41);
    expect(p.current).toBeUndefined();
    expect(x.sent).toEqual([]);
    expect(fx.versions).toEqual([]);
    expect(fx.tables).toEqual([]);
    expect(fx.store.get('routing')).toEqual({ version: 41 });
  });

  it("adopts the leader's version and nonce and sends each agent a full table of its fx.services, then deltas on what it was last sent", () => {
    const p = fx.follower();
    const x = sink('x');
    const y = sink('y');
    const z = sink('z');
    p.add(x, 0, ['a', 'b']);
    p.add(y, 0, ['c']);
    p.add(z, 0);

    expect(p.takeTable(table(5, fx.services))).toBe(true);
    expect(p.version).toBe(5);
    expect(p.current).toEqual({ type: 'routes', version: 5, nonce: 'leader-5', services: fx.services });
    expect(fx.versions).toEqual([5]);
    expect(x.sent).toEqual([
      { type: 'routes', version: 5, nonce: 'leader-5', services: { a: fx.services.a, b: fx.services.b } },
    ]);
    expect(JSON.parse(x.texts[0] as string)).toEqual(x.sent[0]);
    expect(y.sent).toEqual([{ type: 'routes', version: 5, nonce: 'leader-5', services: { c: fx.services.c } }]);
    expect(Object.keys(z.sent[0]?.services ?? {})).toEqual(['a', 'b', 'c']);
    expect(x.record.sent).toEqual({ version: 5, nonce: 'leader-5', at: 1_000 });

    // a changes: x (and z, which gets everything) get a delta on 5; y does not call a.
    fx.now = 2_000;
    fx.services.a = { endpoints: [ep('a-1', 'unhealthy')] };
    expect(p.takeTable(table(7, fx.services))).toBe(true);
    expect(x.sent[1]).toEqual({
      type: 'routes',
      version: 7,
      nonce: 'leader-7',
      baseVersion: 5,
      services: { a: fx.services.a },
    });
    expect(JSON.parse(x.texts[1] as string)).toEqual(x.sent[1]);
    expect(z.sent[1]).toEqual({
      type: 'routes',
      version: 7,
      nonce: 'leader-7',
      baseVersion: 5,
      services: { a: fx.services.a },
    });
    expect(y.sent).toHaveLength(1);
    expect(p.serviceVersion('a')).toBe(7);
    expect(p.serviceVersion('c')).toBe(5);

    // c changes: y's delta is on 5, the version it was last sent, not on 7.
    fx.services.c = { endpoints: [] };
    expect(p.takeTable(table(9, fx.services))).toBe(true);
    expect(y.sent[1]).toEqual({
      type: 'routes',
      version: 9,
      nonce: 'leader-9',
      baseVersion: 5,
      services: { c: { endpoints: [] } },
    });
    expect(x.sent).toHaveLength(2);
    expect(z.sent[2]).toMatchObject({ version: 9, baseVersion: 7, services: { c: { endpoints: [] } } });
    expect(fx.versions).toEqual([5, 7, 9]);
    expect(fx.build).not.toHaveBeenCalled();
    // The follower publishes nothing of its own.
    expect(fx.tables).toEqual([]);
  });

  it('ignores a table that is not newer than the one it holds', () => {
    const p = fx.follower();
    const x = sink('x');
    p.add(x, 0, ['a']);
    expect(p.takeTable(table(5, fx.services))).toBe(true);
    const changed = { ...fx.services, a: { endpoints: [] } };
    expect(p.takeTable(table(5, changed))).toBe(false);
    expect(p.takeTable(table(4, changed))).toBe(false);
    expect(p.takeTable(table(4, changed, 'other-nonce'))).toBe(false);
    expect(p.version).toBe(5);
    expect(p.current?.nonce).toBe('leader-5');
    expect(p.current?.services.a).toEqual(fx.services.a);
    expect(x.sent).toHaveLength(1);
    expect(fx.versions).toEqual([5]);
  });

  it('lists the services a newer table dropped in `removed`', () => {
    const p = fx.follower();
    const x = sink('x');
    const all = sink('all');
    p.add(x, 0, ['a', 'b']);
    p.add(all, 0);
    p.takeTable(table(5, fx.services));
    const { b: _b, ...withoutB } = fx.services;
    p.takeTable(table(6, withoutB));
    expect(x.sent[1]).toEqual({
      type: 'routes',
      version: 6,
      nonce: 'leader-6',
      baseVersion: 5,
      services: {},
      removed: ['b'],
    });
    expect(JSON.parse(x.texts[1] as string)).toEqual(x.sent[1]);
    expect(all.sent[1]).toMatchObject({ version: 6, baseVersion: 5, services: {}, removed: ['b'] });
    expect(p.current?.services).toEqual(withoutB);
    expect(p.serviceVersion('b')).toBeUndefined();
  });

  it('is not held back by the startup grace period', () => {
    const p = fx.follower({ startupGraceMs: 10_000 });
    const x = sink('x');
    p.add(x, 0, ['a']);
    expect(p.inGrace()).toBe(true);
    p.takeTable(table(3, fx.services));
    expect(x.sent.map((m) => m.version)).toEqual([3]);
    // An agent that connects during the grace period gets the adopted table at once too.
    const late = sink('late');
    p.add(late, 0, ['b']);
    expect(late.sent).toEqual([{ type: 'routes', version: 3, nonce: 'leader-3', services: { b: fx.services.b } }]);
    // The end of the grace period builds nothing on a follower.
    vi.advanceTimersByTime(10_000);
    expect(fx.build).not.toHaveBeenCalled();
    expect(p.version).toBe(3);
  });

  it('does not lift its counter to a higher version an agent holds', () => {
    const p = fx.follower();
    const early = sink('early');
    p.add(early, 100, ['a']);
    vi.advanceTimersByTime(1_000);
    expect(p.version).toBe(0);
    expect(early.sent).toEqual([]);

    p.takeTable(table(5, fx.services));
    expect(early.sent.map((m) => m.version)).toEqual([5]);
    const x = sink('x');
    p.add(x, 100, ['a']);
    vi.advanceTimersByTime(1_000);
    expect(p.version).toBe(5);
    // The agent gets the leader's table, whatever it holds.
    expect(x.sent).toEqual([{ type: 'routes', version: 5, nonce: 'leader-5', services: { a: fx.services.a } }]);
    expect(fx.build).not.toHaveBeenCalled();
    // The leader's next table is still taken: the held 100 did not move the counter.
    expect(p.takeTable(table(6, { ...fx.services, a: { endpoints: [] } }))).toBe(true);
    expect(x.sent[1]).toMatchObject({ version: 6, baseVersion: 5 });
  });

  it('builds above the adopted version once it leads, and hands the new table to onTable', () => {
    const p = fx.follower();
    const x = sink('x');
    p.add(x, 0, ['a']);
    p.takeTable(table(5, fx.services));
    fx.services.a = { endpoints: [ep('a-2')] };

    p.setBuilding(true);
    vi.advanceTimersByTime(10);
    expect(fx.build).toHaveBeenCalledWith(6);
    expect(p.version).toBe(6);
    expect(fx.versions).toEqual([5, 6]);
    expect(fx.tables).toEqual([{ type: 'routes', version: 6, nonce: 'own-1', services: fx.services }]);
    expect(x.sent[1]).toEqual({
      type: 'routes',
      version: 6,
      nonce: 'own-1',
      baseVersion: 5,
      services: { a: fx.services.a },
    });
    expect(fx.store.get('routing')).toEqual({ version: 6 });

    // A table from elsewhere older than its own, or its own again, is not taken.
    expect(p.takeTable(table(5, fx.services))).toBe(false);
    expect(p.takeTable(table(6, fx.services, 'own-1'))).toBe(false);
    expect(p.current?.nonce).toBe('own-1');
    // Following again: the leader's newer table is adopted, with its version and nonce.
    p.setBuilding(false);
    expect(p.takeTable(table(8, fx.services))).toBe(true);
    expect(p.current?.nonce).toBe('leader-8');
    fx.build.mockClear();
    p.schedule();
    vi.advanceTimersByTime(100);
    expect(fx.build).not.toHaveBeenCalled();
  });

  it("replaces a version it made while it wrongly led with the leader's of the same version, as full fx.tables", () => {
    const p = fx.follower();
    const x = sink('x');
    const y = sink('y');
    p.add(x, 0, ['a', 'b']);
    p.add(y, 0, ['c']);
    p.takeTable(table(5, fx.services));
    // It believes it leads and makes version 6 of its own.
    const own = structuredClone(fx.services);
    fx.services.a = { endpoints: [ep('a-own')] };
    p.setBuilding(true);
    vi.advanceTimersByTime(10);
    expect(p.current).toMatchObject({ version: 6, nonce: 'own-1' });
    expect(x.sent[1]).toMatchObject({ version: 6, nonce: 'own-1', baseVersion: 5 });

    // Deposed: the real leader's version 6 replaces it, and every agent gets it in full, whatever it was sent.
    p.setBuilding(false);
    const leaders: Record<string, ServiceRoutes> = { ...own, b: { endpoints: [ep('b-leader')] } };
    expect(p.takeTable(table(6, leaders))).toBe(true);
    expect(p.version).toBe(6);
    expect(p.current).toEqual({ type: 'routes', version: 6, nonce: 'leader-6', services: leaders });
    expect(x.sent[2]).toEqual({
      type: 'routes',
      version: 6,
      nonce: 'leader-6',
      services: { a: leaders.a, b: leaders.b },
    });
    expect(y.sent.at(-1)).toEqual({ type: 'routes', version: 6, nonce: 'leader-6', services: { c: leaders.c } });
    // Only once: the same table again is not newer.
    expect(p.takeTable(table(6, leaders))).toBe(false);
    // Deltas follow on the leader's version 6.
    fx.services = { ...leaders, a: { endpoints: [] } };
    p.takeTable(table(7, fx.services));
    expect(x.sent[3]).toEqual({
      type: 'routes',
      version: 7,
      nonce: 'leader-7',
      baseVersion: 6,
      services: { a: { endpoints: [] } },
    });
  });
});
