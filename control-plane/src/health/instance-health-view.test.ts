import { describe, expect, it } from 'vitest';
import { agentRecord, instance } from '../registry/test-support/agent-record.js';
import { newHealthEntry } from './health-entry.js';
import { instanceHealthView } from './instance-health-view.js';

const flapping = { flapThreshold: 1, flapWindowMs: 60_000, holdDownMs: 10_000, maxHoldDownMs: 300_000 };

describe('instanceHealthView', () => {
  it('shows the state, its reason and the callers with reports', () => {
    const e = newHealthEntry(agentRecord('a-1', { health: 'healthy' }), instance('o-1'), 1_000, flapping);
    e.callers.add('z', { service: 'orders', id: 'o-1', ok: 1, failed: 0 }, 1_000);
    e.callers.add('y', { service: 'orders', id: 'o-1', ok: 0, failed: 1 }, 1_000);
    expect(instanceHealthView(e, 2_000)).toEqual({
      id: 'o-1',
      service: 'orders',
      agentId: 'a-1',
      state: 'healthy',
      since: 1_000,
      reason: 'registered, local health check passing',
      evidence: { signal: 'local-check', agentId: 'a-1' },
      heldUntil: undefined,
      callers: ['y', 'z'],
    });
  });

  it('shows a hold-down only while it lasts', () => {
    const e = newHealthEntry(agentRecord('a-1', { health: 'healthy' }), instance('o-1'), 0, flapping);
    e.flaps.fall(1_000);
    e.flaps.fall(2_000);
    expect(instanceHealthView(e, 11_999).heldUntil).toBe(12_000);
    expect(instanceHealthView(e, 12_000).heldUntil).toBeUndefined();
  });
});
