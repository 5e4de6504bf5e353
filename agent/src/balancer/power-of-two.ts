import type { Endpoint } from '@meshlet/shared';
import { countAllowed, hasExclusions, nthAllowed, randomBelow } from './candidates.js';

/**
 * Power of two choices (Mitzenmacher): draws two distinct endpoints
 * uniformly among those not excluded and returns the index of the one with
 * the lower `cost` (the first drawn on a tie), or -1 when every endpoint is
 * excluded. Picking the better of two random endpoints, rather than the best
 * of all, avoids the herd that a stale "least loaded" view sends to a single
 * endpoint, and costs O(1): `cost` is called twice. An O(n) scan happens only
 * when a draw lands on an excluded endpoint.
 */
export function powerOfTwoChoices(
  endpoints: readonly Endpoint[],
  exclude: ReadonlySet<string> | undefined,
  random: () => number,
  cost: (index: number) => number,
): number {
  const n = endpoints.length;
  if (n === 0) return -1;
  if (n === 1) return exclude?.has((endpoints[0] as Endpoint).id) ? -1 : 0;
  let i = randomBelow(random, n);
  let j = randomBelow(random, n - 1);
  if (j >= i) j++;
  if (
    hasExclusions(exclude) &&
    (exclude.has((endpoints[i] as Endpoint).id) || exclude.has((endpoints[j] as Endpoint).id))
  ) {
    const m = countAllowed(endpoints, exclude);
    if (m === 0) return -1;
    if (m === 1) return nthAllowed(endpoints, exclude, 0);
    const a = randomBelow(random, m);
    let b = randomBelow(random, m - 1);
    if (b >= a) b++;
    i = nthAllowed(endpoints, exclude, a);
    j = nthAllowed(endpoints, exclude, b);
  }
  return cost(j) < cost(i) ? j : i;
}
