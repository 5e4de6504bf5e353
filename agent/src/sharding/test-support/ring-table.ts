import type { Endpoint, Routes, ServicePolicy } from '@meshlet/shared';
import { EndpointStatsMap } from '../../balancer/endpoint-stats.js';
import { RouteTable } from '../../route/route-table.js';

/** Endpoint `i` of the `cache` service: `${prefix}-${i}`, weight 400 (three of them still fill a 1024-point ring). */
export function cacheEndpoint(i: number, prefix: string, host: string): Endpoint {
  return { id: `${prefix}-${i}`, host, port: 20000 + i, tier: 0, weight: 400, labels: {} };
}

/**
 * A routing table at `version` whose service `cache` is ring-hashed over
 * endpoints `ids` (the published ring naming them all), with `policy` as its
 * policy and `extra` services beside it.
 */
export function ringTable(
  ids: number[],
  version: number,
  o: { prefix: string; host: string; policy: Partial<ServicePolicy>; extra?: Routes['services'] },
): RouteTable {
  const endpoints = ids.map((i) => cacheEndpoint(i, o.prefix, o.host));
  const routes: Routes = {
    type: 'routes',
    version,
    nonce: `n${version}`,
    services: {
      cache: {
        endpoints,
        policy: o.policy as never,
        ring: { version, members: endpoints.map((e) => ({ id: e.id, weight: e.weight })) },
      },
      ...o.extra,
    },
  };
  return new RouteTable(routes, 'control-plane', 0, {
    random: () => 0.5,
    clock: () => 0,
    stats: new EndpointStatsMap(),
    zone: undefined,
  });
}
