import { beforeEach, describe, expect, it, vi } from 'vitest';
import { EventLog } from '../events/event-log.js';
import { FailoverEngine, type TierCount } from './failover-engine.js';

const tiers = (primary: number, backup: number): TierCount[] => [
  { tier: 0, healthy: primary, total: 2 },
  { tier: 1, healthy: backup, total: 2 },
];

describe('FailoverEngine', () => {
  let now: number;
  let changes: number;
  let events: EventLog;
  let engine: FailoverEngine;

  beforeEach(() => {
    now = 0;
    changes = 0;
    events = new EventLog(100, () => now);
    engine = new FailoverEngine({ failbackHoldMs: 10_000, clock: () => now, events, onChange: () => changes++ });
  });

  it('hands over to the backup at once and fails back only after the primary was healthy for the hold time', () => {
    expect(engine.evaluate('orders', tiers(2, 2))).toBe(0);
    expect(events.list()).toEqual([]);

    now = 1000;
    expect(engine.evaluate('orders', tiers(0, 2))).toBe(1);
    expect(events.list().at(-1)).toMatchObject({
      kind: 'failover',
      service: 'orders',
      from: 'tier-0',
      to: 'tier-1',
      reason: 'tier 0 has no healthy endpoint; tier 1 takes over',
      evidence: { tiers: tiers(0, 2) },
    });

    now = 2000;
    expect(engine.evaluate('orders', tiers(1, 2))).toBe(1);
    expect(engine.list()[0]?.failbackAt).toBe(12_000);
    // The primary falls over again during the hold: the hold starts over.
    now = 5000;
    expect(engine.evaluate('orders', tiers(0, 2))).toBe(1);
    now = 6000;
    expect(engine.evaluate('orders', tiers(2, 2))).toBe(1);
    now = 15_999;
    engine.tick();
    expect(engine.activeTier('orders')).toBe(1);
    expect(changes).toBe(0);
    now = 16_000;
    engine.tick();
    expect(engine.activeTier('orders')).toBe(0);
    expect(changes).toBe(1);
    expect(events.list().at(-1)).toMatchObject({
      from: 'tier-1',
      to: 'tier-0',
      reason: 'tier 0 has been healthy for 10000 ms (hold 10000 ms)',
    });
  });

  it('serves from a lower tier before its hold ran out when the serving tier loses its last endpoint', () => {
    engine.evaluate('orders', tiers(2, 2));
    engine.evaluate('orders', tiers(0, 2));
    now = 1000;
    expect(engine.evaluate('orders', tiers(2, 0))).toBe(0);
    expect(events.list().at(-1)?.reason).toBe(
      'tier 1 has no healthy endpoint; tier 0 serves again before its hold ran out',
    );
  });

  it('keeps the serving tier when no tier has a healthy endpoint', () => {
    engine.evaluate('orders', tiers(2, 2));
    expect(engine.evaluate('orders', tiers(0, 0))).toBe(0);
    expect(events.list()).toEqual([]);
  });

  it('manual failover pins the backup; manual failback returns at once', () => {
    engine.evaluate('orders', tiers(2, 2));
    expect(engine.failover('nope')).toEqual({ ok: false, error: 'service "nope" has no backup tier' });
    expect(engine.failover('orders')).toEqual({ ok: true, activeTier: 1 });
    expect(changes).toBe(1);
    expect(events.list().at(-1)).toMatchObject({
      from: 'tier-0',
      to: 'tier-1',
      reason: 'manual failover',
      evidence: { manual: true },
    });
    expect(engine.failover('orders')).toEqual({
      ok: false,
      error: 'service "orders" has no healthy endpoint in a tier above 1',
    });
    // Pinned: a healthy primary does not pull traffic back.
    now = 60_000;
    engine.evaluate('orders', tiers(2, 2));
    engine.tick();
    expect(engine.activeTier('orders')).toBe(1);
    expect(engine.failback('orders')).toEqual({ ok: true, activeTier: 0 });
    expect(events.list().at(-1)).toMatchObject({ from: 'tier-1', to: 'tier-0', reason: 'manual failback' });
  });

  it('a pinned backup that loses every endpoint gives way', () => {
    engine.evaluate('orders', tiers(2, 2));
    engine.failover('orders');
    expect(engine.evaluate('orders', tiers(2, 0))).toBe(0);
    expect(engine.list()[0]?.pinned).toBe(false);
  });
});

// A follower replica's engine takes over the serving tier the leader decided,
// so that if it becomes leader it goes on from there instead of deciding afresh.

describe("FailoverEngine: adopting the leader's serving tier", () => {
  const HOLD = 10_000;
  let now: number;
  let changes: number;
  let events: EventLog;
  let add: ReturnType<typeof vi.spyOn>;
  let engine: FailoverEngine;

  beforeEach(() => {
    now = 0;
    changes = 0;
    events = new EventLog(100, () => now);
    add = vi.spyOn(events, 'add');
    engine = new FailoverEngine({ failbackHoldMs: HOLD, clock: () => now, events, onChange: () => changes++ });
  });

  it('goes on from the adopted tier: a healthy lower tier waits for the failback hold', () => {
    // Without it, a fresh engine would pick the lowest healthy tier at once.
    const fresh = new FailoverEngine({ failbackHoldMs: HOLD, clock: () => now, events, onChange: () => undefined });
    expect(fresh.evaluate('orders', tiers(2, 2))).toBe(0);

    now = 1_000;
    engine.setActive('orders', tiers(2, 2), 1);
    expect(engine.activeTier('orders')).toBe(1);
    expect(engine.evaluate('orders', tiers(2, 2))).toBe(1);
    expect(engine.list()).toEqual([
      { service: 'orders', activeTier: 1, pinned: false, failbackAt: 1_000 + HOLD, tiers: tiers(2, 2) },
    ]);

    now = 1_000 + HOLD - 1;
    engine.tick();
    expect(engine.activeTier('orders')).toBe(1);
    expect(changes).toBe(0);
    now = 1_000 + HOLD;
    engine.tick();
    expect(engine.activeTier('orders')).toBe(0);
    expect(changes).toBe(1);
    expect(events.list()).toMatchObject([{ kind: 'failover', service: 'orders', from: 'tier-1', to: 'tier-0' }]);
  });

  it('takes over at once from the adopted tier when it has no healthy endpoint', () => {
    engine.setActive('orders', tiers(0, 2), 1);
    expect(engine.evaluate('orders', tiers(2, 0))).toBe(0);
    expect(events.list()).toMatchObject([
      {
        from: 'tier-1',
        to: 'tier-0',
        reason: 'tier 1 has no healthy endpoint; tier 0 serves again before its hold ran out',
      },
    ]);
  });

  it('restarts a pending failback hold', () => {
    expect(engine.evaluate('orders', tiers(2, 2))).toBe(0);
    now = 1_000;
    expect(engine.evaluate('orders', tiers(0, 2))).toBe(1);
    now = 2_000;
    expect(engine.evaluate('orders', tiers(2, 2))).toBe(1);
    expect(engine.list()[0]?.failbackAt).toBe(2_000 + HOLD);

    now = 5_000;
    engine.setActive('orders', tiers(2, 2), 1);
    expect(engine.list()[0]?.failbackAt).toBeUndefined();
    now = 2_000 + HOLD;
    engine.tick();
    expect(engine.activeTier('orders')).toBe(1);
    expect(engine.evaluate('orders', tiers(2, 2))).toBe(1);
    expect(engine.list()[0]?.failbackAt).toBe(2_000 + 2 * HOLD);
  });

  it('ends a manual pin when it adopts another tier, and keeps it for the same tier', () => {
    const three: TierCount[] = [...tiers(2, 2), { tier: 2, healthy: 2, total: 2 }];
    expect(engine.evaluate('orders', three)).toBe(0);
    expect(engine.failover('orders')).toEqual({ ok: true, activeTier: 1 });
    expect(engine.list()[0]?.pinned).toBe(true);

    engine.setActive('orders', three, 1);
    expect(engine.list()[0]?.pinned).toBe(true);
    // Pinned: a healthy tier 0 does not start a failback.
    now = 1_000;
    expect(engine.evaluate('orders', three)).toBe(1);
    expect(engine.list()[0]?.failbackAt).toBeUndefined();

    engine.setActive('orders', three, 2);
    expect(engine.list()[0]).toMatchObject({ activeTier: 2, pinned: false });
    // No longer pinned: tier 0 fails back after the hold.
    expect(engine.evaluate('orders', three)).toBe(2);
    expect(engine.list()[0]?.failbackAt).toBe(1_000 + HOLD);
    now = 1_000 + HOLD;
    engine.tick();
    expect(engine.activeTier('orders')).toBe(0);
  });

  it('records no event and does not tell the owner', () => {
    expect(engine.evaluate('orders', tiers(2, 2))).toBe(0);
    engine.setActive('orders', tiers(2, 2), 1);
    engine.setActive('orders', tiers(0, 2), 1);
    engine.setActive('billing', tiers(0, 1), 1);
    expect(add).not.toHaveBeenCalled();
    expect(events.list()).toEqual([]);
    expect(changes).toBe(0);
    expect(engine.activeTier('billing')).toBe(1);
  });

  it('sorts the adopted tier counts', () => {
    engine.setActive(
      'orders',
      [
        { tier: 1, healthy: 1, total: 1 },
        { tier: 0, healthy: 0, total: 1 },
      ],
      1,
    );
    expect(engine.list()[0]?.tiers.map((t) => t.tier)).toEqual([0, 1]);
  });
});
