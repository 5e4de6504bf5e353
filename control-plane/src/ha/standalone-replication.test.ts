import { describe, expect, it } from 'vitest';
import { agentRecord } from '../registry/test-support/agent-record.js';
import type { ReplicatedParts, Replication } from './replication.js';
import { StandaloneReplication } from './standalone-replication.js';

// A control plane alone: it decides from the start, follows nobody, turns no
// agent away, and what the control plane tells it goes nowhere.

describe('StandaloneReplication', () => {
  it('always leads and follows nobody', async () => {
    const r: Replication = new StandaloneReplication(() => 1_000, 'file');
    expect(r.leading).toBe(true);
    expect(r.following()).toBeUndefined();
    // Neither attaching nor starting changes that: there is no election.
    r.attach({} as ReplicatedParts);
    await r.start(15010);
    expect(r.leading).toBe(true);
    expect(r.following()).toBeUndefined();
  });

  it('shows itself as standalone, with no leader, since it was made, and the store the config names', () => {
    let now = 1_000;
    const r = new StandaloneReplication(() => now, 'file');
    now = 5_000;
    expect(r.view()).toEqual({
      replicaId: 'standalone',
      role: 'standalone',
      leader: null,
      since: 1_000,
      store: 'file',
    });
    expect(new StandaloneReplication(() => now, 'etcd').view()).toMatchObject({ role: 'standalone', store: 'etcd' });
  });

  it('turns no agent away and takes what it is told without a word to anyone', async () => {
    // Called as the control plane calls it, through the interface (its methods ignore their arguments).
    const r: Replication = new StandaloneReplication(() => 1_000, 'file');
    const record = agentRecord('a-1');
    expect(r.refusal()).toBeUndefined();
    // The parts are never touched: an empty object would throw on any use.
    r.attach({} as ReplicatedParts);
    expect(() => {
      r.vouch(3_000);
      r.changed(record);
      r.forgotten(record);
      r.observed('a-1', { type: 'observations', windowMs: 1_000, endpoints: [] });
      r.tableMade({ type: 'routes', version: 1, nonce: 'n', services: {} });
      r.decided();
    }).not.toThrow();
    await expect(r.close()).resolves.toBeUndefined();
    expect(r.refusal()).toBeUndefined();
  });
});
