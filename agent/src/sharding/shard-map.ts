import type { MeshletHttpError } from '@meshlet/shared';
import type { RouteTable } from '../route/route-table.js';

/** The instance that owns a key, as the shard API reports it. */
export interface ShardOwner {
  instanceId: string;
  host: string;
  port: number;
  zone: string | null;
  labels: Record<string, string>;
}

/**
 * A contiguous part of a map's key space and its owner: an instance id (a
 * range map's subset owner: its label selector, `shard=c`).
 */
export interface ShardRange {
  /** First position: a hash or slot (hash maps), or a key (range maps; `null`: minus infinity). */
  start: number | string | null;
  /** Last position, inclusive (hash maps); a range map's `to`, excluded (`null`: plus infinity). */
  end: number | string | null;
  owner: string;
}

/** One part of the key space whose owner changed between two maps; an owner is `null` where none was (no members). */
export interface ShardMove {
  start: number | string | null;
  end: number | string | null;
  from: string | null;
  to: string | null;
}

/**
 * What a map answers for one key; `GET /v1/shards/SERVICE?key=` sends it
 * whole, so a kind may add fields of its own (a range map: the range the
 * key fell in, or the subset that owns it).
 */
export interface ShardLookup {
  /** The key's 32-bit hash, for hash maps (MurmurHash3 of its UTF-8 bytes, as the balancer hashes a request key). */
  hash?: number;
  /** The owner; `null` when the map has none for the key (a range map with a gap), or when several instances are (a subset). */
  owner: ShardOwner | null;
  /**
   * The owner's name as `ranges` and moves name it: the instance id, a range
   * map's subset selector (`shard=c`); `null` in a gap. Absent: the owner's
   * instance id.
   */
  ownerName?: string | null;
}

/** The whole map: its members with their share of the key space, and the owner of every part, compacted. */
export interface ShardMapView {
  /** What `ranges` index: `hash` (32-bit key hashes), `slot` (a Maglev slot, `hash % size`) or `key` (range maps). */
  space: { unit: 'hash' | 'slot' | 'key'; size?: number };
  /** `share`: each member's part of the space (hash maps; a range map's key space has no size, see docs). */
  members: Array<ShardOwner & { weight?: number; share?: number }>;
  ranges: ShardRange[];
}

/**
 * One service's shard map as of one routing table: who owns which key. Hash
 * maps (`ring_hash`, `maglev`: `HashShardMap`) implement it over the
 * published ring; range sharding plugs in the same way, and the shard routes
 * (`GET /v1/shards/SERVICE`, `?key=`, `/lookup`, `/events`) serve any map.
 */
export interface ShardMap {
  readonly service: string;
  /** What shards the service: the balancer kind (`ring_hash`, `maglev`) or `range`. */
  readonly kind: string;
  /** Grows with every change of ownership (the ring version; a range map's version). */
  readonly version: number;
  /** Identifies the map's content: equal checksums, equal owners for every key. */
  readonly checksum: string;
  /** The routing table the map was read from. */
  readonly tableVersion: number;
  /** The instance ids that own part of the key space (or could: a member with no part left is still listed). */
  readonly members: readonly string[];
  /** The owner of `key`. */
  lookup(key: string): ShardLookup;
  /**
   * The instance this agent's data path would send a request with `key` to
   * right now (see docs); `null`: none, or not one (a balancer that picks per
   * request among several: see the answer's `candidates`). Changes no
   * balancer state.
   */
  routedTo(key: string, table: RouteTable): string | null;
  /** The whole map. */
  view(): ShardMapView;
  /**
   * The instances of the owner named `owner` (as in `ranges` and moves) in
   * this map's table: a subset's members. Absent: an owner is one instance,
   * its name its id.
   */
  membersOf?(owner: string): readonly string[];
  /**
   * The instances a request with `key` may go to from this agent now, when
   * the balancer picks per request among several (see {@link routedTo});
   * absent for maps whose `routedTo` always names one.
   */
  candidates?(key: string, table: RouteTable): string[] | null;
  /**
   * The parts of the key space whose owner changed from `previous` (a map of
   * the same service) to this one, compacted; `undefined` when the two are
   * not comparable (another kind or key space): every key may have moved.
   */
  movesSince(previous: ShardMap): { moves: ShardMove[]; share?: number } | undefined;
  /**
   * Why this map's data path refuses a request carrying `key` (a range map:
   * a key too long or not an integer, `invalid`, or in no range,
   * `unroutable`); `undefined` when it routes it. Absent: every key routes.
   */
  refuse?(key: string): ShardKeyRefusal | undefined;
}

/** A key refused as the data path refuses a request carrying it: the answer, and whether the key is bad or unowned. */
export interface ShardKeyRefusal {
  why: 'invalid' | 'unroutable';
  refusal: MeshletHttpError;
  /** Fields added to the answer's body. */
  extra: Record<string, unknown>;
}

/** What a provider makes of a service: its map, or why it has none now (an answer to send, such as no healthy member). */
export type ShardMapResult = { map: ShardMap } | { refusal: MeshletHttpError };

/**
 * Makes the shard maps of the services it shards. The agent asks each
 * provider in turn; the first that does not answer `undefined` owns the
 * service. A provider keeps what is costly to build (a table) between calls.
 */
export interface ShardMapProvider {
  /** `service`'s map under `table`; `undefined` when this provider does not shard that service. */
  mapOf(service: string, table: RouteTable): Promise<ShardMapResult | undefined>;
}
