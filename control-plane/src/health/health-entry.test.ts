import { describe, expect, it } from 'vitest';
import { agentRecord, instance } from '../registry/test-support/agent-record.js';
import { newHealthEntry } from './health-entry.js';

const flapping = { flapThreshold: 1, flapWindowMs: 60_000, holdDownMs: 10_000, maxHoldDownMs: 300_000 };

describe('newHealthEntry', () => {
  it('starts an instance whose local check passes as healthy, with no holds and no reports', () => {
    const r = agentRecord('a-1', { health: 'healthy' });
    const e = newHealthEntry(r, instance('o-1', 'orders'), 5_000, flapping);
    expect(e).toMatchObject({
      id: 'o-1',
      service: 'orders',
      record: r,
      state: 'healthy',
      since: 5_000,
      reason: 'registered, local health check passing',
      evidence: { signal: 'local-check', agentId: 'a-1' },
      drain: undefined,
      beforeDrain: 'healthy',
      observationDownUntil: 0,
      observationEjections: 0,
      heldUntil: 0,
      cleanSince: 5_000,
    });
    expect(e.callers.callers()).toEqual([]);
  });

  it('starts an instance with a hard signal as unhealthy, with its reason', () => {
    const r = agentRecord('a-1', { health: 'unhealthy', healthReason: 'db down' });
    const e = newHealthEntry(r, instance('o-1'), 5_000, flapping);
    expect(e.state).toBe('unhealthy');
    expect(e.reason).toBe('local health check failing: db down');
    expect(e.evidence).toEqual({ signal: 'local-check', agentId: 'a-1', detail: 'db down' });
  });

  it('reads heldUntil from its flap damper', () => {
    const e = newHealthEntry(agentRecord('a-1', { health: 'healthy' }), instance('o-1'), 0, flapping);
    e.flaps.fall(1_000);
    e.flaps.fall(2_000);
    expect(e.heldUntil).toBe(12_000);
  });
});
