import { createLogger } from '@meshlet/shared';
import type { IKeyValue } from 'etcd3';
import { describe, expect, it } from 'vitest';
import { jsonOf, readEvents, readLeaderInfo, readSignalBatch, readTable } from './live-values.js';

const report = {
  type: 'observations',
  windowMs: 1_000,
  endpoints: [{ service: 'users', id: 'users-1', ok: 3, failed: 1 }],
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

describe('values read from etcd', () => {
  it('parses JSON, and ignores a value that is not', () => {
    const kv = (value: string) => ({ key: Buffer.from('/m/live/table'), value: Buffer.from(value) }) as IKeyValue;
    const log = createLogger('test', 'silent');
    expect(jsonOf(kv('{"a":1}'), log)).toEqual({ a: 1 });
    expect(jsonOf(kv('{a'), log)).toBeUndefined();
  });

  it('keeps the ages and reports of a signal batch that pass, and drops the others', () => {
    const batch = readSignalBatch({
      replica: 'B',
      seen: { a: 10, b: -1, c: 'old', d: 0 },
      observations: [
        { agentId: 'a', report },
        { agentId: 7, report },
        { agentId: 'c', report: { ...report, type: 'hello' } },
        null,
      ],
      fromANewerVersion: true,
    });
    expect(batch).toEqual({ replica: 'B', seen: { a: 10, d: 0 }, observations: [{ agentId: 'a', report }] });
  });

  it("keeps each report's caller identity, so that every replica counts agents sharing a credential as one caller", () => {
    const batch = readSignalBatch({
      replica: 'B',
      seen: {},
      observations: [
        { agentId: 'evil-a', report, identity: 'credential/c1' },
        { agentId: 'evil-b', report, identity: 'credential/c1' },
        { agentId: 'old', report },
        { agentId: 'bad', report, identity: 7 },
      ],
    });
    expect(batch?.observations).toEqual([
      { agentId: 'evil-a', report, identity: 'credential/c1' },
      { agentId: 'evil-b', report, identity: 'credential/c1' },
      { agentId: 'old', report },
    ]);
  });

  it('ignores a signal batch whose envelope is wrong', () => {
    for (const v of [
      undefined,
      null,
      'B',
      { replica: 'B', seen: {} },
      { replica: 'B', seen: null, observations: [] },
      { seen: {}, observations: [] },
    ]) {
      expect(readSignalBatch(v)).toBeUndefined();
    }
  });

  it("takes a table of the leader's shape as it is", () => {
    const table = { version: 3, nonce: 'n3', services: { orders: { endpoints: [] } } };
    expect(readTable(table)).toBe(table);
    for (const v of [
      undefined,
      null,
      { ...table, version: -0.5 },
      { ...table, nonce: undefined },
      { ...table, services: null },
    ])
      expect(readTable(v)).toBeUndefined();
  });

  it('keeps the decisions that pass, and ignores a value that is not a list', () => {
    expect(readEvents([event, { ...event, seq: 'x' }, { seq: 5 }, null])).toEqual([event]);
    expect(readEvents([])).toEqual([]);
    expect(readEvents({ 0: event })).toBeUndefined();
  });

  it('reads a campaign value, and makes an unknown candidate of one that does not fit', () => {
    expect(readLeaderInfo(JSON.stringify({ replicaId: 'A', url: 'http://a.test:7700' }))).toEqual({
      replicaId: 'A',
      url: 'http://a.test:7700',
    });
    expect(readLeaderInfo(JSON.stringify({ replicaId: 'A', url: 'javascript:alert(1)' }))).toEqual({
      replicaId: 'A',
      url: '',
    });
    expect(readLeaderInfo(JSON.stringify({ replicaId: 'x'.repeat(200) })).replicaId).toBe('x'.repeat(128));
    for (const v of ['not json', 'null', '7', JSON.stringify({ replicaId: 7, url: 8 })])
      expect(readLeaderInfo(v)).toEqual({ replicaId: 'unknown', url: '' });
  });
});
