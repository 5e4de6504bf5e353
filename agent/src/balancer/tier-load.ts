import type { TierPolicy } from '@meshlet/shared';

/** Healthy and total endpoint counts of one tier; a tier number with no endpoints has `total` 0. */
export interface TierCount {
  readonly healthy: number;
  readonly total: number;
}

/** What {@link tierLoads} decides: per tier its share of traffic and whether it is in panic. */
export interface TierLoads {
  /** Fraction of traffic (0..1) each tier takes; sums to 1 when any tier has an endpoint, all 0 otherwise. */
  loads: number[];
  /** True for a tier whose healthy percentage is below the panic threshold: it then uses all its endpoints, ignoring health. */
  panic: boolean[];
}

/**
 * Splits a service's traffic across its priority tiers, indexed by tier
 * number (`tiers[i]` is tier `i`; numbers with no endpoints have `total` 0
 * and take no load).
 *
 * `spill` is Envoy's priority load: each tier's health is
 * `min(1, overprovisioningFactor × healthy / total)`, tier 0 takes its
 * health, tier 1 takes its own health capped by what is left, and so on.
 * The overprovisioning factor is why a tier with 8 of 10 endpoints healthy
 * still takes all traffic: the healthy ones are assumed to have headroom. When
 * the tiers' health sums to less than 1, each share is divided by that sum
 * (Envoy normalises by total health), so the healthy capacity that exists
 * takes all traffic in proportion; when nothing is healthy at all, everything
 * goes to the lowest tier with endpoints, which is then in panic.
 *
 * `active-standby` sends everything to the lowest tier with at least one
 * healthy endpoint: the backup takes over only when the primary has none, and
 * traffic returns as soon as the primary has a healthy endpoint again. Hold
 * times against flapping (failback only after the primary has stayed healthy
 * a while) are the control plane's job: it decides what it reports healthy.
 *
 * Panic (Envoy semantics) is independent of the mode: a tier below
 * `panicThresholdPercent` healthy (with the threshold above 0) stops trusting
 * health and spreads its share over all its endpoints, rather than crushing
 * the few it believes are healthy.
 */
export function tierLoads(tiers: ReadonlyArray<TierCount>, policy: TierPolicy): TierLoads {
  const n = tiers.length;
  const loads = new Array<number>(n).fill(0);
  const threshold = policy.panicThresholdPercent;
  const panic = tiers.map((t) => threshold > 0 && t.total > 0 && (healthyOf(t) * 100) / t.total < threshold);

  const first = tiers.findIndex((t) => t.total > 0);
  if (first < 0) return { loads, panic };

  if (policy.mode === 'active-standby') {
    const active = tiers.findIndex((t) => t.total > 0 && healthyOf(t) > 0);
    loads[active >= 0 ? active : first] = 1;
    return { loads, panic };
  }

  const health = tiers.map((t) =>
    t.total > 0 ? Math.min(1, (policy.overprovisioningFactor * healthyOf(t)) / t.total) : 0,
  );
  let sum = 0;
  for (const h of health) sum += h;
  if (sum === 0) {
    loads[first] = 1;
    return { loads, panic };
  }
  const norm = Math.min(1, sum);
  let remaining = 1;
  for (let i = 0; i < n && remaining > 0; i++) {
    const load = Math.min(remaining, (health[i] as number) / norm);
    loads[i] = load;
    remaining -= load;
  }
  return { loads, panic };
}

/** Healthy count clamped to 0..total, so that a miscounted caller cannot produce a share above 1. */
function healthyOf(t: TierCount): number {
  return Math.max(0, Math.min(t.healthy, t.total));
}
