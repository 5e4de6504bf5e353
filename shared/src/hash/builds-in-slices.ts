import type { BalancerPolicy } from '../protocol/policy.js';

/** Maglev slots and ring points built at once; a larger table is built in slices. */
const AT_ONCE = { maglev: 8192, ring: 32_768 };

/**
 * Whether `policy`'s hash table is worth building in slices that yield to
 * the event loop (a `maglev` table of more than 8192 slots, a `ring_hash`
 * ring of more than 32768 points: more than one slice of `maglevTableSteps`
 * or `ringSteps`); a smaller one takes a millisecond or two and is built at
 * once. `false` for balancers without a table.
 */
export function buildsInSlices(policy: BalancerPolicy): boolean {
  if (policy.kind === 'maglev') return policy.maglevTableSize > AT_ONCE.maglev;
  if (policy.kind === 'ring_hash') return policy.ringMinSize > AT_ONCE.ring;
  return false;
}
