/**
 * A seeded pseudo-random source, uniform in [0, 1): sfc32 (Chris Doty-Humphrey's
 * "small fast counting" generator, which passes PractRand and BigCrush), its
 * state expanded from the 32-bit seed with splitmix32. For deterministic tests
 * and benchmarks: the same seed gives the same sequence in every process. Not
 * for anything that must be unpredictable.
 */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  const splitmix32 = (): number => {
    s = (s + 0x9e3779b9) | 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
  let a = splitmix32();
  let b = splitmix32();
  let c = splitmix32();
  let d = 1;
  const next = (): number => {
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
  // The first outputs of sfc32 still show the seed's structure; the reference implementation skips 12.
  for (let i = 0; i < 12; i++) next();
  return next;
}
