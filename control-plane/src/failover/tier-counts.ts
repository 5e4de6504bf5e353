import type { ServiceRoutes } from '@meshlet/shared';
import type { TierCount } from './failover-engine.js';

/** Healthy and total endpoints per tier of a service's routes. */
export function tierCounts(routes: ServiceRoutes): TierCount[] {
  const byTier = new Map<number, TierCount>();
  for (const e of routes.endpoints) {
    let t = byTier.get(e.tier);
    if (!t) {
      t = { tier: e.tier, healthy: 0, total: 0 };
      byTier.set(e.tier, t);
    }
    t.total++;
    if (e.health === undefined || e.health === 'healthy') t.healthy++;
  }
  return [...byTier.values()].sort((a, b) => a.tier - b.tier);
}
