import { describe, expect, it } from 'vitest';
import { compileValidator } from '../validation.js';
import {
  AgentAge,
  AgentObservation,
  CampaignValue,
  PublishedTableEnvelope,
  SignalBatchEnvelope,
  StoredEvent,
  StoredRegistration,
} from './replication.js';

const registration = {
  replica: 'cp-1',
  agentId: 'orders-1',
  instance: { service: 'orders', id: 'orders-1', host: '10.0.0.1', port: 15006, tier: 0, weight: 1, labels: {} },
  connected: true,
  remoteAddress: '10.0.0.1',
  connectedAt: 1_000,
  graceful: false,
  health: 'healthy',
  subscriptions: ['users'],
};

const report = {
  type: 'observations',
  windowMs: 1_000,
  endpoints: [{ service: 'users', id: 'users-1', ok: 3, failed: 0 }],
};

const event = {
  seq: 4,
  time: 1_000,
  kind: 'health',
  service: 'orders',
  instance: 'orders-1',
  from: 'healthy',
  to: 'unhealthy',
  reason: 'app down',
  evidence: {},
};

describe('the values replicas share through etcd', () => {
  const validRegistration = compileValidator(StoredRegistration);

  it('takes a registration as a replica writes it, with null or absent optional fields and unknown ones', () => {
    expect(validRegistration(registration).ok).toBe(true);
    expect(
      validRegistration({
        ...registration,
        instance: null,
        disconnectedAt: null,
        disconnectReason: null,
        healthReason: null,
      }).ok,
    ).toBe(true);
    const { instance: _, ...clientOnly } = registration;
    expect(validRegistration({ ...clientOnly, fromANewerVersion: 1 }).ok).toBe(true);
  });

  it.each([
    ['no replica', { replica: '' }],
    ['a connected flag that is not a boolean', { connected: 'yes' }],
    ['a connection time that is not a number', { connectedAt: '1000' }],
    ['an unknown health', { health: 'sick' }],
    ['a reason that is not text', { healthReason: 5 }],
    ['a subscription that is not a name', { subscriptions: ['users', 7] }],
    [
      'an instance that is not one',
      { instance: { service: 'Orders!', id: 'x', host: 'h', port: 0, tier: 0, weight: 1, labels: {} } },
    ],
  ])('refuses a registration with %s', (_, change) => {
    expect(validRegistration({ ...registration, ...change }).ok).toBe(false);
  });

  it('refuses a registration that is not an object', () => {
    for (const v of [null, 'cp-1', 5, [registration]]) expect(validRegistration(v).ok).toBe(false);
  });

  it("checks a signal batch's envelope, and its ages and reports one by one", () => {
    const envelope = compileValidator(SignalBatchEnvelope);
    expect(envelope({ replica: 'cp-2', seen: { a: 1, b: 'x' }, observations: [1, {}] }).ok).toBe(true);
    expect(envelope({ replica: 'cp-2', seen: null, observations: [] }).ok).toBe(false);
    expect(envelope({ replica: 'cp-2', seen: {}, observations: {} }).ok).toBe(false);
    expect(envelope({ replica: 7, seen: {}, observations: [] }).ok).toBe(false);
    const age = compileValidator(AgentAge);
    expect([0, 250.5, -1, '3', Infinity].map((v) => age(v).ok)).toEqual([true, true, false, false, false]);
    const observation = compileValidator(AgentObservation);
    expect(observation({ agentId: 'orders-1', report }).ok).toBe(true);
    expect(observation({ agentId: 5, report }).ok).toBe(false);
    expect(observation({ agentId: 'orders-1', report: { ...report, windowMs: 0 } }).ok).toBe(false);
  });

  it("checks the published table's envelope, not its services", () => {
    const table = compileValidator(PublishedTableEnvelope);
    expect(table({ version: 3, nonce: 'n', services: { orders: { anything: true } } }).ok).toBe(true);
    expect(table({ version: 3.5, nonce: 'n', services: {} }).ok).toBe(false);
    expect(table({ version: 2 ** 53, nonce: 'n', services: {} }).ok).toBe(false);
    expect(table({ version: 3, nonce: 1, services: {} }).ok).toBe(false);
    expect(table({ version: 3, nonce: 'n', services: null }).ok).toBe(false);
  });

  it('checks each stored decision, and keeps one of a kind a newer leader may record', () => {
    const valid = compileValidator(StoredEvent);
    expect(valid(event).ok).toBe(true);
    const { instance: _, ...serviceEvent } = event;
    expect(valid({ ...serviceEvent, kind: 'failover' }).ok).toBe(true);
    expect(valid({ ...event, seq: '4' }).ok).toBe(false);
    expect(valid({ ...event, kind: 'reboot' }).ok).toBe(true);
    expect(valid({ ...event, kind: 7 }).ok).toBe(false);
    expect(valid({ ...event, evidence: undefined }).ok).toBe(false);
  });

  it('takes only a plain http(s) URL for the leader', () => {
    const url = compileValidator(CampaignValue.properties.url);
    expect(['http://cp-1:7700', 'https://[::1]:7700/base'].map((u) => url(u).ok)).toEqual([true, true]);
    expect(['javascript:alert(1)', 'http://cp 1', 'http://cp-1/?q', 'ftp://cp-1', ''].map((u) => url(u).ok)).toEqual([
      false,
      false,
      false,
      false,
      false,
    ]);
  });
});
