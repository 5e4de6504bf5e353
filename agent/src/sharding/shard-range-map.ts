import { createHash } from 'node:crypto';
import {
  compareShardValues,
  type Endpoint,
  ownerOf,
  type RangeOwner,
  type ShardingPolicy,
  shardValue,
} from '@meshlet/shared';
import { keyHash } from '../route/request-hash.js';
import type { RouteTable } from '../route/route-table.js';
import type { ServiceRuntime } from '../route/service-runtime.js';
import type { RangeMap } from './range-map.js';
import { ownerInstances, rangeMapOf, rangeOwner } from './range-owner.js';
import { ownerSelection, rangeHitOf } from './range-route.js';
import type {
  ShardKeyRefusal,
  ShardLookup,
  ShardMap,
  ShardMapView,
  ShardMove,
  ShardOwner,
  ShardRange,
} from './shard-map.js';

/** A range of a range map in `view()`: bounds as strings (`null`: unbounded), its owner's name and instances. */
export interface RangeShardRange extends ShardRange {
  start: string | null;
  end: string | null;
  /** The range's index in the policy's `ranges`. */
  index: number;
  /** The instances of the owner in the routing table (one, none, or a subset's). */
  members: string[];
  subset?: Record<string, string>;
}

/** What a range map answers for a key: the range it fell in, or why it has none (`reason`). */
export interface RangeShardLookup extends ShardLookup {
  range?: { from: string | null; to: string | null };
  index?: number;
  /** A subset owner: its label selector (`owner` is then `null`: several instances serve the range). */
  subset?: Record<string, string>;
  /** The instances that may serve the key: the owner instance, or the subset's. */
  members?: string[];
  reason?: string;
}

/**
 * An owner as one string: the instance id, or a subset's label selector
 * (`shard=c`, labels sorted, comma-joined; an instance id has no `=`, so the
 * two never collide). What `ranges[].owner` and moves' `from`/`to` say.
 */
export function ownerNameFor(owner: RangeOwner): string {
  if ('instance' in owner) return owner.instance;
  return Object.keys(owner.subset)
    .sort()
    .map((k) => `${k}=${owner.subset[k]}`)
    .join(',');
}

const text = (v: string | number | bigint | undefined): string | null => (v === undefined ? null : String(v));

/**
 * The shard map of a range-sharded service (`policy.sharding`, kind
 * `range`): version is the map's `generation`, the checksum covers the
 * comparison, the ranges and their owners. A key's owner is found by the
 * same {@link RangeMap} the data path routes with; the key space has no
 * size, so members and moves carry no `share` (see docs/coordination.md).
 */
export class RangeShardMap implements ShardMap {
  readonly service: string;
  readonly kind = 'range';
  readonly version: number;
  readonly checksum: string;
  readonly tableVersion: number;
  readonly members: readonly string[];
  readonly policy: ShardingPolicy;
  readonly #map: RangeMap;
  readonly #byId: Map<string, Endpoint>;
  readonly #endpoints: readonly Endpoint[];
  readonly #membersByName = new Map<string, readonly string[]>();

  constructor(service: string, policy: ShardingPolicy, endpoints: readonly Endpoint[], tableVersion: number) {
    this.service = service;
    this.policy = policy;
    this.version = policy.generation ?? 0;
    this.tableVersion = tableVersion;
    this.#map = rangeMapOf(policy);
    this.#endpoints = endpoints;
    this.#byId = new Map(endpoints.map((e) => [e.id, e]));
    this.checksum = checksumOf(policy);
    const members = new Set<string>();
    for (const r of this.#ranges()) for (const id of r.members) members.add(id);
    this.members = [...members].sort();
  }

  lookup(key: string): RangeShardLookup {
    const r = rangeOwner(this.policy, key);
    if (!r.ok) return { owner: null, reason: r.message };
    const members = ownerInstances(r.owner, this.#endpoints);
    const range = { from: text(r.range.from), to: text(r.range.to) };
    const ownerName = ownerNameFor(r.owner);
    if ('subset' in r.owner) return { owner: null, ownerName, subset: r.owner.subset, members, range, index: r.index };
    return { owner: this.#ownerOf(r.owner.instance), ownerName, members, range, index: r.index };
  }

  membersOf(owner: string): readonly string[] {
    let members = this.#membersByName.get(owner);
    if (members === undefined) {
      const range = this.policy.ranges.find((r) => ownerNameFor(ownerOf(r)) === owner);
      // An owner this map does not name: an instance id is itself, a selector of another map matches nobody here.
      members =
        range !== undefined ? ownerInstances(ownerOf(range), this.#endpoints) : owner.includes('=') ? [] : [owner];
      this.#membersByName.set(owner, members);
    }
    return members;
  }

  refuse(key: string): ShardKeyRefusal | undefined {
    const hit = rangeHitOf(this.service, this.policy, key, this.tableVersion);
    return 'refusal' in hit ? hit : undefined;
  }

  /**
   * Where this agent's data path sends a request with `key` (the service's
   * own default route, first attempt), without picking (a pick would move a
   * round robin on, or draw for P2C): with a hash balancer (`ring_hash`,
   * `maglev`), its pick for the key's hash, which changes nothing (so equal
   * to a request's pick when its `hashKey` reads the shard key); with any
   * other balancer, the one candidate of the owner when there is one (an
   * instance owner that is routable), else `null`: the balancer picks per
   * request among {@link candidates}.
   */
  routedTo(key: string, table: RouteTable): string | null {
    const found = this.#owner(key, table);
    if (found === undefined) return null;
    const { svc, owner } = found;
    const balancer = svc.policy.balancer;
    if (balancer.kind === 'ring_hash' || balancer.kind === 'maglev')
      return ownerSelection(svc, owner).pick({ hash: keyHash(key, balancer.hashKey?.source) })?.id ?? null;
    const c = candidatesOf(svc, owner);
    return c.length === 1 ? (c[0] as string) : null;
  }

  /**
   * The instances a request with `key` may be sent to by this agent now: the
   * owner's instances that are healthy and not ejected by this agent (all of
   * them when none is: the balancer's panic serves them all); `null` when
   * the key has no range.
   */
  candidates(key: string, table: RouteTable): string[] | null {
    const found = this.#owner(key, table);
    return found === undefined ? null : candidatesOf(found.svc, found.owner);
  }

  #owner(key: string, table: RouteTable): { svc: ServiceRuntime; owner: RangeOwner } | undefined {
    const svc = table.service(this.service);
    const sharding = svc?.policy.sharding;
    if (svc === undefined || sharding === undefined) return undefined;
    const hit = rangeHitOf(this.service, sharding, key, table.version);
    return 'refusal' in hit ? undefined : { svc, owner: hit.owner };
  }

  view(): ShardMapView & { ranges: RangeShardRange[] } {
    const ranges = this.#ranges();
    const count = new Map<string, number>();
    for (const r of ranges) for (const id of r.members) count.set(id, (count.get(id) ?? 0) + 1);
    return {
      space: { unit: 'key' },
      members: this.members.map((id) => ({ ...this.#ownerOf(id), ranges: count.get(id) ?? 0 })),
      ranges,
    };
  }

  /**
   * The ranges whose owner (instance, or subset selector) changed since
   * `previous`, compared on every part between the bounds of either map, a
   * gap's owner `null`; adjacent parts with the same change compacted.
   * `undefined` for another kind or comparison (every key may have moved).
   */
  movesSince(previous: ShardMap): { moves: ShardMove[] } | undefined {
    if (!(previous instanceof RangeShardMap) || previous.#map.compare !== this.#map.compare) return undefined;
    if (previous.checksum === this.checksum) return { moves: [] };
    const compare = this.#map.compare;
    const points = new Map<string, string | bigint>();
    for (const p of [previous.policy, this.policy])
      for (const r of p.ranges)
        for (const b of [r.from, r.to]) {
          const v = b === undefined ? undefined : shardValue(b, compare);
          if (v !== undefined) points.set(String(v), v);
        }
    const bounds = [...points.values()].sort(compareShardValues);
    const moves: ShardMove[] = [];
    const starts: Array<string | bigint | undefined> = [undefined, ...bounds];
    for (let i = 0; i < starts.length; i++) {
      const start = starts[i];
      const from = previous.#ownerAt(start);
      const to = this.#ownerAt(start);
      if (from === to) continue;
      const last = moves.at(-1);
      const begin = text(start);
      if (last !== undefined && last.end === begin && last.from === from && last.to === to)
        last.end = text(starts[i + 1]);
      else moves.push({ start: begin, end: text(starts[i + 1]), from, to });
    }
    return { moves };
  }

  /** The owner's name at `value` (`undefined`: minus infinity), `null` in a gap. */
  #ownerAt(value: string | bigint | undefined): string | null {
    if (value === undefined) {
      const first = this.policy.ranges[0];
      return first !== undefined && first.from === undefined ? ownerNameFor(ownerOf(first)) : null;
    }
    const hit = this.#map.lookupValue(value);
    return hit === undefined ? null : ownerNameFor(hit.owner);
  }

  #ranges(): RangeShardRange[] {
    return this.policy.ranges.map((range, index) => {
      const owner = ownerOf(range);
      const start = range.from === undefined ? null : text(shardValue(range.from, this.#map.compare) ?? range.from);
      const end = range.to === undefined ? null : text(shardValue(range.to, this.#map.compare) ?? range.to);
      const out: RangeShardRange = {
        start,
        end,
        owner: ownerNameFor(owner),
        index,
        members: ownerInstances(owner, this.#endpoints),
      };
      if ('subset' in owner) out.subset = owner.subset;
      return out;
    });
  }

  #ownerOf(id: string): ShardOwner {
    const e = this.#byId.get(id);
    // A range may name an instance the table lacks (not registered, or gone): the id still names it.
    return { instanceId: id, host: e?.host ?? '', port: e?.port ?? 0, zone: e?.zone ?? null, labels: e?.labels ?? {} };
  }
}

/** 16 hex digits of SHA-256 over the comparison and each range's bounds (canonical) and owner. */
function checksumOf(policy: ShardingPolicy): string {
  const compare = policy.compare ?? 'string';
  const canon = (v: string | number | undefined) => (v === undefined ? null : String(shardValue(v, compare) ?? v));
  const body = JSON.stringify([
    compare,
    policy.ranges.map((r) => [canon(r.from), canon(r.to), ownerNameFor(ownerOf(r))]),
  ]);
  return createHash('sha256').update(body).digest('hex').slice(0, 16);
}

/** The owner's instances in the table that are routable for this agent (healthy, not ejected); all of them when none is. */
function candidatesOf(svc: ServiceRuntime, owner: RangeOwner): string[] {
  const members = ownerInstances(owner, svc.endpoints);
  const byId = new Map(svc.endpoints.map((e) => [e.id, e]));
  const ejected = svc.ejected;
  const up = members.filter((id) => (byId.get(id)?.health ?? 'healthy') === 'healthy' && !ejected.has(id));
  return (up.length > 0 ? up : members).sort();
}
