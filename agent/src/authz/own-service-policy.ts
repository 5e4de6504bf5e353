import type { AuthzPolicy, ServiceRoutes } from '@meshlet/shared';

/** What {@link ownServicePolicy} answers while the agent holds no table entry for its own service. */
export const AUTHZ_POLICY_UNKNOWN = 'unknown';

/** The policy in force: one, none (undefined), or not known yet. */
export type PolicyInForce = AuthzPolicy | undefined | typeof AUTHZ_POLICY_UNKNOWN;

/**
 * The authorization policy of `service` from the agent's routing table
 * (`table?.routes.services`): its `authz`, undefined when its entry has none,
 * and `'unknown'` when there is no table or no entry for the service yet
 * (the agent is not connected yet, or not subscribed to its own service).
 * "Unknown" must never read as "no policy": that would allow everyone.
 */
export function ownServicePolicy(
  services: Readonly<Record<string, ServiceRoutes>> | undefined,
  service: string,
): PolicyInForce {
  const own = services?.[service];
  return own === undefined ? AUTHZ_POLICY_UNKNOWN : own.authz;
}
