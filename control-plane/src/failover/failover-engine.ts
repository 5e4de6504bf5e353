import type { DecisionSink } from '../events/event-log.js';

/** Healthy and total endpoints of one tier. */
export interface TierCount {
  tier: number;
  healthy: number;
  total: number;
}

interface ServiceState {
  active: number;
  /** Set by a manual failover: stay on `active` until a manual failback (or until it has no healthy endpoint). */
  pinned: boolean;
  /** Since when a tier below `active` has had a healthy endpoint (the failback hold runs from here). */
  lowerHealthySince: number | undefined;
  tiers: TierCount[];
}

/** A service's serving tier, for the admin API. */
export interface FailoverView {
  service: string;
  activeTier: number;
  pinned: boolean;
  /** When an automatic failback is due, if one is pending. */
  failbackAt: number | undefined;
  tiers: TierCount[];
}

/** The outcome of a manual action. */
export type ManualResult = { ok: true; activeTier: number } | { ok: false; error: string };

function lowestHealthy(tiers: readonly TierCount[], above = -1): number | undefined {
  for (const t of tiers) if (t.tier > above && t.healthy > 0) return t.tier;
  return undefined;
}

/**
 * Decides which tier serves each multi-tier service. Agents already spill
 * over to a backup tier on their own the moment the primary has no healthy
 * endpoint; this engine makes the decision explicit, shared and sticky:
 *
 * - takeover: when the serving tier has no healthy endpoint, the lowest tier
 *   that has one serves, at once;
 * - failback: a lower tier serves again only after it has had a healthy
 *   endpoint for `failbackHoldMs` without a break, so that a primary that
 *   comes back and falls over again does not drag traffic with it;
 * - manual failover moves to the next tier with a healthy endpoint and pins
 *   it there; manual failback returns to the lowest healthy tier at once.
 *
 * The serving tier travels in the table as `activeTier`. Every change is an
 * event with its reason and evidence.
 */
export class FailoverEngine {
  readonly #holdMs: number;
  readonly #clock: () => number;
  readonly #events: DecisionSink;
  readonly #onChange: () => void;
  readonly #services = new Map<string, ServiceState>();

  constructor(options: { failbackHoldMs: number; clock: () => number; events: DecisionSink; onChange: () => void }) {
    this.#holdMs = options.failbackHoldMs;
    this.#clock = options.clock;
    this.#events = options.events;
    this.#onChange = options.onChange;
  }

  /**
   * Takes the service's current tier counts and returns the tier that serves.
   * Called for every multi-tier service each time a table is built.
   */
  evaluate(service: string, tiers: readonly TierCount[]): number {
    const now = this.#clock();
    const sorted = [...tiers].sort((a, b) => a.tier - b.tier);
    let s = this.#services.get(service);
    if (!s) {
      const active = lowestHealthy(sorted) ?? sorted[0]?.tier ?? 0;
      s = { active, pinned: false, lowerHealthySince: undefined, tiers: sorted };
      this.#services.set(service, s);
      return active;
    }
    s.tiers = sorted;
    this.#decide(service, s, now);
    return s.active;
  }

  /** Re-decides pending failbacks whose hold has run out; tells the owner when a tier changed. */
  tick(): void {
    const now = this.#clock();
    let changed = false;
    for (const [service, s] of this.#services)
      if (s.lowerHealthySince !== undefined && this.#decide(service, s, now)) changed = true;
    if (changed) this.#onChange();
  }

  /**
   * Sets a service's serving tier, decided elsewhere: no event, no
   * `onChange`; later decisions go on from it instead of deciding afresh. A
   * pending failback hold restarts; a manual pin ends if the tier changes.
   */
  setActive(service: string, tiers: readonly TierCount[], active: number): void {
    const sorted = [...tiers].sort((a, b) => a.tier - b.tier);
    const s = this.#services.get(service);
    if (s) {
      if (s.active !== active) s.pinned = false;
      s.active = active;
      s.tiers = sorted;
      s.lowerHealthySince = undefined;
    } else {
      this.#services.set(service, { active, pinned: false, lowerHealthySince: undefined, tiers: sorted });
    }
  }

  /** Forgets services that no longer have several tiers. */
  retain(services: ReadonlySet<string>): void {
    for (const name of this.#services.keys()) if (!services.has(name)) this.#services.delete(name);
  }

  /** The serving tier of a service, if it has several tiers. */
  activeTier(service: string): number | undefined {
    return this.#services.get(service)?.active;
  }

  /** Moves a service to the next tier that has a healthy endpoint, and keeps it there until {@link failback}. */
  failover(service: string, reason = 'manual failover'): ManualResult {
    const s = this.#services.get(service);
    if (!s) return { ok: false, error: `service "${service}" has no backup tier` };
    const next = lowestHealthy(s.tiers, s.active);
    if (next === undefined)
      return { ok: false, error: `service "${service}" has no healthy endpoint in a tier above ${s.active}` };
    this.#move(service, s, next, reason, { manual: true });
    s.pinned = true;
    this.#onChange();
    return { ok: true, activeTier: next };
  }

  /** Returns a service to its lowest healthy tier at once, skipping the hold, and ends a manual pin. */
  failback(service: string, reason = 'manual failback'): ManualResult {
    const s = this.#services.get(service);
    if (!s) return { ok: false, error: `service "${service}" has no backup tier` };
    const lowest = lowestHealthy(s.tiers);
    if (lowest === undefined) return { ok: false, error: `service "${service}" has no healthy endpoint in any tier` };
    s.pinned = false;
    if (lowest !== s.active) {
      this.#move(service, s, lowest, reason, { manual: true });
      this.#onChange();
    }
    return { ok: true, activeTier: lowest };
  }

  /** Every multi-tier service's serving tier. */
  list(): FailoverView[] {
    return [...this.#services].map(([service, s]) => ({
      service,
      activeTier: s.active,
      pinned: s.pinned,
      failbackAt: s.lowerHealthySince === undefined ? undefined : s.lowerHealthySince + this.#holdMs,
      tiers: s.tiers,
    }));
  }

  /** Returns true when the serving tier changed. */
  #decide(service: string, s: ServiceState, now: number): boolean {
    const activeHealthy = s.tiers.find((t) => t.tier === s.active)?.healthy ?? 0;
    const lowest = lowestHealthy(s.tiers);
    if (lowest === undefined) {
      s.lowerHealthySince = undefined;
      return false;
    }
    if (activeHealthy === 0) {
      const reason =
        lowest < s.active
          ? `tier ${s.active} has no healthy endpoint; tier ${lowest} serves again before its hold ran out`
          : `tier ${s.active} has no healthy endpoint; tier ${lowest} takes over`;
      s.pinned = false;
      this.#move(service, s, lowest, reason, {});
      return true;
    }
    if (lowest >= s.active || s.pinned) {
      s.lowerHealthySince = undefined;
      return false;
    }
    s.lowerHealthySince ??= now;
    if (now - s.lowerHealthySince < this.#holdMs) return false;
    this.#move(
      service,
      s,
      lowest,
      `tier ${lowest} has been healthy for ${now - s.lowerHealthySince} ms (hold ${this.#holdMs} ms)`,
      {},
    );
    return true;
  }

  #move(service: string, s: ServiceState, to: number, reason: string, extra: Record<string, unknown>): void {
    const from = s.active;
    s.active = to;
    s.lowerHealthySince = undefined;
    this.#events.add({
      kind: 'failover',
      service,
      from: `tier-${from}`,
      to: `tier-${to}`,
      reason,
      evidence: { ...extra, tiers: s.tiers.map((t) => ({ ...t })) },
    });
  }
}
