import { describe, expect, it } from 'vitest';
import type { HealthState } from '../health/health-state.js';
import type { AgentRecord } from '../registry/agent-record.js';
import type { HeldLock } from './lock-backend.js';
import { ReleaseTriggers } from './release-triggers.js';

const held = (agentId: string, releaseOnUnhealthy = true): HeldLock => ({
  key: `coord/lock/svc/${agentId}`,
  token: 1,
  record: { holder: { agentId, instanceId: `${agentId}-i` }, ttlMs: 15_000, releaseOnUnhealthy },
});

describe('ReleaseTriggers', () => {
  let now = 100_000;
  const agents = new Map<string, Partial<AgentRecord>>();
  const health = new Map<string, HealthState>();
  const triggers = new ReleaseTriggers({
    agent: (id) => agents.get(id) as AgentRecord | undefined,
    health: (id) => health.get(id),
    timeoutMs: 3_000,
    clock: () => now,
  });

  it('frees a holder whose agent has been gone past the heartbeat timeout, not one that is back in time', () => {
    agents.set('a', { connected: false, disconnectedAt: now - 2_000 });
    agents.set('b', { connected: false, disconnectedAt: now - 3_001 });
    expect(triggers.due([held('a'), held('b')]).map((d) => [d.held.record.holder.agentId, d.reason])).toEqual([
      ['b', 'disconnected'],
    ]);
  });

  it('counts an agent the registry does not know as gone from when it was first missed', () => {
    expect(triggers.due([held('ghost')])).toEqual([]);
    now += 3_001;
    expect(triggers.due([held('ghost')]).map((d) => d.reason)).toEqual(['disconnected']);
  });

  it('frees the lock of an unhealthy instance only when releaseOnUnhealthy', () => {
    agents.set('u', { connected: true });
    agents.set('k', { connected: true });
    health.set('u-i', 'unhealthy');
    health.set('k-i', 'unhealthy');
    expect(triggers.due([held('u'), held('k', false)]).map((d) => [d.held.record.holder.agentId, d.reason])).toEqual([
      ['u', 'unhealthy'],
    ]);
  });
});
