import { createHash } from 'node:crypto';
import { endianness } from 'node:os';
import type { BalancerPolicy } from '../protocol/policy.js';
import type { HashMember } from './hash-member.js';
import { buildMaglevTable, type MaglevTable } from './maglev.js';
import { buildRing, type HashRing } from './ring.js';

const bigEndian = endianness() === 'BE';

/**
 * A checksum of a built hash table (ring or Maglev): the first 16 hex digits
 * of SHA-256 over its member ids and its arrays, as little-endian bytes on
 * every platform. Two agents with the same checksum route every key to the
 * same member; agents report it in their ACK so that the control plane can
 * see a table that differs.
 */
export function tableChecksum(table: HashRing | MaglevTable): string {
  const h = createHash('sha256');
  h.update('entries' in table ? 'maglev\n' : 'ring\n');
  for (const id of table.ids) h.update(`${id}\n`);
  if ('entries' in table) {
    h.update(littleEndian(table.entries));
  } else {
    h.update(littleEndian(table.points));
    h.update(littleEndian(table.owners));
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
  return policy.kind === 'maglev'
    ? tableChecksum(buildMaglevTable(members, policy.maglevTableSize))
    : tableChecksum(buildRing(members, policy.ringMinSize));
}
