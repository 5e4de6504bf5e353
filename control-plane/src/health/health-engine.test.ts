import type { Observations } from '@meshlet/shared';
import { beforeEach, describe, expect, it } from 'vitest';
import { EventLog } from '../events/event-log.js';
import type { AgentRecord } from '../registry/agent-record.js';
import { agentRecord } from '../registry/test-support/agent-record.js';
import { HealthEngine, type HealthSettings } from './health-engine.js';

const settings: HealthSettings = {
  quorum: 2,
  observationWindowMs: 3000,
  minFailures: 3,
  failurePercent: 50,
  observationHoldMs: 5000,
  recoverMs: 3000,
  flapThreshold: 3,
  flapWindowMs: 60_000,
  holdDownMs: 10_000,
  maxHoldDownMs: 300_000,
  heartbeatTimeoutMs: 3000,
};

const record = (id: string, over: Partial<AgentRecord> = {}): AgentRecord =>
  agentRecord(id, { health: 'healthy', ...over });

function report(id: string, ok: number, failed: number): Observations {
  return { type: 'observations', windowMs: 1000, endpoints: [{ service: 'orders', id, ok, failed }] };
}

describe('HealthEngine', () => {
  let now: number;
  let changes: number;
  let events: EventLog;
  let engine: HealthEngine;
  let r: AgentRecord;

  /** Advances the clock in heartbeat-sized steps, keeping the agent seen, and ticks. */
  const advance = (ms: number, step = 250) => {
    for (let t = 0; t < ms; t += step) {
      now += Math.min(step, ms - t);
      r.lastSeenAt = now;
      engine.tick();
    }
  };
  const transitions = () => events.list({ instance: 'o-1' }).map((e) => `${e.from}->${e.to}`);

  beforeEach(() => {
    now = 1_000_000;
    changes = 0;
    events = new EventLog(100, () => now);
    engine = new HealthEngine({ settings, clock: () => now, events, onChange: () => changes++ });
    r = record('o-1', { lastSeenAt: now });
    engine.update(r);
  });

  it('takes an instance out at once on a lost connection or a failing local check, and back through recovering', () => {
    expect(engine.state('o-1')).toBe('healthy');
    r.health = 'unhealthy';
    r.healthReason = 'GET /healthz answered 503';
    engine.update(r);
    expect(engine.state('o-1')).toBe('unhealthy');
    expect(engine.routed(r)).toBe('unhealthy');
    expect(events.list().at(-1)).toMatchObject({
      kind: 'health',
      service: 'orders',
      from: 'healthy',
      to: 'unhealthy',
      reason: 'local health check failing: GET /healthz answered 503',
    });

    r.health = 'healthy';
    engine.update(r);
    expect(engine.state('o-1')).toBe('recovering');
    // Recovering is routed again.
    expect(engine.routed(r)).toBeUndefined();
    advance(2750);
    expect(engine.state('o-1')).toBe('recovering');
    advance(250);
    expect(engine.state('o-1')).toBe('healthy');

    r.connected = false;
    r.disconnectReason = 'stream closed';
    engine.update(r);
    expect(engine.state('o-1')).toBe('unhealthy');
    expect(events.list().at(-1)?.reason).toBe('agent disconnected: stream closed');
    expect(transitions()).toEqual([
      'absent->healthy',
      'healthy->unhealthy',
      'unhealthy->recovering',
      'recovering->healthy',
      'healthy->unhealthy',
    ]);
  });

  it('a quorum of callers marks it unhealthy while its own check passes; one caller only makes it suspect', () => {
    for (const c of ['a', 'b', 'c']) engine.update(record(c));
    engine.observe('a', report('o-1', 0, 5));
    engine.observe('b', report('o-1', 10, 0));
    engine.observe('c', report('o-1', 10, 0));
    engine.tick();
    expect(engine.state('o-1')).toBe('suspect');
    expect(engine.routed(r)).toBeUndefined();

    engine.observe('b', report('o-1', 0, 10));
    engine.tick();
    expect(engine.state('o-1')).toBe('unhealthy');
    const e = events.list().at(-1);
    expect(e?.reason).toMatch(/^2 of 3 callers see it failing \(quorum 2\); down for at least 5000 ms$/);
    expect(e?.evidence).toMatchObject({
      signal: 'callers',
      failing: ['a', 'b'],
      quorum: 2,
      counts: { a: { ok: 0, failed: 5 }, b: { ok: 10, failed: 10 } },
    });

    // Held down for observationHoldMs even though nobody reports any more, then on probation.
    advance(4750);
    expect(engine.state('o-1')).toBe('unhealthy');
    advance(250);
    expect(engine.state('o-1')).toBe('recovering');
    // A failure on probation sends it straight back, for twice as long.
    engine.observe('a', report('o-1', 0, 3));
    engine.observe('c', report('o-1', 0, 3));
    engine.tick();
    expect(engine.state('o-1')).toBe('unhealthy');
    expect(events.list().at(-1)?.reason).toMatch(/down for at least 10000 ms$/);
  });

  it('one process as two callers: two agents on one credential are one caller and never make a quorum alone', () => {
    for (const c of ['honest', 'evil-a', 'evil-b']) engine.update(record(c));
    engine.observe('honest', report('o-1', 10, 0), 'credential/aaaa');
    engine.observe('evil-a', report('o-1', 0, 100), 'credential/bbbb');
    engine.observe('evil-b', report('o-1', 0, 100), 'credential/bbbb');
    engine.tick();
    // Two identities, one failing: below the quorum of 2; by agent id it was 2 of 3.
    expect(engine.state('o-1')).toBe('suspect');
    const view = engine.list().find((v) => v.id === 'o-1');
    expect(view?.callers).toEqual(['evil-a', 'evil-b', 'honest']);
    const last = events.list({ instance: 'o-1' }).at(-1);
    expect(last?.reason).toBe('1 of 2 callers see it failing, below the quorum of 2');
    expect(last?.evidence).toMatchObject({ failing: ['evil-a+evil-b'], callers: 2 });

    // A second, distinct credential seeing the same makes the quorum.
    engine.update(record('other'));
    engine.observe('other', report('o-1', 0, 5), 'credential/cccc');
    engine.tick();
    expect(engine.state('o-1')).toBe('unhealthy');
  });

  it("replicas of one calling service share its credential: one replica's blip does not mark the instance unhealthy", () => {
    for (const c of ['web-1', 'web-2', 'web-3']) engine.update(record(c));
    engine.observe('web-1', report('o-1', 0, 10), 'credential/web');
    engine.observe('web-2', report('o-1', 10, 0), 'credential/web');
    engine.observe('web-3', report('o-1', 10, 0), 'credential/web');
    engine.tick();
    // One caller (the web service), and it does not see o-1 failing: 1 of its 3 agents does.
    expect(engine.state('o-1')).toBe('healthy');
    // Most of its replicas failing: the one caller sees it failing, and one caller of one is the quorum.
    engine.observe('web-2', report('o-1', 0, 10), 'credential/web');
    engine.tick();
    expect(engine.state('o-1')).toBe('unhealthy');
    const last = events.list({ instance: 'o-1' }).at(-1);
    expect(last?.evidence).toMatchObject({ failing: ['web-1+web-2'], callers: 1 });
  });

  it("one lying replica reporting huge success counts does not mask its peers' failures", () => {
    for (const c of ['web-1', 'web-2', 'liar']) engine.update(record(c));
    engine.observe('web-1', report('o-1', 0, 10), 'credential/web');
    engine.observe('web-2', report('o-1', 0, 10), 'credential/web');
    engine.observe('liar', report('o-1', 2 ** 31, 0), 'credential/web');
    engine.tick();
    expect(engine.state('o-1')).toBe('unhealthy');
  });

  it('counts a caller whose outlier detection ejected it as seeing it fail, whatever its counts', () => {
    // Hundreds of successes before the fault, then the few failures that ejected it: the ratio alone would not do.
    engine.observe('a', {
      type: 'observations',
      windowMs: 1000,
      endpoints: [{ service: 'orders', id: 'o-1', ok: 300, failed: 5, ejected: true }],
    });
    engine.observe('b', {
      type: 'observations',
      windowMs: 1000,
      endpoints: [{ service: 'orders', id: 'o-1', ok: 0, failed: 0, ejected: true }],
    });
    engine.tick();
    expect(engine.state('o-1')).toBe('unhealthy');
    expect(events.list({ instance: 'o-1' }).at(-1)?.evidence).toMatchObject({
      failing: ['a', 'b'],
      counts: { a: { ok: 300, failed: 5, ejected: true } },
    });
  });

  it('with a single caller, that caller is the majority', () => {
    engine.observe('a', report('o-1', 1, 3));
    engine.tick();
    expect(engine.state('o-1')).toBe('unhealthy');
  });

  it('ignores failures below minFailures or failurePercent, and reports older than the window', () => {
    engine.observe('a', report('o-1', 0, 2));
    engine.observe('b', report('o-1', 10, 9));
    engine.tick();
    expect(engine.state('o-1')).toBe('healthy');
    advance(3250);
    engine.observe('a', report('o-1', 0, 2));
    engine.tick();
    // 2 + 2 failures, but the first report left the window.
    expect(engine.state('o-1')).toBe('healthy');
  });

  it('a late heartbeat makes it suspect, not unhealthy', () => {
    now += 1600;
    engine.tick();
    expect(engine.state('o-1')).toBe('suspect');
    expect(events.list().at(-1)?.evidence).toMatchObject({ signal: 'heartbeat' });
    r.lastSeenAt = now;
    engine.tick();
    expect(engine.state('o-1')).toBe('healthy');
  });

  it('flap damping holds a flapping instance down, longer each time', () => {
    const flap = () => {
      r.health = 'unhealthy';
      engine.update(r);
      r.health = 'healthy';
      engine.update(r);
      advance(3000);
    };
    for (let i = 0; i < 3; i++) flap();
    expect(engine.state('o-1')).toBe('healthy');
    r.health = 'unhealthy';
    engine.update(r);
    const held = events.list().at(-1);
    expect(held?.reason).toMatch(/flapping \(4 times unhealthy within 60000 ms\): held down for 10000 ms/);
    r.health = 'healthy';
    engine.update(r);
    // Every signal is clear, but it stays down until the hold-down ends.
    advance(9750);
    expect(engine.state('o-1')).toBe('unhealthy');
    expect(engine.list()[0]?.heldUntil).toBeGreaterThan(now);
    advance(250);
    expect(engine.state('o-1')).toBe('recovering');
    advance(3000);
    expect(engine.state('o-1')).toBe('healthy');
    // The next flap within the window doubles the hold-down.
    r.health = 'unhealthy';
    engine.update(r);
    expect(events.list().at(-1)?.reason).toMatch(/held down for 20000 ms/);
  });

  it('drain overrides every signal until undrained; a clean shutdown removes the instance', () => {
    expect(engine.drain('nope')).toBe(false);
    expect(engine.drain('o-1')).toBe(true);
    expect(engine.state('o-1')).toBe('draining');
    expect(engine.routed(r)).toBe('draining');
    expect(events.list().at(-1)).toMatchObject({
      kind: 'drain',
      from: 'healthy',
      to: 'draining',
      reason: 'drained by an operator',
    });
    engine.undrain('o-1');
    expect(engine.state('o-1')).toBe('healthy');
    expect(events.list().at(-1)).toMatchObject({ kind: 'drain', from: 'draining', to: 'healthy', reason: 'undrained' });

    r.connected = false;
    r.graceful = true;
    engine.update(r);
    expect(engine.state('o-1')).toBeUndefined();
    expect(engine.routed(r)).toBe('excluded');
    expect(events.list().at(-1)).toMatchObject({
      from: 'healthy',
      to: 'absent',
      reason: 'the agent shut down cleanly',
    });
  });

  it('an undrain goes on from the state before the drain, without counting flaps', () => {
    engine.observe('a', report('o-1', 0, 5));
    engine.tick();
    expect(engine.state('o-1')).toBe('unhealthy');
    engine.drain('o-1');
    engine.undrain('o-1');
    // Still within the callers' hold: back to unhealthy, not healthy.
    expect(engine.state('o-1')).toBe('unhealthy');
    expect(events.list().at(-1)).toMatchObject({ from: 'draining', to: 'unhealthy', reason: 'undrained' });

    r.health = 'unhealthy';
    engine.update(r);
    for (let i = 0; i < 5; i++) {
      engine.drain('o-1');
      engine.undrain('o-1');
    }
    expect(engine.list()[0]?.heldUntil).toBeUndefined();
    expect(events.list().filter((e) => /flapping/.test(e.reason))).toEqual([]);
  });

  it('decides nothing before the first health report, and tells its owner only when routing changes', () => {
    const fresh = record('o-2', { health: 'unknown' });
    engine.update(fresh);
    expect(engine.state('o-2')).toBeUndefined();
    expect(engine.routed(fresh)).toBe('excluded');
    const before = changes;
    now += 1600;
    engine.tick(); // healthy -> suspect: still routed
    expect(engine.state('o-1')).toBe('suspect');
    expect(changes).toBe(before);
    fresh.health = 'healthy';
    engine.update(fresh);
    expect(engine.state('o-2')).toBe('healthy');
    expect(changes).toBe(before + 1);
  });
});
