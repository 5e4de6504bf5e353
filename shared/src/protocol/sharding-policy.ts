import { type Static, Type } from '@sinclair/typebox';
import type { ValidationIssue } from '../errors.js';

/** Longest key a request may carry, and longest range bound, in UTF-16 code units: a key past it is refused (400). */
export const MAX_SHARD_KEY_LENGTH = 1024;

/** Most ranges in one service's map. */
export const MAX_SHARD_RANGES = 1024;

/** Where a request's shard key is read: one header, one query parameter, or one path segment (0 is the first after `/`). */
export const ShardKey = Type.Union(
  [
    Type.Object({ header: Type.String({ minLength: 1, maxLength: 256 }) }, { additionalProperties: false }),
    Type.Object({ query: Type.String({ minLength: 1, maxLength: 256 }) }, { additionalProperties: false }),
    Type.Object({ pathSegment: Type.Integer({ minimum: 0, maximum: 63 }) }, { additionalProperties: false }),
  ],
  { fix: 'write exactly one of {header: NAME}, {query: NAME}, {pathSegment: N} (N from 0, the first segment)' },
);
/** {@inheritDoc ShardKey} */
export type ShardKey = Static<typeof ShardKey>;

/** A range bound: a string, or (compare integer) an integer, as a JSON number or a string of digits. */
export const RangeBound = Type.Union([Type.String({ maxLength: MAX_SHARD_KEY_LENGTH }), Type.Integer()], {
  fix: 'write a string, or an integer under compare: integer',
});
/** {@inheritDoc RangeBound} */
export type RangeBound = Static<typeof RangeBound>;

/** The instance id a range names (the rule of instance ids: policy.ts cannot import messages.ts, which imports it). */
const InstanceId = Type.String({
  minLength: 1,
  maxLength: 128,
  pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]*$',
  fix: 'use the instance id as /v1/services lists it, such as "orders-1"',
});

/** A label selector, as a route split's `subset` (repeated here: `Subset` lives in policy.ts, which imports this file). */
const OwnerSubset = Type.Record(Type.String({ pattern: '^[A-Za-z0-9._/-]{1,63}$' }), Type.String({ maxLength: 253 }), {
  additionalProperties: false,
});

/**
 * One range of keys, half-open: `from` included, `to` excluded; `from`
 * absent is minus infinity, `to` absent plus infinity. Its owner is one
 * instance (by id) or one subset (endpoints whose labels include all of
 * these); exactly one of the two.
 */
export const KeyRange = Type.Object(
  {
    from: Type.Optional(RangeBound),
    to: Type.Optional(RangeBound),
    instance: Type.Optional(InstanceId),
    subset: Type.Optional(OwnerSubset),
  },
  { additionalProperties: false },
);
/** {@inheritDoc KeyRange} */
export type KeyRange = Static<typeof KeyRange>;

/**
 * Range sharding of a service: each request's key (read per `key`) falls in
 * at most one of `ranges` (sorted, not overlapping; gaps allowed), whose
 * owner alone may serve it. Keys compare as strings (UTF-16 code units, as
 * JavaScript's `<`: byte order for ASCII) or as integers (any size).
 * Beyond the schema, {@link shardingPolicyIssues} checks order, overlap,
 * integers and owners.
 */
export const ShardingPolicy = Type.Object(
  {
    kind: Type.Literal('range', { fix: 'use kind: range (hash sharding is the balancer: ring_hash or maglev)' }),
    key: ShardKey,
    compare: Type.Union([Type.Literal('string'), Type.Literal('integer')], {
      default: 'string',
      fix: 'use string or integer',
    }),
    ranges: Type.Array(KeyRange, { minItems: 1, maxItems: MAX_SHARD_RANGES }),
    /**
     * The map's generation, set by the control plane: one more than the
     * highest so far on every change of the map (an edit, `PUT` or `DELETE
     * /v1/policies`), never lower; one written in a policy is replaced.
     * Agents' refusals and the admin API name it. Absent: 0.
     */
    generation: Type.Optional(Type.Integer({ minimum: 0, maximum: 2 ** 48 })),
  },
  { additionalProperties: false },
);
/** {@inheritDoc ShardingPolicy} */
export type ShardingPolicy = Static<typeof ShardingPolicy>;

/** The owner of a range: `{instance}` or `{subset}`. */
export type RangeOwner = { instance: string } | { subset: Record<string, string> };

/** The owner a (valid) range names. */
export function ownerOf(range: KeyRange): RangeOwner {
  return range.instance !== undefined ? { instance: range.instance } : { subset: range.subset ?? {} };
}

const INTEGER = /^-?[0-9]+$/;

/** A comparable form of a key or bound under `compare`; `undefined` when an integer is expected and it is none. */
export function shardValue(v: string | number, compare: 'string' | 'integer'): string | bigint | undefined {
  if (compare === 'string') return String(v);
  if (typeof v === 'number') return Number.isSafeInteger(v) ? BigInt(v) : undefined;
  return INTEGER.test(v) ? BigInt(v) : undefined;
}

/** -1, 0 or 1, as `a` sorts before, with or after `b` (both from {@link shardValue} under the same compare). */
export function compareShardValues(a: string | bigint, b: string | bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

const show = (v: string | number): string => JSON.stringify(v);

/**
 * What the schema cannot check in a sharding policy that passed it: every
 * range names exactly one of `instance` and `subset`; under compare integer
 * every bound is an integer; each range's `from` is below its `to`; ranges
 * are sorted and do not overlap (a range's `to` at most the next one's
 * `from`); only the first may leave `from` out, only the last `to`.
 * `prefix` goes before each field path, such as `policy.sharding.`.
 */
export function shardingPolicyIssues(policy: ShardingPolicy, prefix = ''): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const compare = policy.compare ?? 'string';
  const n = policy.ranges.length;
  const values = policy.ranges.map((r, i) => {
    const at = (f: 'from' | 'to'): string | bigint | undefined => {
      const v = r[f];
      if (v === undefined) return undefined;
      if (compare === 'string' && typeof v === 'number') {
        issues.push({
          path: `${prefix}ranges.${i}.${f}`,
          problem: `is a number (${v}) but keys compare as strings`,
          fix: `write it as a string (${show(String(v))}), or set compare: integer`,
        });
        return undefined;
      }
      const value = shardValue(v, compare);
      if (value === undefined)
        issues.push({
          path: `${prefix}ranges.${i}.${f}`,
          problem: `${show(v)} is not an integer, and keys compare as integers`,
          fix: 'write an integer such as 1000 or "-42" (digits, an optional leading minus), or set compare: string',
        });
      return value;
    };
    return { from: at('from'), to: at('to') };
  });
  for (const [i, r] of policy.ranges.entries()) {
    const path = `${prefix}ranges.${i}`;
    if ((r.instance === undefined) === (r.subset === undefined))
      issues.push({
        path,
        problem: r.instance === undefined ? 'names no owner' : 'names both an instance and a subset',
        fix: 'give exactly one of instance: ID and subset: {label: value}',
      });
    if (r.subset !== undefined && Object.keys(r.subset).length === 0)
      issues.push({ path: `${path}.subset`, problem: 'is empty', fix: 'name at least one label, such as {shard: a}' });
    if (r.from === undefined && i > 0)
      issues.push({
        path: `${path}.from`,
        problem: 'is absent (minus infinity) on a range that is not the first',
        fix: `give its lower bound; only ranges.0 may start at minus infinity`,
      });
    if (r.to === undefined && i < n - 1)
      issues.push({
        path: `${path}.to`,
        problem: 'is absent (plus infinity) on a range that is not the last',
        fix: `give its upper bound; only ranges.${n - 1} may end at plus infinity`,
      });
    const v = values[i] as { from?: string | bigint | undefined; to?: string | bigint | undefined };
    if (v.from !== undefined && v.to !== undefined && compareShardValues(v.from, v.to) >= 0)
      issues.push({
        path: `${path}.to`,
        problem: `${show(r.to as string | number)} is not above from ${show(r.from as string | number)}: the range [from, to) is empty`,
        fix: 'make to greater than from, or delete the range',
      });
    const next = values[i + 1];
    const nextRange = policy.ranges[i + 1];
    if (next?.from !== undefined && v.to !== undefined && compareShardValues(v.to, next.from) > 0)
      issues.push({
        path: `${prefix}ranges.${i + 1}.from`,
        problem: `${show(nextRange?.from as string | number)} is below the previous range's to ${show(r.to as string | number)}: the ranges overlap or are not sorted`,
        fix: 'sort the ranges by from, each starting at or after the previous one ends (gaps are allowed)',
      });
  }
  return issues;
}
