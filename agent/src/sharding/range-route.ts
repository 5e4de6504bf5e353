import type { IncomingMessage } from 'node:http';
import { MAX_SHARD_KEY_LENGTH, type RangeOwner, type ShardingPolicy } from '@meshlet/shared';
import type { EndpointSelection } from '../balancer/endpoint-selection.js';
import { AgentErrors } from '../errors.js';
import type { Refusal } from '../route/destination.js';
import type { ServiceRuntime } from '../route/service-runtime.js';
import { describeShardKey, extractShardKey } from './range-key.js';
import type { RangeHit } from './range-map.js';
import { rangeMapOf } from './range-owner.js';

/** Where a range-sharded request goes: its range's owner, and how messages name it. */
export interface RangeRoute {
  lb: EndpointSelection;
  /** Such as `range 1 ["g", "p") of instance "orders-2"`. */
  label: string;
}

const bound = (v: string | number | undefined, open: string): string => (v === undefined ? open : JSON.stringify(v));

/**
 * The endpoints that may serve a request to the range-sharded service
 * `svc`: those of the owner of the range its key falls in (one instance, or
 * a subset), so that health, outlier ejection and retries act among the
 * range's owners only. A request without a usable key gets 400
 * `MESHLET_SHARD_KEY_INVALID`, one whose key is in no range 404
 * `MESHLET_SHARD_KEY_UNROUTABLE`; both name the key, the service, the map's
 * generation and the routing table's version.
 */
export function routeByRange(
  svc: ServiceRuntime,
  sharding: ShardingPolicy,
  req: Pick<IncomingMessage, 'headers' | 'rawHeaders'>,
  path: string,
  tableVersion: number,
): RangeRoute | Refusal {
  const generation = sharding.generation ?? 0;
  const where = `service "${svc.name}" (range map generation ${generation}, routing table version ${tableVersion})`;
  const extra = { service: svc.name, shardKey: describeShardKey(sharding.key), generation, tableVersion };
  const got = extractShardKey(sharding.key, { headers: req.headers, rawHeaders: req.rawHeaders, path });
  if ('missing' in got)
    return {
      refusal: AgentErrors.SHARD_KEY_INVALID(`${got.missing}, which ${where} is sharded by; send it`),
      extra,
    };
  if ('invalid' in got) return { refusal: AgentErrors.SHARD_KEY_INVALID(`${got.invalid} (${where})`), extra };
  const hit = rangeHitOf(svc.name, sharding, got.key, tableVersion);
  if ('refusal' in hit) return hit;
  const owner = hit.owner;
  const label = `range ${hit.index} [${bound(hit.range.from, '-inf')}, ${bound(hit.range.to, '+inf')}) of ${
    'instance' in owner ? `instance "${owner.instance}"` : `subset ${JSON.stringify(owner.subset)}`
  }`;
  return { lb: ownerSelection(svc, owner), label };
}

/** The endpoint selection that serves a range's owner: the one instance's, or the subset's (the service's balancer). */
export function ownerSelection(svc: ServiceRuntime, owner: RangeOwner): EndpointSelection {
  return 'instance' in owner ? svc.instanceLb(owner.instance) : svc.subsetLb(owner.subset);
}

/** Why a key has no range: the answer the data path (and `GET /v1/shards/SERVICE?key=`) gives for it. */
export interface RangeKeyRefusal extends Refusal {
  /** `invalid`: 400 `MESHLET_SHARD_KEY_INVALID` (too long, not an integer); `unroutable`: 404, in no range. */
  why: 'invalid' | 'unroutable';
}

/**
 * The range of `service`'s map `sharding` that holds `key`, or the refusal
 * a request carrying it gets: 400 `MESHLET_SHARD_KEY_INVALID` for a key over
 * {@link MAX_SHARD_KEY_LENGTH} or not an integer under compare integer, 404
 * `MESHLET_SHARD_KEY_UNROUTABLE` for one in no range; each names the key
 * (a too-long one is not echoed), the service, the map's generation and the
 * routing table's version.
 */
export function rangeHitOf(
  service: string,
  sharding: ShardingPolicy,
  key: string,
  tableVersion: number,
): RangeHit | RangeKeyRefusal {
  const generation = sharding.generation ?? 0;
  const where = `service "${service}" (range map generation ${generation}, routing table version ${tableVersion})`;
  const extra = { service, shardKey: describeShardKey(sharding.key), generation, tableVersion };
  if (key.length > MAX_SHARD_KEY_LENGTH)
    return {
      why: 'invalid',
      refusal: AgentErrors.SHARD_KEY_INVALID(
        `the shard key is ${key.length} characters long, over the limit of ${MAX_SHARD_KEY_LENGTH} (${where}); send a shorter key`,
      ),
      extra,
    };
  const map = rangeMapOf(sharding);
  const value = map.parse(key);
  if (value === undefined)
    return {
      why: 'invalid',
      refusal: AgentErrors.SHARD_KEY_INVALID(
        `the shard key ${JSON.stringify(key)} is not an integer, and ${where} compares keys as integers; send digits with an optional leading minus`,
      ),
      extra: { ...extra, key },
    };
  const hit = map.lookupValue(value);
  if (hit === undefined)
    return {
      why: 'unroutable',
      refusal: AgentErrors.SHARD_KEY_UNROUTABLE(
        `the shard key ${JSON.stringify(key)} falls in no range of ${where}; see GET /v1/services/${service}/shards on the control plane`,
      ),
      extra: { ...extra, key },
    };
  return hit;
}
