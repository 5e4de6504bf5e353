import { type Endpoint, MAX_SHARD_KEY_LENGTH, type RangeOwner, type ShardingPolicy } from '@meshlet/shared';
import { matchesSubset } from '../route/route-matcher.js';
import { type RangeHit, RangeMap } from './range-map.js';

const maps = new WeakMap<ShardingPolicy, RangeMap>();

/** The range map of `policy`, built once per policy object (a table install makes new ones). */
export function rangeMapOf(policy: ShardingPolicy): RangeMap {
  let map = maps.get(policy);
  if (map === undefined) {
    map = new RangeMap(policy);
    maps.set(policy, map);
  }
  return map;
}

/** What {@link rangeOwner} answers. */
export type RangeOwnerAnswer =
  ({ ok: true } & RangeHit) | { ok: false; reason: 'too-long' | 'not-an-integer' | 'no-range'; message: string };

/**
 * Which range of a service's range policy holds `key`, and its owner (an
 * instance id or a subset): the same answer the agent's routing gives a
 * request carrying that key. For the shard API (`/v1/shards/SERVICE?key=K`)
 * and for tests; `reason` says why a key has no owner.
 */
export function rangeOwner(policy: ShardingPolicy, key: string): RangeOwnerAnswer {
  if (key.length > MAX_SHARD_KEY_LENGTH)
    return {
      ok: false,
      reason: 'too-long',
      message: `the key is ${key.length} characters long, over the limit of ${MAX_SHARD_KEY_LENGTH}`,
    };
  const map = rangeMapOf(policy);
  const value = map.parse(key);
  if (value === undefined)
    return {
      ok: false,
      reason: 'not-an-integer',
      message: `the key ${JSON.stringify(key)} is not an integer, and this service's keys compare as integers`,
    };
  const hit = map.lookupValue(value);
  return hit === undefined
    ? { ok: false, reason: 'no-range', message: `the key ${JSON.stringify(key)} falls in no range of the map` }
    : { ok: true, ...hit };
}

/**
 * The instance ids of `endpoints` that make up `owner`: the one instance it
 * names (none when it is not in the table), or every endpoint whose labels
 * include the subset's. What a shard map lists as a range's members.
 */
export function ownerInstances(owner: RangeOwner, endpoints: readonly Pick<Endpoint, 'id' | 'labels'>[]): string[] {
  return 'instance' in owner
    ? endpoints.filter((e) => e.id === owner.instance).map((e) => e.id)
    : endpoints.filter((e) => matchesSubset(e.labels, owner.subset)).map((e) => e.id);
}
