import type { Endpoint } from '@meshlet/shared';

/*
 * Helpers shared by the balancers for their slow paths: picks among the
 * endpoints not excluded. They scan the list (O(n)) but allocate nothing;
 * the balancers use them only when a first cheap draw landed on an excluded
 * endpoint, which happens on retries.
 */

/** Whether `exclude` holds anything at all (an empty set is as good as none). */
export function hasExclusions(exclude: ReadonlySet<string> | undefined): exclude is ReadonlySet<string> {
  return exclude !== undefined && exclude.size > 0;
}

/** A uniform draw in [0, n): `random` is expected in [0, 1), and a 1 from a careless source still stays in range. */
export function randomBelow(random: () => number, n: number): number {
  const i = Math.floor(random() * n);
  return i < n ? i : n - 1;
}

/** Number of endpoints not in `exclude`. */
export function countAllowed(endpoints: readonly Endpoint[], exclude: ReadonlySet<string> | undefined): number {
  if (!hasExclusions(exclude)) return endpoints.length;
  let m = 0;
  for (const e of endpoints) if (!exclude.has(e.id)) m++;
  return m;
}

/** Index of the `rank`-th (from 0) endpoint not in `exclude`; -1 if there are not that many. */
export function nthAllowed(
  endpoints: readonly Endpoint[],
  exclude: ReadonlySet<string> | undefined,
  rank: number,
): number {
  let r = rank;
  for (let i = 0; i < endpoints.length; i++) {
    if (exclude?.has((endpoints[i] as Endpoint).id)) continue;
    if (r-- === 0) return i;
  }
  return -1;
}

/**
 * Weighted random index: `weights[i]` is the weight of endpoint i, 0 for
 * excluded ones (the caller fills them). Falls back to a uniform pick among
 * the endpoints not excluded when every weight is 0; -1 when all are excluded.
 */
export function weightedIndex(
  endpoints: readonly Endpoint[],
  exclude: ReadonlySet<string> | undefined,
  weights: Float64Array,
  random: () => number,
): number {
  const n = endpoints.length;
  let total = 0;
  for (let i = 0; i < n; i++) total += weights[i] as number;
  if (!(total > 0)) {
    const m = countAllowed(endpoints, exclude);
    return m === 0 ? -1 : nthAllowed(endpoints, exclude, randomBelow(random, m));
  }
  let r = random() * total;
  let last = -1;
  for (let i = 0; i < n; i++) {
    const w = weights[i] as number;
    if (w <= 0) continue;
    if (r < w) return i;
    r -= w;
    last = i;
  }
  // Rounding left r at or just above the last weight.
  return last;
}
