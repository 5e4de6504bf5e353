import type { Endpoint } from '@meshlet/shared';

/**
 * Picks an endpoint for one attempt. `exclude` holds endpoints already tried
 * for this request, so that a retry goes elsewhere. Returns `undefined` when
 * no endpoint is left.
 */
export interface Balancer {
  pick(exclude?: ReadonlySet<string>): Endpoint | undefined;
}
