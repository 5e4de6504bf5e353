import type { FaultPolicy, RandomSource } from '@meshlet/shared';

/** What to do to one request: wait `delayMs` first (0: no delay), then answer `abortStatus` instead of forwarding (`undefined`: forward). */
export interface FaultDecision {
  readonly delayMs: number;
  readonly abortStatus: number | undefined;
}

/** The decision for most requests, shared so that the common path allocates nothing. */
export const NO_FAULT: FaultDecision = Object.freeze({ delayMs: 0, abortStatus: undefined });

/**
 * Decides the fault for one request, as Envoy's fault filter does: the delay
 * and the abort are drawn independently (one `random()` each, delay first,
 * only for the faults the policy has), each with its own percentage out of
 * 100; a request may get both, and then is delayed before it is aborted.
 * Returns {@link NO_FAULT} when nothing happens.
 */
export function decideFault(policy: FaultPolicy | undefined, random: RandomSource): FaultDecision {
  if (policy === undefined) return NO_FAULT;
  const { delay, abort } = policy;
  const delayMs = delay !== undefined && random() * 100 < delay.percent ? delay.ms : 0;
  const abortStatus = abort !== undefined && random() * 100 < abort.percent ? abort.status : undefined;
  return delayMs === 0 && abortStatus === undefined ? NO_FAULT : { delayMs, abortStatus };
}
