/** A member of a hash table (ring or Maglev): an endpoint id and its weight. */
export interface HashMember {
  readonly id: string;
  /** A positive number; the Endpoint schema makes it an integer in 1..10000. */
  readonly weight: number;
}

/**
 * The members sorted by id (then weight), after checking their weights.
 * Tables are built from this order, never from the caller's, so that every
 * agent builds the identical table from the same set of members whatever the
 * order the control plane sent them in. Ids are expected to be unique; a
 * duplicate is kept as a separate member, placed deterministically.
 */
export function sortMembers(members: readonly HashMember[]): HashMember[] {
  for (const m of members) {
    if (!(m.weight > 0) || !Number.isFinite(m.weight)) {
      throw new RangeError(`hash table member "${m.id}" has weight ${m.weight}; weights must be positive and finite`);
    }
  }
  return [...members].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : a.weight - b.weight));
}
