import type { ShardLookup, ShardMap, ShardMove } from './shard-map.js';

/** Most moved parts one event lists; past it, `truncated` says to read the whole map instead. */
export const MAX_EVENT_MOVES = 100_000;

/** A map's identity in an event. */
export interface ShardMapRef {
  kind: string;
  version: number;
  checksum: string;
  tableVersion: number;
}

/** One `moved` event of `GET /v1/shards/SERVICE/events`. */
export interface ShardChange {
  service: string;
  /** The map before; `null` when the service had none (not sharded, or no healthy member). */
  from: ShardMapRef | null;
  /** The map now; `null` when it has none any more (`reason` says why). */
  to: ShardMapRef | null;
  /** Share of the key space whose owner changed, 0..1 (1 with `reset`); absent for range maps (see docs). */
  share?: number;
  /** The parts whose owner changed, compacted, in key-space order. */
  moves: ShardMove[];
  /** Present when the two maps cannot be compared part by part (a new kind or table size): every key may have moved. */
  reset?: true;
  /** Present when `moves` was cut at {@link MAX_EVENT_MOVES}. */
  truncated?: true;
  /** For the agent's own instance (when it is one of the service's): the parts it gained and lost. */
  self?: { instanceId: string; gained: ShardMove[]; lost: ShardMove[] };
  /** For each key the stream asked about (`?keys=`) whose owner changed; owners by name (a subset: `shard=c`). */
  keys?: Array<{ key: string; hash?: number; from: string | null; to: string | null }>;
  reason?: string;
}

/** What a stream asks about besides the parts: its own instance, and keys by name. */
export interface ShardInterest {
  self: string | undefined;
  keys: readonly string[];
}

/**
 * What changed from `before` to `after` (either may be absent: no map),
 * or `undefined` when nothing did (the same version and checksum).
 */
export function shardChange(
  service: string,
  before: ShardMap | undefined,
  after: ShardMap | undefined,
  interest: ShardInterest,
  reason?: string,
): ShardChange | undefined {
  if (before === undefined && after === undefined) return undefined;
  if (before !== undefined && after !== undefined && same(before, after)) return undefined;
  const out: ShardChange = { service, from: ref(before), to: ref(after), share: 1, moves: [] };
  const diff = before !== undefined && after !== undefined ? after.movesSince(before) : undefined;
  if (diff !== undefined) {
    if (diff.share === undefined) delete out.share;
    else out.share = diff.share;
    out.moves = diff.moves;
  } else {
    out.reset = true;
  }
  if (out.moves.length > MAX_EVENT_MOVES) {
    out.moves = out.moves.slice(0, MAX_EVENT_MOVES);
    out.truncated = true;
  }
  const self = interest.self;
  if (self !== undefined && diff !== undefined && (isMember(before, self) || isMember(after, self))) {
    // An owner is self when self is one of its instances (a range map's subset owner has several).
    const mine = (m: ShardMap | undefined, owner: string | null): boolean =>
      owner !== null && m !== undefined && (m.membersOf?.(owner) ?? [owner]).includes(self);
    out.self = {
      instanceId: self,
      gained: diff.moves.filter((m) => mine(after, m.to) && !mine(before, m.from)),
      lost: diff.moves.filter((m) => mine(before, m.from) && !mine(after, m.to)),
    };
  }
  if (interest.keys.length > 0) {
    const keys: NonNullable<ShardChange['keys']> = [];
    for (const key of interest.keys) {
      const was = before?.lookup(key);
      const now = after?.lookup(key);
      const from = was === undefined ? null : ownerNameOf(was);
      const to = now === undefined ? null : ownerNameOf(now);
      if (from === to) continue;
      const hash = now?.hash ?? was?.hash;
      keys.push(hash === undefined ? { key, from, to } : { key, hash, from, to });
    }
    out.keys = keys;
  }
  if (reason !== undefined) out.reason = reason;
  return out;
}

/** A key's owner by name (instance id, or a range map's subset selector); `null` when it has none. */
export function ownerNameOf(l: ShardLookup): string | null {
  return l.ownerName !== undefined ? l.ownerName : (l.owner?.instanceId ?? null);
}

/** The map's identity, or `null`. */
export function ref(m: ShardMap | undefined): ShardMapRef | null {
  return m === undefined
    ? null
    : { kind: m.kind, version: m.version, checksum: m.checksum, tableVersion: m.tableVersion };
}

function same(a: ShardMap, b: ShardMap): boolean {
  return a.kind === b.kind && a.version === b.version && a.checksum === b.checksum;
}

function isMember(m: ShardMap | undefined, id: string): boolean {
  return m !== undefined && m.members.includes(id);
}
