import type { Endpoint, TierPolicy } from '@meshlet/shared';
import type { Balancer, PickContext } from './balancer.js';
import { hasExclusions } from './candidates.js';
import { type EndpointSelection, withExclusions } from './endpoint-selection.js';
import { tierLoads } from './tier-load.js';

/** Options of a {@link ServiceLoadBalancer}. */
export interface ServiceLoadBalancerOptions {
  /** All endpoints of the service (or of a subset), with their health. */
  endpoints: readonly Endpoint[];
  policy: TierPolicy;
  /** The caller's zone; `undefined` turns zone preference off. */
  zone: string | undefined;
  /** Uniform in [0, 1); chooses the tier. */
  random: () => number;
  /** Builds a balancer over a fixed endpoint list (the service's balancer kind). Never called with an empty list. */
  makeBalancer: (endpoints: readonly Endpoint[]) => Balancer;
  /**
   * The tier the control plane chose to serve (`ServiceRoutes.activeTier`):
   * lower tiers get nothing while a tier at or above it has a healthy
   * endpoint. Absent: every tier takes part.
   */
  activeTier?: number | undefined;
  /** Ids ejected by outlier detection from the start (see {@link ServiceLoadBalancer.setEjected}). */
  ejected?: ReadonlySet<string> | undefined;
}

/** One tier as {@link ServiceLoadBalancer.describe} reports it. */
export interface TierDescription {
  tier: number;
  healthy: number;
  total: number;
  /** Share of traffic, 0..1. */
  load: number;
  panic: boolean;
  /** Present (true) on a tier below the active tier, left out while a tier at or above it has a healthy endpoint. */
  inactive?: true;
}

/** Per tier: counts, load, and the balancers over its candidate sets, built once per health change. */
interface TierState {
  readonly tier: number;
  readonly healthy: number;
  readonly total: number;
  readonly load: number;
  readonly panic: boolean;
  /** Balancer over the preferred set: healthy local-zone endpoints, else all healthy ones, or all of them in panic. */
  readonly preferred: Balancer | undefined;
  /** Balancer over all healthy endpoints of the tier when `preferred` is the local zone only; else undefined. */
  readonly wide: Balancer | undefined;
}

/**
 * One service's endpoint selection in front of a plain balancer: priority
 * tiers with spill-over or active-standby ({@link tierLoads}), panic, zone
 * preference, and outlier ejections, as Envoy layers them.
 *
 * A pick draws one random number (or, for a request with a hash, uses its
 * hash) to choose a tier by its load share, then delegates to the balancer
 * built for that tier's candidate set. The candidate set of a tier is, in
 * this order of precedence:
 * - in panic: all its endpoints, healthy or not (Envoy also skips zone
 *   routing in panic, since the health it would be based on is distrusted);
 * - with a caller zone and at least `zoneMinHealthyPercent` of the tier's
 *   local-zone endpoints healthy (and at least one): the healthy local ones;
 * - otherwise: all its healthy endpoints.
 *
 * 'unhealthy' and 'draining' endpoints, and those ejected by outlier
 * detection, count as not healthy.
 *
 * With `activeTier` (the control plane's failover decision), tiers below it
 * are left out entirely, for the first draw and for retries alike, as long
 * as some tier at or above it has a healthy endpoint; otherwise the option
 * is ignored and every tier takes part.
 *
 * When the chosen set yields nothing because `ctx.exclude` holds all of it
 * (a retry after every candidate was tried), the pick widens: first to the
 * whole healthy tier when the set was the local zone, then to the other
 * tiers in order, so that a retry can spill to the backup tier.
 *
 * The sets and their balancers are built in the constructor and in
 * {@link ServiceLoadBalancer.setEjected}, never per pick: a pick allocates
 * nothing on its common path.
 */
export class ServiceLoadBalancer implements EndpointSelection {
  /** Number of endpoints, healthy or not. */
  readonly size: number;
  readonly #endpoints: readonly Endpoint[];
  readonly #policy: TierPolicy;
  readonly #zone: string | undefined;
  readonly #random: () => number;
  readonly #makeBalancer: (endpoints: readonly Endpoint[]) => Balancer;
  readonly #activeTier: number | undefined;
  /** Ejected ids among this service's endpoints (a private copy). */
  #ejected: ReadonlySet<string> = new Set();
  /** Ids ejected since the sets were built, skipped by every pick until {@link setEjected} builds them in. */
  #held: ReadonlySet<string> | undefined;
  /** Tiers that have endpoints and take part (see `activeTier`), by ascending tier number. */
  #tiers: TierState[] = [];
  /** Tiers with endpoints left out by `activeTier`, for {@link ServiceLoadBalancer.describe} only. */
  #inactive: TierDescription[] = [];
  /** Tiers with a load share, and the cumulative share up to each, for the tier draw. */
  #loaded: TierState[] = [];
  #cumulative: number[] = [];

  constructor(options: ServiceLoadBalancerOptions) {
    this.#endpoints = options.endpoints;
    this.size = options.endpoints.length;
    this.#policy = options.policy;
    this.#zone = options.zone;
    this.#random = options.random;
    this.#makeBalancer = options.makeBalancer;
    this.#activeTier = options.activeTier;
    if (options.ejected !== undefined) this.#ejected = this.#relevant(options.ejected);
    this.#build();
  }

  /** All endpoints, healthy or not. */
  get endpoints(): readonly Endpoint[] {
    return this.#endpoints;
  }

  /** Sets the ids locally ejected by outlier detection (treated as unhealthy) and rebuilds the per-tier sets if they changed. */
  setEjected(ids: ReadonlySet<string>): void {
    this.#held = undefined;
    const relevant = this.#relevant(ids);
    if (sameSet(this.#ejected, relevant)) return;
    this.#ejected = relevant;
    this.#build();
  }

  /**
   * Ejections to apply later (their sets' hash tables are being built): from
   * now until {@link setEjected}, every pick skips them on the balancers in
   * place, a hash balancer walking on to the next member of its table, as
   * for a retry. Returns the ids held (those of this service), or
   * `undefined` when they are the ones already built in (nothing to rebuild).
   */
  hold(ids: ReadonlySet<string>): ReadonlySet<string> | undefined {
    const relevant = this.#relevant(ids);
    this.#held = sameSet(this.#ejected, relevant) ? undefined : relevant;
    return this.#held;
  }

  /** The ids {@link hold} holds, until they are built in. */
  get held(): ReadonlySet<string> | undefined {
    return this.#held;
  }

  /**
   * Chooses an endpoint for one attempt, or `undefined` when every candidate
   * of every tier is excluded (or the service has no usable endpoint). `ctx`
   * is passed unchanged to the tier's balancer.
   */
  pick(ctx?: PickContext): Endpoint | undefined {
    const held = this.#held;
    if (held === undefined || held.size === 0) return this.#pick(ctx);
    // Should the held ejections leave a first attempt nothing, the sets in place answer: the rebuilt ones would be in
    // panic and route to the ejected endpoints all the same.
    const e = this.#pick(withExclusions(ctx, held));
    return e !== undefined || hasExclusions(ctx?.exclude) ? e : this.#pick(ctx);
  }

  #pick(ctx: PickContext | undefined): Endpoint | undefined {
    const loaded = this.#loaded;
    if (loaded.length === 0) return undefined;
    let chosen = loaded[0] as TierState;
    if (loaded.length > 1) {
      const r = ctx?.hash !== undefined ? hashDraw(ctx.hash) : this.#random();
      // The last loaded tier also catches r at or above a cumulative sum that rounding left just below 1.
      chosen = loaded[loaded.length - 1] as TierState;
      for (let i = 0; i < loaded.length - 1; i++) {
        if (r < (this.#cumulative[i] as number)) {
          chosen = loaded[i] as TierState;
          break;
        }
      }
    }
    const picked = pickIn(chosen, ctx);
    if (picked !== undefined) return picked;
    // Everything the chosen tier offers was excluded: spill to the other tiers, lowest first.
    for (const t of this.#tiers) {
      if (t === chosen) continue;
      const e = pickIn(t, ctx);
      if (e !== undefined) return e;
    }
    return undefined;
  }

  /** Per tier that has endpoints: healthy and total counts, load share and panic flag (for /config and metrics). */
  describe(): TierDescription[] {
    const used = this.#tiers.map((t): TierDescription => ({
      tier: t.tier,
      healthy: t.healthy,
      total: t.total,
      load: t.load,
      panic: t.panic,
    }));
    return [...this.#inactive, ...used].sort((a, b) => a.tier - b.tier);
  }

  /** A copy of the ids that concern this service: the caller may mutate and pass the same set again. */
  #relevant(ids: ReadonlySet<string>): Set<string> {
    const relevant = new Set<string>();
    for (const e of this.#endpoints) if (ids.has(e.id)) relevant.add(e.id);
    return relevant;
  }

  #build(): void {
    const byTier: Endpoint[][] = [];
    for (const e of this.#endpoints) (byTier[e.tier] ??= []).push(e);
    const isHealthy = (e: Endpoint) => (e.health === undefined || e.health === 'healthy') && !this.#ejected.has(e.id);

    const members: Endpoint[][] = [];
    const healthyMembers: Endpoint[][] = [];
    for (let i = 0; i < byTier.length; i++) {
      const all = byTier[i] ?? [];
      members.push(all);
      healthyMembers.push(all.filter(isHealthy));
    }
    const lowest = this.#lowestTier(healthyMembers);
    const { loads, panic } = tierLoads(
      members.map((all, i) =>
        i < lowest
          ? { healthy: 0, total: 0 }
          : { healthy: (healthyMembers[i] as Endpoint[]).length, total: all.length },
      ),
      this.#policy,
    );

    const tiers: TierState[] = [];
    const inactive: TierDescription[] = [];
    for (let i = 0; i < members.length; i++) {
      const all = members[i] as Endpoint[];
      if (all.length === 0) continue;
      const healthy = healthyMembers[i] as Endpoint[];
      if (i < lowest) {
        inactive.push({ tier: i, healthy: healthy.length, total: all.length, load: 0, panic: false, inactive: true });
        continue;
      }
      const inPanic = panic[i] === true;
      let preferred: readonly Endpoint[] = healthy;
      let wide: readonly Endpoint[] = [];
      if (inPanic) {
        preferred = all;
      } else {
        const local = this.#localSet(all, healthy);
        if (local !== undefined && local.length < healthy.length) {
          preferred = local;
          wide = healthy;
        }
      }
      tiers.push({
        tier: i,
        healthy: healthy.length,
        total: all.length,
        load: loads[i] ?? 0,
        panic: inPanic,
        preferred: this.#balancerOver(preferred),
        wide: this.#balancerOver(wide),
      });
    }

    this.#tiers = tiers;
    this.#inactive = inactive;
    this.#loaded = tiers.filter((t) => t.load > 0);
    let sum = 0;
    this.#cumulative = this.#loaded.map((t) => (sum += t.load));
  }

  /**
   * The lowest tier that takes part: `activeTier` while some tier at or above
   * it has a healthy endpoint, else 0. The fallback is for safety: the
   * control plane may have chosen the tier before its endpoints failed (or
   * before this caller ejected them), and serving from the healthy lower
   * tiers beats refusing while the next table is on its way.
   */
  #lowestTier(healthyMembers: readonly Endpoint[][]): number {
    const active = this.#activeTier;
    if (active === undefined || active <= 0) return 0;
    for (let i = active; i < healthyMembers.length; i++)
      if ((healthyMembers[i] as Endpoint[]).length > 0) return active;
    return 0;
  }

  /** The healthy local-zone endpoints of a tier when zone preference applies to it, else undefined. */
  #localSet(all: readonly Endpoint[], healthy: readonly Endpoint[]): Endpoint[] | undefined {
    const minPercent = this.#policy.zoneMinHealthyPercent;
    const zone = this.#zone;
    if (zone === undefined || minPercent <= 0) return undefined;
    let localTotal = 0;
    for (const e of all) if (e.zone === zone) localTotal++;
    const localHealthy = healthy.filter((e) => e.zone === zone);
    if (localHealthy.length === 0 || localHealthy.length * 100 < minPercent * localTotal) return undefined;
    return localHealthy;
  }

  #balancerOver(endpoints: readonly Endpoint[]): Balancer | undefined {
    return endpoints.length > 0 ? this.#makeBalancer(endpoints) : undefined;
  }
}

/** Modulus of {@link hashDraw}: a prime, so that the draw is not correlated with where the tier's hash balancer places the key. */
const HASH_DRAW_MODULUS = 65_521;

/**
 * A request hash mapped to [0, 1) for the tier draw. Like Envoy, a hash
 * balancer's request chooses its tier by its hash rather than at random, so
 * that a key keeps going to the same tier (and so the same endpoint) while
 * the load is split across tiers.
 */
function hashDraw(hash: number): number {
  const m = Math.trunc(hash) % HASH_DRAW_MODULUS;
  return (m < 0 ? m + HASH_DRAW_MODULUS : m) / HASH_DRAW_MODULUS;
}

function pickIn(t: TierState, ctx: PickContext | undefined): Endpoint | undefined {
  return t.preferred?.pick(ctx) ?? t.wide?.pick(ctx);
}

function sameSet(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  if (a.size !== b.size) return false;
  for (const id of a) if (!b.has(id)) return false;
  return true;
}
