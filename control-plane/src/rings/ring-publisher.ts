import { type BalancerPolicy, membershipChecksum, type RingMembership, type ServiceRoutes } from '@meshlet/shared';

/** Whether a balancer kind builds a consistent-hash table from published members. */
export function isHashBalanced(policy: BalancerPolicy): boolean {
  return policy.kind === 'ring_hash' || policy.kind === 'maglev';
}

/** The checksum of the table every agent should build from `ring` under `policy`. */
export function expectedChecksum(policy: BalancerPolicy, ring: RingMembership): string {
  return membershipChecksum(policy, ring.members);
}

/** What of the balancer policy shapes the table agents build: a change republishes the ring. */
const policyKeyOf = (policy: BalancerPolicy) => `${policy.kind}|${policy.ringMinSize}|${policy.maglevTableSize}`;

interface Published {
  key: string;
  ring: RingMembership;
  /** Computed on the first ACK that needs it. */
  checksum: string | undefined;
  policyKey: string;
}

/** A service's ring as the admin API shows it. */
export interface RingView {
  service: string;
  kind: string;
  version: number;
  members: RingMembership['members'];
  checksum: string;
}

/**
 * Publishes the ring membership of hash-balanced services: the healthy
 * members of the serving tier, with their weights, under a version that
 * grows whenever the membership changes (the table version at which it
 * changed, so it grows across restarts too). Agents build their ring or
 * Maglev table from it and report the table's checksum; the expected
 * checksum is computed here, once per version, to compare.
 */
export class RingPublisher {
  readonly #published = new Map<string, Published>();

  /**
   * Sets `routes.ring` for a hash-balanced service. `nextVersion` is the
   * version the table will get if anything in it changed.
   */
  attach(service: string, routes: ServiceRoutes, activeTier: number | undefined, nextVersion: number): void {
    const policy = routes.policy?.balancer;
    if (!policy || !isHashBalanced(policy)) {
      this.#published.delete(service);
      return;
    }
    let tier = activeTier;
    const healthy = routes.endpoints.filter((e) => e.health === undefined || e.health === 'healthy');
    if (tier === undefined || !healthy.some((e) => e.tier === tier))
      tier = healthy.reduce((m, e) => Math.min(m, e.tier), Number.POSITIVE_INFINITY);
    const members = healthy
      .filter((e) => e.tier === tier)
      .map((e) => ({ id: e.id, weight: e.weight }))
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    if (members.length === 0) {
      this.#published.delete(service);
      return;
    }
    const key = JSON.stringify(members);
    const policyKey = policyKeyOf(policy);
    let p = this.#published.get(service);
    if (!p || p.key !== key || p.policyKey !== policyKey) {
      p = { key, policyKey, ring: { version: nextVersion, members }, checksum: undefined };
      this.#published.set(service, p);
    }
    routes.ring = p.ring;
  }

  /**
   * Sets a service's ring from routes published elsewhere (a table that
   * carries its ring): ACKs are checked against it, and {@link attach} keeps
   * its version while the membership stays the same. Routes that are not
   * hash-balanced, or carry no ring, drop it.
   */
  setRing(service: string, routes: ServiceRoutes): void {
    const policy = routes.policy?.balancer;
    if (!policy || !isHashBalanced(policy) || !routes.ring) {
      this.#published.delete(service);
      return;
    }
    const policyKey = policyKeyOf(policy);
    const key = JSON.stringify(routes.ring.members);
    const p = this.#published.get(service);
    if (p && p.key === key && p.policyKey === policyKey && p.ring.version === routes.ring.version) return;
    this.#published.set(service, { key, policyKey, ring: routes.ring, checksum: undefined });
  }

  /** Drops services that left the table. */
  retain(services: ReadonlySet<string>): void {
    for (const name of this.#published.keys()) if (!services.has(name)) this.#published.delete(name);
  }

  /**
   * Whether an agent's reported ring agrees: `undefined` when the report is
   * about another version than the one published (the agent is behind or
   * ahead; its table version tells which).
   */
  agrees(
    service: string,
    policy: BalancerPolicy,
    reported: { version: number; checksum: string },
  ): boolean | undefined {
    const p = this.#published.get(service);
    if (!p || p.ring.version !== reported.version) return undefined;
    p.checksum ??= expectedChecksum(policy, p.ring);
    return p.checksum === reported.checksum;
  }

  /** The published rings, with their expected checksums. */
  list(policies: (service: string) => BalancerPolicy | undefined): RingView[] {
    const out: RingView[] = [];
    for (const [service, p] of this.#published) {
      const policy = policies(service);
      if (!policy) continue;
      p.checksum ??= expectedChecksum(policy, p.ring);
      out.push({ service, kind: policy.kind, version: p.ring.version, members: p.ring.members, checksum: p.checksum });
    }
    return out.sort((a, b) => a.service.localeCompare(b.service));
  }
}
