import { describe, expect, it } from 'vitest';
import { EtcdMirror } from './etcd-mirror.js';

const P = '/m/';
const data = (key: string, value: unknown, modRevision: number) => ({
  key: `${P}data/${key}`,
  value: JSON.stringify(value),
  modRevision,
});
const tomb = (key: string, modRevision: number) => ({ key: `${P}tombstones/${key}`, value: '', modRevision });

describe('EtcdMirror', () => {
  it('ignores a watch event older than what a response already applied', () => {
    const m = new EtcdMirror(P);
    expect(m.put(data('k', 1, 5))).toBe('k');
    expect(m.put(data('k', 2, 7))).toBe('k');
    expect(m.put(data('k', 1, 5))).toBeUndefined();
    expect(m.delete(`${P}data/k`, 6)).toBeUndefined();
    expect(m.get('k')).toBe(2);
    // This replica deleted k at 9 (tombstone from the response); the watch then brings the put of 7 late.
    expect(m.put(tomb('k', 9))).toBe('k');
    expect(m.get('k')).toBeUndefined();
    expect(m.put(data('k', 2, 7))).toBeUndefined();
    // A put at 11 clears the tombstone; the late tombstone event of 9 changes nothing.
    m.put(data('k', 3, 11));
    expect(m.put(tomb('k', 9))).toBeUndefined();
    expect(m.changesSince(1)).toEqual([{ key: 'k', modRevision: 11, value: 3 }]);
    expect(m.revision()).toBe(11);
  });

  it('resyncs from a listing: drops what the listing lacks up to its revision, keeps newer local writes', () => {
    const m = new EtcdMirror(P);
    m.put(data('gone', 1, 3));
    m.put(tomb('old', 4));
    m.put(data('mine', 1, 12));
    const changed = m.resync(
      [data('kept', 'x', 8), { key: `${P}cluster-id`, value: 'id-1', modRevision: 2 }],
      10,
      () => {},
    );
    expect([...changed].sort()).toEqual(['gone', 'kept', 'old']);
    expect(m.keys('')).toEqual(['kept', 'mine']);
    expect(m.changesSince(1)).toEqual([
      { key: 'kept', modRevision: 8, value: 'x' },
      { key: 'mine', modRevision: 12, value: 1 },
    ]);
    expect(m.clusterId()).toBe('id-1');
    expect(m.revision()).toBe(12);
  });

  it('reports a value that is not JSON and keeps the rest', () => {
    const m = new EtcdMirror(P);
    const bad: string[] = [];
    m.resync([{ key: `${P}data/bad`, value: '{', modRevision: 2 }, data('good', true, 3)], 3, (kv) => bad.push(kv.key));
    expect(bad).toEqual([`${P}data/bad`]);
    expect(m.keys('')).toEqual(['good']);
  });

  it('a lock deleted here without a tombstone: a late put of it is ignored until the watch passes the deletion, then forgotten', () => {
    const m = new EtcdMirror(P);
    m.put(data('coord/lock/s/n', { h: 1 }, 5));
    expect(m.deleted('coord/lock/s/n', 8)).toBe('coord/lock/s/n');
    expect(m.put(data('coord/lock/s/n', { h: 1 }, 5))).toBeUndefined();
    expect(m.get('coord/lock/s/n')).toBeUndefined();
    expect(m.delete(`${P}data/coord/lock/s/n`, 8)).toBeUndefined();
    m.watched(8);
    expect(m.changesSince(1)).toEqual([]);
    expect(m.put(data('coord/lock/s/n', { h: 2 }, 9))).toBe('coord/lock/s/n');
  });
});
