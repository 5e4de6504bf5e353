import type { RouteTable } from '../route/route-table.js';
import type { ShardMapProvider, ShardMapResult } from './shard-map.js';
import { RangeShardMap } from './shard-range-map.js';

/**
 * The shard maps of the range-sharded services (a `sharding: {kind: range}`
 * policy): the map the agent routes by, read from the routing table. Asked
 * before the hash provider, so a range-sharded service that is also
 * hash-balanced (its balancer then picks within a subset owner) answers by
 * its ranges, which decide who owns a key. Cheap to make (the parsed map is
 * shared per policy, see `rangeMapOf`), so nothing is kept between calls.
 */
export class RangeShardProvider implements ShardMapProvider {
  async mapOf(service: string, table: RouteTable): Promise<ShardMapResult | undefined> {
    const sharding = table.service(service)?.policy.sharding;
    if (sharding === undefined) return undefined;
    const endpoints = table.routes.services[service]?.endpoints ?? [];
    return { map: new RangeShardMap(service, sharding, endpoints, table.version) };
  }
}
