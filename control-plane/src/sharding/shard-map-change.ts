import type { ShardingPolicy } from '@meshlet/shared';
import { canonicalJson } from '../backup/canonical-json.js';
import type { MeshEvent } from '../events/event-log.js';

/** Where the highest generation given to a service's map is kept while no API policy carries it (`shard-generations/<service>`). */
export const SHARD_GENERATION_PREFIX = 'shard-generations/';

/** What routing reads of a map: everything but its generation, `null` for no map. */
const routed = (s: ShardingPolicy | undefined) =>
  s === undefined ? null : { kind: s.kind, key: s.key, compare: s.compare ?? 'string', ranges: s.ranges };

/**
 * Whether two maps route alike: the same key, comparison and ranges with
 * the same owners, whatever the order of their JSON members (a subset
 * `{a, b}` is `{b, a}`) and whatever their generations.
 */
export function sameShardMap(a: ShardingPolicy | undefined, b: ShardingPolicy | undefined): boolean {
  return canonicalJson(routed(a)) === canonicalJson(routed(b));
}

/** Who changes a map, and how: the token name, the operation (`split`, `put`, `delete`...) and, for edits, what it did. */
export interface ShardMapActor {
  by: string;
  operation: string;
  summary?: string;
}

/** A service's map replaced by a write of its policy: before and after (`undefined`: no map) and their generations. */
export interface ShardMapChange {
  service: string;
  before: ShardingPolicy | undefined;
  after: ShardingPolicy | undefined;
  generationBefore: number;
  generation: number;
  resourceVersion: string | null;
}

const count = (s: ShardingPolicy) => `${s.ranges.length} range${s.ranges.length === 1 ? '' : 's'}`;

/** What a write of the whole policy did to the map, when no edit says it better. */
function describe(c: ShardMapChange, operation: string): string {
  const how =
    operation === 'delete'
      ? `DELETE /v1/policies/${c.service} (the config file's policy applies again)`
      : `PUT /v1/policies/${c.service}`;
  if (c.before === undefined) return `${how} set a range map of ${count(c.after as ShardingPolicy)}`;
  if (c.after === undefined) return `${how} removed the range map of ${count(c.before)}`;
  return `${how} replaced the range map of ${count(c.before)} by one of ${count(c.after)}`;
}

/** How keys are read and compared, `{before, after}`, when a change of the whole policy changed it. */
function readBy(c: ShardMapChange): Record<string, unknown> {
  const { before, after } = c;
  if (before === undefined || after === undefined) return {};
  const read = (s: ShardingPolicy) => ({ key: s.key, compare: s.compare ?? 'string' });
  return canonicalJson(read(before)) === canonicalJson(read(after))
    ? {}
    : { keyRead: { before: read(before), after: read(after) } };
}

/**
 * The `sharding` event of a map change, whatever path made it (an edit,
 * `PUT` or `DELETE /v1/policies`): who, the operation, the ranges before and
 * after (`null`: no map), the generations and the policy's resourceVersion.
 */
export function shardMapEvent(change: ShardMapChange, actor: ShardMapActor): Omit<MeshEvent, 'seq' | 'time'> {
  const summary = actor.summary ?? describe(change, actor.operation);
  return {
    kind: 'sharding',
    service: change.service,
    from: `generation ${change.generationBefore}`,
    to: `generation ${change.generation}`,
    reason: `${summary} (by ${actor.by})`,
    evidence: {
      operation: actor.operation,
      by: actor.by,
      before: change.before?.ranges ?? null,
      after: change.after?.ranges ?? null,
      ...readBy(change),
      resourceVersion: change.resourceVersion,
    },
  };
}
