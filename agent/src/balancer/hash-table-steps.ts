import {
  type BalancerPolicy,
  buildsInSlices,
  type HashMember,
  type HashRing,
  hashTableEntries,
  type MaglevTable,
  maglevTableSteps,
  ringSteps,
} from '@meshlet/shared';

/** Maglev slots filled between two yields: about a millisecond (8192, the shared default, took 2-5 ms over 300 members). */
const MAGLEV_SLICE = 2048;
/** Ring points (or sort and merge steps) between two yields. */
const RING_SLICE = 16_384;
/** Above this many entries a rebuild outside an install goes in slices (a ring of 32768 points at once took 4-6 ms). */
const AT_ONCE = 8192;

/**
 * The steps of building `policy`'s hash table over `members`, with a yield
 * between slices of about a millisecond each: the agent's builds outside an
 * install and ahead of one (see `HashTableCache`), and the ring checksums.
 * The tables are those of `buildMaglevTable` and `buildRing`, entry for
 * entry.
 */
export function hashTableSteps(
  policy: BalancerPolicy,
  members: readonly HashMember[],
): Generator<void, MaglevTable | HashRing, void> {
  return policy.kind === 'maglev'
    ? maglevTableSteps(members, policy.maglevTableSize, MAGLEV_SLICE)
    : ringSteps(members, policy.ringMinSize, RING_SLICE);
}

/**
 * Whether a rebuild of `policy`'s tables over `members` (an ejection, a
 * subset's first use) is worth doing in slices rather than at once: the
 * shared rule (`buildsInSlices`: a large table size), or more than 8192
 * entries in all, which a ring of many endpoints reaches at a small
 * `ringMinSize` (300 endpoints at 32768 make 33000 points).
 */
export function rebuildsInSlices(policy: BalancerPolicy, members: readonly { weight: number }[]): boolean {
  if (policy.kind !== 'maglev' && policy.kind !== 'ring_hash') return false;
  return buildsInSlices(policy) || hashTableEntries({ policy: { balancer: policy }, endpoints: members }) > AT_ONCE;
}
