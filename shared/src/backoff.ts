/** A source of uniform random numbers in [0, 1), injected so tests can pin it down. */
export type RandomSource = () => number;

/** Options of {@link backoffDelay}. */
export interface BackoffOptions {
  /** Delay ceiling before jitter for the first retry. */
  initialMs: number;
  /** Upper bound of any delay. */
  maxMs: number;
}

/**
 * Exponential backoff with "full jitter": a uniform pick in
 * [0, min(max, initial * 2^attempt)]. Full jitter spreads a herd of agents
 * that lost the same control plane at the same instant, so they do not all
 * reconnect in the same millisecond. `attempt` counts from 0.
 */
export function backoffDelay(attempt: number, options: BackoffOptions, random: RandomSource): number {
  const ceiling = Math.min(options.maxMs, options.initialMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}
