import { hash } from 'node:crypto';

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

/**
 * The 32-bit hash of a request's key (header, cookie, query value or source
 * address) for the hash balancers: MurmurHash3 x86_32 with seed 0 over the
 * UTF-8 bytes of `s`, unsigned. Identical to `mmh3.hash(s.encode(), 0,
 * signed=False)` and other standard implementations, so a key's placement
 * can be checked with outside tools.
 *
 * It runs on every request, so the UTF-8 encoding is done on the fly rather
 * than into a buffer: no allocation. A lone surrogate is hashed as U+FFFD, as
 * `TextEncoder` and `Buffer.from` encode it.
 */
export function hashString(s: string, seed = 0): number {
  let h = seed | 0;
  let k = 0;
  let shift = 0;
  let length = 0;
  const n = s.length;
  for (let i = 0; i < n; i++) {
    let c = s.charCodeAt(i);
    let bytes: number;
    let count: number;
    if (c < 0x80) {
      bytes = c;
      count = 1;
    } else if (c < 0x800) {
      bytes = 0xc0 | (c >> 6) | ((0x80 | (c & 0x3f)) << 8);
      count = 2;
    } else {
      if (c >= 0xd800 && c <= 0xdfff) {
        const next = i + 1 < n ? s.charCodeAt(i + 1) : 0;
        if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
          c = 0x10000 + ((c - 0xd800) << 10) + (next - 0xdc00);
          i++;
        } else {
          c = 0xfffd;
        }
      }
      if (c < 0x10000) {
        bytes = 0xe0 | (c >> 12) | ((0x80 | ((c >> 6) & 0x3f)) << 8) | ((0x80 | (c & 0x3f)) << 16);
        count = 3;
      } else {
        bytes =
          0xf0 |
          (c >> 18) |
          ((0x80 | ((c >> 12) & 0x3f)) << 8) |
          ((0x80 | ((c >> 6) & 0x3f)) << 16) |
          ((0x80 | (c & 0x3f)) << 24);
        count = 4;
      }
    }
    length += count;
    for (let j = 0; j < count; j++) {
      k |= (bytes & 0xff) << shift;
      bytes >>>= 8;
      shift += 8;
      if (shift === 32) {
        k = Math.imul(k, C1);
        k = (k << 15) | (k >>> 17);
        k = Math.imul(k, C2);
        h ^= k;
        h = (h << 13) | (h >>> 19);
        h = (Math.imul(h, 5) + 0xe6546b64) | 0;
        k = 0;
        shift = 0;
      }
    }
  }
  if (shift > 0) {
    k = Math.imul(k, C1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, C2);
    h ^= k;
  }
  h ^= length;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Eight well-mixed 32-bit words derived from `s`: its SHA-256 digest read as
 * little-endian words. Used to place ring points and Maglev permutations,
 * where it runs only when a table is built. Ketama uses MD5 the same way (four
 * points per digest); SHA-256 gives eight, and unlike MD5 it stays available
 * when Node runs with OpenSSL in FIPS mode.
 */
export function digestWords(s: string): Uint32Array {
  const d = hash('sha256', s, 'buffer');
  const words = new Uint32Array(8);
  for (let i = 0; i < 8; i++) words[i] = d.readUInt32LE(i * 4);
  return words;
}
