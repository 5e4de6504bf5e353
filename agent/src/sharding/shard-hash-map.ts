import { type Endpoint, type HashKey, type HashRing, type MaglevTable, ringIndex } from '@meshlet/shared';
import { keyHash } from '../route/request-hash.js';
import type { RouteTable } from '../route/route-table.js';
import {
  changedRanges,
  HASH_SPACE,
  type HashRanges,
  maglevRanges,
  positionsByOwner,
  ringRanges,
} from './shard-hash-ranges.js';
import type { ShardLookup, ShardMap, ShardMapView, ShardMove, ShardOwner } from './shard-map.js';

/** A hash table built from a published ring, with its checksum (what the agent ACKs) and its cut into ranges. */
export class BuiltHashTable {
  readonly kind: 'ring_hash' | 'maglev';
  readonly table: HashRing | MaglevTable;
  readonly checksum: string;
  #ranges: HashRanges | undefined;

  constructor(table: HashRing | MaglevTable, checksum: string) {
    this.kind = 'entries' in table ? 'maglev' : 'ring_hash';
    this.table = table;
    this.checksum = checksum;
  }

  /** The table's key space by owner, computed once. */
  get ranges(): HashRanges {
    this.#ranges ??= 'entries' in this.table ? maglevRanges(this.table) : ringRanges(this.table);
    return this.#ranges;
  }

  /** The index in `table.ids` of the member that owns `hash`, as the balancer finds it; -1 when there is none. */
  ownerIndex(hash: number): number {
    const t = this.table;
    if ('entries' in t) return t.entries.length === 0 ? -1 : (t.entries[(hash >>> 0) % t.entries.length] as number);
    const slot = ringIndex(t, hash);
    return slot < 0 ? -1 : (t.owners[slot] as number);
  }
}

/**
 * The shard map of a `ring_hash` or `maglev` service: the table built from
 * the ring membership the control plane publishes (`ServiceRoutes.ring`),
 * which every agent builds identically and whose checksum it ACKs. A key is
 * hashed as the balancer hashes a request carrying it (`keyHash`: MurmurHash3
 * of the UTF-8 bytes) and found in the table as `RingHashBalancer` and
 * `MaglevBalancer` find it, so the owner is where a request with that key
 * goes whenever the caller's candidate set is the ring (see
 * {@link routedTo} for when it is not).
 */
export class HashShardMap implements ShardMap {
  readonly service: string;
  readonly kind: 'ring_hash' | 'maglev';
  readonly version: number;
  readonly checksum: string;
  readonly tableVersion: number;
  readonly built: BuiltHashTable;
  readonly members: readonly string[];
  /** Owners by index of `built.table.ids`. */
  readonly #owners: ShardOwner[];
  readonly #weights: number[];
  readonly #source: HashKey['source'] | undefined;

  /** @param source - where the balancer reads a request's key (`hashKey.source`): how a key is hashed, see `keyHash` */
  constructor(
    service: string,
    built: BuiltHashTable,
    ring: { version: number; members: ReadonlyArray<{ id: string; weight: number }> },
    endpoints: readonly Endpoint[],
    tableVersion: number,
    source?: HashKey['source'],
  ) {
    this.service = service;
    this.#source = source;
    this.kind = built.kind;
    this.version = ring.version;
    this.checksum = built.checksum;
    this.tableVersion = tableVersion;
    this.built = built;
    this.members = built.table.ids;
    const byId = new Map(endpoints.map((e) => [e.id, e]));
    const weights = new Map(ring.members.map((m) => [m.id, m.weight]));
    this.#owners = built.table.ids.map((id) => ownerOf(id, byId.get(id)));
    this.#weights = built.table.ids.map((id) => weights.get(id) ?? 1);
  }

  lookup(key: string): ShardLookup {
    const hash = keyHash(key, this.#source);
    const i = this.built.ownerIndex(hash);
    return { hash, owner: this.#owners[i] ?? null };
  }

  /**
   * The pick of the service's balancer in `table` for a request with `key`
   * (no route rule, no retry): the owner, unless this caller's candidates
   * differ from the ring (zone preference, a local ejection, panic, a
   * bounded-load cap, a spill to another tier).
   */
  routedTo(key: string, table: RouteTable): string | null {
    return table.service(this.service)?.lb.pick({ hash: keyHash(key, this.#source) })?.id ?? null;
  }

  view(): ShardMapView {
    const r = this.built.ranges;
    const held = positionsByOwner(r, this.#owners.length);
    const ids = this.built.table.ids;
    const ranges = [];
    for (let i = 0; i < r.owners.length; i++)
      ranges.push({ start: r.starts[i] as number, end: r.ends[i] as number, owner: ids[r.owners[i] as number] ?? '' });
    return {
      space: this.kind === 'maglev' ? { unit: 'slot', size: r.size } : { unit: 'hash', size: HASH_SPACE },
      members: this.#owners.map((o, i) => ({ ...o, weight: this.#weights[i], share: (held[i] as number) / r.size })),
      ranges,
    };
  }

  movesSince(previous: ShardMap): { moves: ShardMove[]; share: number } | undefined {
    if (!(previous instanceof HashShardMap) || previous.kind !== this.kind) return undefined;
    const before = previous.built.ranges;
    const after = this.built.ranges;
    if (before.size !== after.size) return undefined;
    if (previous.built === this.built) return { moves: [], share: 0 };
    const moves = changedRanges(before, previous.built.table.ids, after, this.built.table.ids);
    let moved = 0;
    for (const m of moves) moved += m.end - m.start + 1;
    return {
      moves: moves.map((m) => ({ start: m.start, end: m.end, from: m.from || null, to: m.to || null })),
      share: moved / after.size,
    };
  }
}

function ownerOf(id: string, e: Endpoint | undefined): ShardOwner {
  // A ring member is one of the service's endpoints; should it not be (a table being replaced), the id still names it.
  return { instanceId: id, host: e?.host ?? '', port: e?.port ?? 0, zone: e?.zone ?? null, labels: e?.labels ?? {} };
}
