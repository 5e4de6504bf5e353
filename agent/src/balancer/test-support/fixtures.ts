// Shared fixtures for the balancer unit tests: endpoints, a policy with the
// schema's defaults, seeded deps, and pick counting. Test code only: the
// agent's build excludes `test-support` folders (agent/tsconfig.json).
import { type BalancerKind, type BalancerPolicy, type Endpoint, seededRandom } from '@meshlet/shared';
import type { BalancerDeps } from '../balancer.js';
import { EndpointStatsMap } from '../endpoint-stats.js';

/**
 * An endpoint on 127.0.0.1:1 in tier 0 with no labels.
 *
 * @param id - the endpoint id, which the balancers report and exclude by
 * @param weight - its declared weight
 * @param over - any other fields to set or replace
 */
export function endpoint(id: string, weight = 1, over: Partial<Endpoint> = {}): Endpoint {
  return { id, host: '127.0.0.1', port: 1, tier: 0, weight, labels: {}, ...over };
}

/**
 * One endpoint of weight 1 per id, in the order given (see {@link endpoint}).
 *
 * @param ids - the endpoint ids
 */
export function endpoints(...ids: string[]): Endpoint[] {
  return ids.map((id) => endpoint(id));
}

/**
 * A balancer policy of the given kind with the schema's defaults: bias 1,
 * EWMA decay 10 s and default latency 10 ms, a ring of at least 1024 points,
 * a maglev table of 65537 entries, and no bounded load.
 *
 * @param kind - the balancer to build
 * @param over - settings that differ from the defaults
 */
export function balancerPolicy(kind: BalancerKind, over: Partial<BalancerPolicy> = {}): BalancerPolicy {
  return {
    kind,
    activeRequestBias: 1,
    ewmaDecayMs: 10_000,
    ewmaDefaultLatencyMs: 10,
    ringMinSize: 1024,
    maglevTableSize: 65537,
    ...over,
  };
}

/**
 * Balancer deps with a seeded random source, a clock stopped at 0, fresh
 * endpoint stats and static weights (no `weightOf`).
 *
 * @param seed - seed of {@link seededRandom}, so that a test's draws repeat
 * @param over - deps to set or replace, such as `clock` or `weightOf`
 */
export function balancerDeps(seed: number, over: Partial<BalancerDeps> = {}): BalancerDeps {
  return { random: seededRandom(seed), clock: () => 0, stats: new EndpointStatsMap(), ...over };
}

/** The key under which {@link countPicks} and {@link pickShares} count picks that returned no endpoint. */
export const NO_PICK = 'none';

/**
 * Calls `pick` `n` times and counts the endpoints it returns by id; a pick
 * that returns `undefined` counts under {@link NO_PICK}. An id never picked
 * has no key.
 *
 * @param pick - one pick; it is given the index of the pick, from 0 to n - 1 (to vary a hash, say)
 * @param n - how many picks
 */
export function countPicks(pick: (i: number) => Endpoint | undefined, n: number): Record<string, number> {
  const counts: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const id = pick(i)?.id ?? NO_PICK;
    counts[id] = (counts[id] ?? 0) + 1;
  }
  return counts;
}

/**
 * Like {@link countPicks}, but each count divided by `n`: the share of the
 * picks each endpoint got.
 *
 * @param pick - one pick; it is given the index of the pick, from 0 to n - 1
 * @param n - how many picks
 */
export function pickShares(pick: (i: number) => Endpoint | undefined, n: number): Record<string, number> {
  const shares = countPicks(pick, n);
  for (const id of Object.keys(shares)) shares[id]! /= n;
  return shares;
}
