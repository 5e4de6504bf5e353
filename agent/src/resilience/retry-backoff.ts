import { backoffDelay, type RandomSource, type RetryPolicy } from '@meshlet/shared';

/**
 * Delay before retry number `attempt` (0 for the first retry): the shared
 * full-jitter backoff, a uniform pick in
 * [0, min(backoffMaxMs, backoffBaseMs x 2^attempt)). With the defaults (25 ms,
 * 250 ms) the ceilings run 25, 50, 100, 200, 250, 250 ... ms.
 */
export function retryDelay(attempt: number, policy: Pick<RetryPolicy, 'backoffBaseMs' | 'backoffMaxMs'>, random: RandomSource): number {
  return backoffDelay(attempt, { initialMs: policy.backoffBaseMs, maxMs: policy.backoffMaxMs }, random);
}
