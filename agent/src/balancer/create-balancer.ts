import type { BalancerPolicy, Endpoint } from '@meshlet/shared';
import type { Balancer, BalancerDeps } from './balancer.js';
import { LeastRequestBalancer } from './least-request.js';
import { MaglevBalancer } from './maglev.js';
import { PeakEwmaBalancer } from './peak-ewma.js';
import { RandomBalancer } from './random.js';
import { RingHashBalancer } from './ring-hash.js';
import { RoundRobinBalancer } from './round-robin.js';
import { WeightedBalancer } from './weighted.js';

/**
 * The balancer of `policy.kind` over `endpoints`. `start` is round robin's
 * first position (see {@link RoundRobinBalancer}); when absent it is drawn
 * from `deps.random`, so that agents do not all start on the same endpoint.
 */
export function createBalancer(
  policy: BalancerPolicy,
  endpoints: readonly Endpoint[],
  deps: BalancerDeps,
  start?: number,
): Balancer {
  switch (policy.kind) {
    case 'round_robin':
      return new RoundRobinBalancer(endpoints, start ?? Math.floor(deps.random() * Math.max(1, endpoints.length)));
    case 'weighted':
      return new WeightedBalancer(endpoints, policy, deps);
    case 'random':
      return new RandomBalancer(endpoints, policy, deps);
    case 'least_request':
      return new LeastRequestBalancer(endpoints, policy, deps);
    case 'peak_ewma':
      return new PeakEwmaBalancer(endpoints, policy, deps);
    case 'ring_hash':
      return new RingHashBalancer(endpoints, policy, deps);
    case 'maglev':
      return new MaglevBalancer(endpoints, policy, deps);
    default: {
      const unknown: never = policy.kind;
      throw new TypeError(`unknown balancer kind ${String(unknown)}`);
    }
  }
}
