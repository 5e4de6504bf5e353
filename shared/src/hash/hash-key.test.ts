import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { digestWords, hashString } from './hash-key.js';

/** Plain MurmurHash3 x86_32 over bytes, straight from the reference, to check the streaming version against. */
function murmur3Bytes(bytes: Uint8Array, seed: number): number {
  let h = seed | 0;
  const blocks = bytes.length & ~3;
  for (let i = 0; i < blocks; i += 4) {
    let k = bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24);
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  const tail = bytes.length & 3;
  if (tail > 0) {
    let k = 0;
    for (let i = tail - 1; i >= 0; i--) k = (k << 8) | bytes[blocks + i]!;
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
  }
  h ^= bytes.length;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Any UTF-16 string, lone surrogates included (fast-check's 'binary' strings hold only whole code points). */
const codeUnits = fc
  .array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 40 })
  .map((units) => String.fromCharCode(...units));

describe('hashString', () => {
  // Values from Python's mmh3 5.3.0: mmh3.hash(s.encode('utf-8'), seed, signed=False).
  it.each([
    ['', 0, 0x0],
    ['', 1, 0x514e28b7],
    ['abc', 0, 0xb3dd93fa],
    ['aaaa', 0x9747b28c, 0x5a97808a],
    ['Hello, world!', 0x9747b28c, 0x24884cba],
    ['The quick brown fox jumps over the lazy dog', 0x9747b28c, 0x2fa826cd],
    ['π', 0x9747b28c, 0x445626f5],
    ['héllo wörld €𝄞', 0, 0x8928d2e1],
  ])('hashes %j with seed %d as standard MurmurHash3 does', (s, seed, expected) => {
    expect(hashString(s, seed)).toBe(expected);
  });

  it('equals MurmurHash3 of the UTF-8 bytes for any string, lone surrogates included', () => {
    fc.assert(
      fc.property(
        fc.oneof(codeUnits, fc.string({ unit: 'binary', maxLength: 40 })),
        fc.integer({ min: 0, max: 0xffffffff }),
        (s, seed) => {
          expect(hashString(s, seed)).toBe(murmur3Bytes(Buffer.from(s, 'utf8'), seed));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('spreads similar keys evenly over the 32-bit space', () => {
    const buckets = new Array<number>(16).fill(0);
    const n = 64_000;
    for (let i = 0; i < n; i++) buckets[hashString(`user-${i}`) >>> 28]!++;
    for (const b of buckets) expect(Math.abs(b - n / 16) / (n / 16)).toBeLessThan(0.05);
  });
});

describe('digestWords', () => {
  it('reads SHA-256 as eight little-endian words', () => {
    const w = digestWords('abc');
    expect(w).toHaveLength(8);
    // SHA-256("abc") = ba7816bf 8f01cfea ...; read little-endian.
    expect(w[0]).toBe(0xbf1678ba);
    expect(w[1]).toBe(0xeacf018f);
  });
});
