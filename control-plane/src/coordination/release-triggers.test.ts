import { describe, expect, it } from 'vitest';
import type { HealthState } from '../health/health-state.js';
import type { AgentRecord } from '../registry/agent-record.js';
import type { HeldLock } from './lock-backend.js';
import { ReleaseTriggers } from './release-triggers.js';

const held = (agentId: string, releaseOnUnhealthy = true, ttlMs = 15_000, token = 1): HeldLock => ({
  key: `coord/lock/svc/${agentId}`,
  token,
  record: { holder: { agentId, instanceId: `${agentId}-i` }, ttlMs, releaseOnUnhealthy },
});

/** Triggers started at `now`, over maps a test fills. */
function setup() {
  const t = { now: 100_000 };
  const agents = new Map<string, Partial<AgentRecord>>();
  const health = new Map<string, HealthState>();
  const triggers = new ReleaseTriggers({
    agent: (id) => agents.get(id) as AgentRecord | undefined,
    health: (id) => health.get(id),
    timeoutMs: 3_000,
    clock: () => t.now,
    startRevision: 10,
  });
  const who = (h: HeldLock[]) => triggers.due(h).map((d) => [d.held.record.holder.agentId, d.reason]);
  return { t, agents, health, triggers, who };
}

describe('ReleaseTriggers', () => {
  it('frees a holder whose agent has been gone past the heartbeat timeout, not one that is back in time', () => {
    const { t, agents, who } = setup();
    t.now += 20_000;
    agents.set('a', { connected: false, disconnectedAt: t.now - 2_000 });
    agents.set('b', { connected: false, disconnectedAt: t.now - 3_001 });
    expect(who([held('a'), held('b')])).toEqual([['b', 'disconnected']]);
  });

  it('counts an agent the registry does not know as gone from when it was first missed', () => {
    const { t, who } = setup();
    t.now += 20_000;
    expect(who([held('ghost')])).toEqual([]);
    t.now += 3_001;
    expect(who([held('ghost')])).toEqual([['ghost', 'disconnected']]);
  });

  it('attack: a control-plane restart with an empty registry does not free a holder from its first sweep: max(heartbeat timeout, TTL) of grace', () => {
    const { t, who } = setup();
    // Before the fix, the holder's agent (not reconnected yet) counted as gone 3 s after the start,
    // while its app still believed the lease it renewed just before the restart (15 s).
    expect(who([held('slow'), held('short', true, 2_000)])).toEqual([]);
    t.now += 3_001;
    expect(who([held('slow'), held('short', true, 2_000)])).toEqual([['short', 'disconnected']]);
    t.now += 11_000;
    expect(who([held('slow')])).toEqual([]);
    t.now += 1_000;
    expect(who([held('slow')])).toEqual([['slow', 'disconnected']]);
  });

  it('a lock taken since the start (token above the start revision) has no start-up grace', () => {
    const { t, agents, who } = setup();
    t.now += 1_000;
    agents.set('new', { connected: false, disconnectedAt: t.now });
    t.now += 3_001;
    expect(who([held('new', true, 15_000, 11)])).toEqual([['new', 'disconnected']]);
  });

  it("attack: another replica's clock ahead or behind: its agent's disconnect time is stamped on this replica's clock", () => {
    const { t, agents, who } = setup();
    t.now += 20_000;
    // The other replica's clock runs 60 s behind: its stamp says the agent left a minute ago, it left just now.
    agents.set('r', { connected: false, disconnectedAt: t.now - 60_000, replica: { id: 'cp-2', orphaned: false } });
    expect(who([held('r')])).toEqual([]);
    t.now += 2_000;
    expect(who([held('r')])).toEqual([]);
    t.now += 1_001;
    expect(who([held('r')])).toEqual([['r', 'disconnected']]);
  });

  it('frees the lock of an unhealthy instance only when releaseOnUnhealthy', () => {
    const { agents, health, who } = setup();
    agents.set('u', { connected: true });
    agents.set('k', { connected: true });
    health.set('u-i', 'unhealthy');
    health.set('k-i', 'unhealthy');
    expect(who([held('u'), held('k', false)])).toEqual([['u', 'unhealthy']]);
  });
});
