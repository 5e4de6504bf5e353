import type { IncomingMessage } from 'node:http';
import { MAX_SHARD_KEY_LENGTH, type ShardingPolicy } from '@meshlet/shared';
import type { EndpointSelection } from '../balancer/endpoint-selection.js';
import { AgentErrors } from '../errors.js';
import type { Refusal } from '../route/destination.js';
import type { ServiceRuntime } from '../route/service-runtime.js';
import { describeShardKey, extractShardKey } from './range-key.js';
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
  const key = got.key;
  if (key.length > MAX_SHARD_KEY_LENGTH)
    return {
      refusal: AgentErrors.SHARD_KEY_INVALID(
        `the shard key is ${key.length} characters long, over the limit of ${MAX_SHARD_KEY_LENGTH} (${where}); send a shorter key`,
      ),
      extra,
    };
  const map = rangeMapOf(sharding);
  const value = map.parse(key);
  if (value === undefined)
    return {
      refusal: AgentErrors.SHARD_KEY_INVALID(
        `the shard key ${JSON.stringify(key)} is not an integer, and ${where} compares keys as integers; send digits with an optional leading minus`,
      ),
      extra: { ...extra, key },
    };
  const hit = map.lookupValue(value);
  if (hit === undefined)
    return {
      refusal: AgentErrors.SHARD_KEY_UNROUTABLE(
        `the shard key ${JSON.stringify(key)} falls in no range of ${where}; see GET /v1/services/${svc.name}/shards on the control plane`,
      ),
      extra: { ...extra, key },
    };
  const owner = hit.owner;
  const label = `range ${hit.index} [${bound(hit.range.from, '-inf')}, ${bound(hit.range.to, '+inf')}) of ${
    'instance' in owner ? `instance "${owner.instance}"` : `subset ${JSON.stringify(owner.subset)}`
  }`;
  return { lb: 'instance' in owner ? svc.instanceLb(owner.instance) : svc.subsetLb(owner.subset), label };
}
