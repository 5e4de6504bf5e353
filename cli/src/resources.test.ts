import { describe, expect, it } from 'vitest';
import { age, findResource, type Resource } from './resources.js';

const resource = (name: string): Resource => {
  const r = findResource(name);
  if (!r) throw new Error(`no ${name} resource`);
  return r;
};

describe('age', () => {
  const now = Date.parse('2026-12-04T14:00:00.000Z');
  const ago = (ms: number) => age(new Date(now - ms).toISOString(), now);
  const S = 1000;
  const M = 60 * S;
  const H = 60 * M;
  const D = 24 * H;

  it('reads like kubectl AGE: more detail while young, whole units later', () => {
    expect([0, 42 * S, 119 * S].map(ago)).toEqual(['0s', '42s', '119s']);
    expect([2 * M, 5 * M + 30 * S, 9 * M + 59 * S, 10 * M + 59 * S, 179 * M].map(ago)).toEqual([
      '2m',
      '5m30s',
      '9m59s',
      '10m',
      '179m',
    ]);
    expect([3 * H, 5 * H + 12 * M, 8 * H + 59 * M, 47 * H].map(ago)).toEqual(['3h', '5h12m', '8h', '47h']);
    expect([2 * D, 3 * D + 4 * H, 8 * D + 23 * H, 729 * D].map(ago)).toEqual(['2d', '3d4h', '8d', '729d']);
    expect([730 * D, 740 * D, 9 * 365 * D].map(ago)).toEqual(['2y', '2y10d', '9y']);
  });

  it('shows a time a little ahead (clocks apart) as 0s, a value that is no time as it is, and null as -', () => {
    expect(ago(-5 * S)).toBe('0s');
    expect(age('soon', now)).toBe('soon');
    expect(age(1234, now)).toBe('1234');
    expect(age(null, now)).toBe('-');
    expect(age(undefined, now)).toBe('-');
  });
});

describe('resources', () => {
  const now = Date.parse('2026-12-04T14:00:00.000Z');

  it('shows cluster as one row: replica, role, leader, leader URL, age of the role, store', () => {
    const cluster = resource('cluster');
    expect(cluster.listKey).toBeUndefined();
    expect(cluster.itemPath).toBeUndefined();
    expect(cluster.columns).toEqual(['REPLICA', 'ROLE', 'LEADER', 'LEADER-URL', 'SINCE', 'STORE']);
    expect(
      cluster.row(
        {
          replicaId: 'cp-2',
          role: 'follower',
          leader: { replicaId: 'cp-1', url: 'http://10.0.0.1:15010' },
          since: '2026-12-04T13:59:18.000Z',
          store: 'etcd',
        },
        now,
      ),
    ).toEqual(['cp-2', 'follower', 'cp-1', 'http://10.0.0.1:15010', '42s', 'etcd']);
    expect(
      cluster.row(
        { replicaId: 'cp-2', role: 'follower', leader: null, since: '2026-12-04T13:00:00.000Z', store: 'etcd' },
        now,
      ),
    ).toEqual(['cp-2', 'follower', '-', '-', '60m', 'etcd']);
    // A leader URL with an escape sequence cannot reach the terminal as one.
    expect(cluster.row({ leader: { replicaId: 'x', url: 'http://a\u001b[2J' } }, now)[3]).toBe('http://a [2J');
  });

  it('shows the replica an agent is connected to, - when it is the one answering or the server is older', () => {
    const agents = resource('agents');
    expect(agents.columns.slice(0, 3)).toEqual(['AGENT', 'CONNECTED', 'REPLICA']);
    expect(agents.row({ agentId: 'a', connected: true, replica: 'cp-3' }, now).slice(0, 3)).toEqual([
      'a',
      'yes',
      'cp-3',
    ]);
    expect(agents.row({ agentId: 'a', connected: true, replica: null }, now)[2]).toBe('-');
    expect(agents.row({ agentId: 'a', connected: true }, now)[2]).toBe('-');
  });
});
