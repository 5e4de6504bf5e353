import { type Endpoint, type FailoverState, resolvePolicy, type Routes } from '@meshlet/shared';
import { describe, expect, it } from 'vitest';
import { EndpointStatsMap } from '../balancer/endpoint-stats.js';
import { RouteTable } from '../route/route-table.js';
import { tcpTarget } from './tcp-target.js';

const ep = (id: string, extra: Partial<Endpoint> = {}): Endpoint => ({
  id,
  host: '127.0.0.1',
  port: 15006,
  tier: 0,
  weight: 1,
  labels: {},
  ...extra,
});

function table(
  policy: Record<string, unknown>,
  endpoints: Endpoint[],
  failover?: FailoverState,
  stats = new EndpointStatsMap(),
): RouteTable {
  const routes = {
    type: 'routes',
    version: 5,
    nonce: 'n',
    services: { pg: { endpoints, policy: resolvePolicy(policy), ...(failover ? { failover } : {}) } },
  } as Routes;
  return new RouteTable(routes, 'control-plane', 0, {
    random: () => 0,
    clock: () => 0,
    stats,
    zone: undefined,
  });
}

const picks = (t: ReturnType<typeof tcpTarget>, n = 6): string[] =>
  t.ok
    ? Array.from({ length: n }, () => t.lb.pick({ ...(t.hash === undefined ? {} : { hash: t.hash }) })?.id ?? '-')
    : [];

describe('tcpTarget (where a new TCP connection may go)', () => {
  const three = [
    ep('pg-1', { role: 'primary' }),
    ep('pg-2', { role: 'replica' }),
    ep('pg-3', { labels: { role: 'replica' } }),
  ];

  it('balances over every endpoint without a role', () => {
    const t = tcpTarget(table({ protocol: 'tcp' }, three), 'pg', undefined, '10.0.0.1');
    expect(new Set(picks(t))).toEqual(new Set(['pg-1', 'pg-2', 'pg-3']));
    expect(t.ok && t.term).toBeUndefined();
  });

  it('role replica: only endpoints whose check (or configured label) says replica', () => {
    const t = tcpTarget(table({ protocol: 'tcp' }, three), 'pg', 'replica', undefined);
    expect(new Set(picks(t))).toEqual(new Set(['pg-2', 'pg-3']));
  });

  it("managed service, role primary: only the term's primary, with its term", () => {
    const failover = { term: 8, holder: 'pg-2', primary: 'pg-2', candidates: [] };
    const t = tcpTarget(
      table({ protocol: 'tcp', failover: { mode: 'managed' } }, three, failover),
      'pg',
      'primary',
      undefined,
    );
    expect(new Set(picks(t))).toEqual(new Set(['pg-2']));
    expect(t.ok && t.term).toBe(8);
  });

  it("attack: a managed service with no role: an instance that says primary but is not the table's primary gets no connection, and one to the primary is fenced by its term", () => {
    const failover = { term: 9, holder: 'pg-2', primary: 'pg-2', candidates: [] };
    const t = tcpTarget(
      table({ protocol: 'tcp', failover: { mode: 'managed' } }, three, failover),
      'pg',
      undefined,
      undefined,
    );
    expect(t.ok && [...t.exclude]).toEqual(['pg-1']);
    expect(t.ok && [t.termOf('pg-2'), t.termOf('pg-3')]).toEqual([9, undefined]);
  });

  it('managed service with no primary: refused, never a guess', () => {
    const failover = { term: 8, candidates: ['pg-2'] };
    const t = tcpTarget(
      table({ protocol: 'tcp', failover: { mode: 'managed' } }, three, failover),
      'pg',
      'primary',
      undefined,
    );
    expect(t).toMatchObject({ ok: false, result: 'no_primary', code: 'MESHLET_NO_PRIMARY' });
  });

  it('ring_hash keys on the source address: one client address keeps one endpoint', () => {
    const t = table({ protocol: 'tcp', balancer: { kind: 'ring_hash' } }, three);
    const a = picks(tcpTarget(t, 'pg', undefined, '10.0.0.7'));
    expect(new Set(a).size).toBe(1);
    const spread = new Set(
      Array.from({ length: 40 }, (_, i) => picks(tcpTarget(t, 'pg', undefined, `10.0.1.${i}`), 1)[0]),
    );
    expect(spread.size).toBeGreaterThan(1);
  });

  it('least_request counts open connections: the endpoint with fewest gets the next one', () => {
    const stats = new EndpointStatsMap();
    const t = table({ protocol: 'tcp', balancer: { kind: 'least_request' } }, [ep('a'), ep('b')], undefined, stats);
    // TcpOutbound holds an endpoint's `active` up for as long as each relayed connection is open.
    stats.get('a').active = 3;
    expect(picks(tcpTarget(t, 'pg', undefined, undefined))).toEqual(Array(6).fill('b'));
  });

  it('attack: panic routing (every endpoint unhealthy) sends a role: primary connection to an unhealthy endpoint whose configured label says primary: none is picked', () => {
    const t = tcpTarget(
      table({ protocol: 'tcp' }, [
        ep('pg-1', { labels: { role: 'primary' }, health: 'unhealthy' }),
        ep('pg-2', { role: 'replica', health: 'unhealthy' }),
      ]),
      'pg',
      'primary',
      undefined,
    );
    expect(t).toMatchObject({ ok: false, result: 'no_endpoint' });
  });

  it('an unknown service or an empty role set is refused with its reason', () => {
    expect(tcpTarget(table({}, three), 'redis', undefined, undefined)).toMatchObject({
      ok: false,
      result: 'unknown_service',
    });
    expect(tcpTarget(table({}, [ep('x')]), 'pg', 'replica', undefined)).toMatchObject({
      ok: false,
      result: 'no_endpoint',
    });
  });
});
