import { describe, expect, it } from 'vitest';
import { type AgentRecord, instanceState, parseRegistration, registrationOf } from './agent-record.js';
import { agentRecord } from './test-support/agent-record.js';

const record = (over: Partial<AgentRecord>): AgentRecord => agentRecord('a-1', over);

describe('instanceState', () => {
  it('is healthy only for a connected agent whose app passes its check', () => {
    expect(instanceState(record({ health: 'healthy' }))).toEqual({
      state: 'healthy',
      reason: 'app health check passing',
    });
  });

  it('is unhealthy with the agent reason when one was given', () => {
    expect(instanceState(record({ health: 'unhealthy', healthReason: 'GET /healthz answered 503' }))).toEqual({
      state: 'unhealthy',
      reason: 'app health check failing: GET /healthz answered 503',
    });
    expect(instanceState(record({ health: 'unhealthy' }))).toEqual({
      state: 'unhealthy',
      reason: 'app health check failing',
    });
    expect(instanceState(record({ health: 'unhealthy', healthReason: '' })).reason).toBe('app health check failing');
  });

  it('is unknown until the agent reports', () => {
    expect(instanceState(record({ health: 'unknown' }))).toEqual({
      state: 'unknown',
      reason: 'no health report from the agent yet',
    });
  });

  it('is disconnected whatever the last health report said, with the reason of the disconnect', () => {
    for (const health of ['healthy', 'unhealthy', 'unknown'] as const) {
      expect(instanceState(record({ connected: false, health, disconnectReason: 'heartbeat timeout' }))).toEqual({
        state: 'disconnected',
        reason: 'heartbeat timeout',
      });
    }
    expect(instanceState(record({ connected: false, health: 'healthy' }))).toEqual({
      state: 'disconnected',
      reason: 'agent disconnected',
    });
  });
});

describe('registrationOf and parseRegistration', () => {
  it('carry the service a credential admitted the agent for to the other replicas, through JSON as etcd holds it', () => {
    const published = JSON.parse(JSON.stringify(registrationOf('A', record({ admittedFor: 'orders' }))));
    expect(published.admittedFor).toBe('orders');
    expect(parseRegistration('a-1', published)).toMatchObject({ agentId: 'a-1', replica: 'A', admittedFor: 'orders' });
  });

  it('leave it out for an agent of the shared token or open mode, and read an older replica without it (or with null)', () => {
    const published = JSON.parse(JSON.stringify(registrationOf('A', record({}))));
    expect('admittedFor' in published).toBe(false);
    const parsed = parseRegistration('a-1', published);
    expect(parsed).toBeDefined();
    expect(parsed && 'admittedFor' in parsed).toBe(false);
    expect(parseRegistration('a-1', { ...published, admittedFor: null })?.admittedFor).toBeUndefined();
    expect(parseRegistration('a-1', { ...published, admittedFor: 7 })).toBeUndefined();
  });
});
