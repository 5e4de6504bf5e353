import { createHash } from 'node:crypto';
import { endianness } from 'node:os';
import type { BalancerPolicy } from '../protocol/policy.js';
import type { HashMember } from './hash-member.js';
import { type MaglevTable, maglevTableSteps } from './maglev.js';
import { type HashRing, ringSteps } from './ring.js';
import { runSteps } from './run-steps.js';

const bigEndian = endianness() === 'BE';

/**
 * A checksum of a built hash table (ring or Maglev): the first 16 hex digits
 * of SHA-256 over its member ids and its arrays, as little-endian bytes on
 * every platform. Two agents with the same checksum route every key to the
 * same member; agents report it in their ACK so that the control plane can
 * see a table that differs.
 */
export function tableChecksum(table: HashRing | MaglevTable): string {
  return runSteps(tableChecksumSteps(table));
}

/** Bytes hashed between two steps of {@link tableChecksumSteps}. */
const HASH_SLICE = 256 * 1024;

/** {@link tableChecksum} in steps: yields after every 256 KiB hashed (a 655373-slot Maglev table is 2.5 MiB). */
export function* tableChecksumSteps(table: HashRing | MaglevTable): Generator<void, string, void> {
  const h = createHash('sha256');
  h.update('entries' in table ? 'maglev\n' : 'ring\n');
  for (const id of table.ids) h.update(`${id}\n`);
  for (const a of 'entries' in table ? [table.entries] : [table.points, table.owners]) {
    const bytes = littleEndian(a);
    for (let at = 0; at < bytes.length; at += HASH_SLICE) {
      h.update(bytes.subarray(at, at + HASH_SLICE));
      yield;
    }
  }
  return h.digest('hex').slice(0, 16);
}

/** The bytes of a 32-bit typed array in little-endian order (a copy only on a big-endian machine). */
function littleEndian(a: Uint32Array | Int32Array): Uint8Array {
  const bytes = Buffer.from(a.buffer, a.byteOffset, a.byteLength);
  return bigEndian ? Buffer.from(bytes).swap32() : bytes;
}

/**
 * The checksum of the table a `ring_hash` or `maglev` policy builds over
 * `members`: what an agent reports in its ACK for a published ring, and what
 * the control plane expects. One function, so that both sides agree.
 */
export function membershipChecksum(policy: BalancerPolicy, members: readonly HashMember[]): string {
  return runSteps(membershipChecksumSteps(policy, members));
}

/** {@link membershipChecksum} in the steps of the table's build (`maglevTableSteps`, `ringSteps`), to yield between. */
export function* membershipChecksumSteps(
  policy: BalancerPolicy,
  members: readonly HashMember[],
): Generator<void, string, void> {
  const table =
    policy.kind === 'maglev'
      ? yield* maglevTableSteps(members, policy.maglevTableSize)
      : yield* ringSteps(members, policy.ringMinSize);
  return yield* tableChecksumSteps(table);
}
