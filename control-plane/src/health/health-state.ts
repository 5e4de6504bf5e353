import type { EndpointHealth } from '@meshlet/shared';

/**
 * An instance's health as the control plane decides it. Callers route to
 * `healthy`, `suspect` and `recovering` instances; `unhealthy` and `draining`
 * ones stay in their tables, marked, and get no new requests.
 */
export type HealthState = 'healthy' | 'suspect' | 'unhealthy' | 'recovering' | 'draining';

/** What callers are told: `undefined` means routed as healthy. */
export function routedHealth(state: HealthState): EndpointHealth | undefined {
  if (state === 'unhealthy') return 'unhealthy';
  if (state === 'draining') return 'draining';
  return undefined;
}
