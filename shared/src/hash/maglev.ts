import { digestWords } from './hash-key.js';
import { type HashMember, sortMembers } from './hash-member.js';
import { runSteps } from './run-steps.js';

/** A Maglev lookup table, built by {@link buildMaglevTable}. */
export interface MaglevTable {
  /** Member ids in id order; `entries` index into it. */
  readonly ids: readonly string[];
  /** The lookup table: `entries[hash % entries.length]` is the index in `ids` of the key's member; -1 only when there are no members. */
  readonly entries: Int32Array;
}

/**
 * Builds a Maglev lookup table (Eisenbud et al., "Maglev: A Fast and Reliable
 * Software Network Load Balancer", NSDI 2016, section 3.4), weighted as Envoy
 * weights it: the members take turns filling the table, each claiming the
 * next free slot of its own permutation, and a member of weight w takes a
 * turn in w / maxWeight of the rounds. Each member thus gets a share of the
 * slots proportional to its weight, within one slot, and removing one member
 * moves little more than the keys it held.
 *
 * `size` must be a prime, for the permutations to visit every slot; a size
 * that is not is raised to the next prime (every agent does the same, so the
 * tables still agree). The table is a pure function of the set of members:
 * they are sorted by id first.
 */
export function buildMaglevTable(members: readonly HashMember[], size: number): MaglevTable {
  return runSteps(maglevTableSteps(members, size));
}

/**
 * {@link buildMaglevTable} in steps: the generator yields after every
 * `slice` entries filled, or `8 * slice` slots probed, whichever comes first,
 * and returns the same table. An agent drives it from the event loop (see
 * the agent's `HashTableCache`) so that a large table does not block
 * requests while it is built. The probes count because the last entries of
 * a nearly full table each probe many slots: the last 8192 of a 655373-slot
 * table take millions of probes (13 ms measured as one slice).
 */
export function* maglevTableSteps(
  members: readonly HashMember[],
  size: number,
  slice = 8192,
): Generator<void, MaglevTable, void> {
  const sorted = sortMembers(members);
  const n = sorted.length;
  const m = nextPrime(Math.max(2, Math.floor(size)));
  const entries = new Int32Array(m).fill(-1);
  const ids = sorted.map((x) => x.id);
  if (n === 0) return { ids, entries };

  // Permutation of member i: slot(j) = (offset + j * skip) mod m, walked incrementally in `next`.
  const next = new Float64Array(n);
  const skip = new Float64Array(n);
  const weight = new Float64Array(n);
  const target = new Float64Array(n);
  let maxWeight = 0;
  for (let i = 0; i < n; i++) {
    const member = sorted[i] as HashMember;
    const words = digestWords(member.id);
    next[i] = (words[0] as number) % m;
    skip[i] = ((words[1] as number) % (m - 1)) + 1;
    weight[i] = member.weight;
    maxWeight = Math.max(maxWeight, member.weight);
  }

  let filled = 0;
  let probes = 0;
  const maxProbes = 8 * slice;
  for (let round = 1; filled < m; round++) {
    for (let i = 0; i < n && filled < m; i++) {
      // Envoy's turn rule: with weight maxWeight / k a member claims a slot every k rounds.
      if (round * (weight[i] as number) < (target[i] as number)) continue;
      target[i] = (target[i] as number) + maxWeight;
      let c = next[i] as number;
      const s = skip[i] as number;
      while ((entries[c] as number) !== -1) {
        c = (c + s) % m;
        probes++;
      }
      entries[c] = i;
      next[i] = (c + s) % m;
      filled++;
      if (filled % slice === 0 || probes >= maxProbes) {
        probes = 0;
        yield;
      }
    }
  }
  return { ids, entries };
}

/** The smallest prime at or above `n` (n >= 2). Trial division: table sizes are at most a few million. */
export function nextPrime(n: number): number {
  for (let p = Math.max(2, Math.ceil(n)); ; p++) if (isPrime(p)) return p;
}

function isPrime(p: number): boolean {
  if (p < 4) return p >= 2;
  if (p % 2 === 0) return false;
  for (let d = 3; d * d <= p; d += 2) if (p % d === 0) return false;
  return true;
}
