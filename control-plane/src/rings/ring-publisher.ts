import { setImmediate as turn } from 'node:timers/promises';
import {
  type BalancerPolicy,
  buildsInSlices,
  membershipChecksum,
  membershipChecksumSteps,
  type RingMembership,
  type ServiceRoutes,
} from '@meshlet/shared';

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
  /** A small table's: computed on the first ACK that needs it. A large one's: computed in slices from publication. */
  checksum: string | undefined;
  policyKey: string;
}

/** Told of a large ring's expected checksum once computed (ACKs that came before it were answered `undefined`). */
export type ChecksumListener = (service: string, version: number, checksum: string) => void;

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
  readonly #computing = new Set<Promise<void>>();
  #listener: ChecksumListener | undefined;

  /** Calls `listener` with each large ring's expected checksum once computed (see {@link agrees}). */
  onChecksum(listener: ChecksumListener): void {
    this.#listener = listener;
  }

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
      this.#publish(service, p, policy);
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
    this.#publish(service, { key, policyKey, ring: routes.ring, checksum: undefined }, policy);
  }

  /** Resolves once no expected checksum is being computed (for tests, and {@link list}). */
  async settled(): Promise<void> {
    while (this.#computing.size > 0) await Promise.all([...this.#computing]);
  }

  /**
   * Publishes `p`; a large table's expected checksum starts computing at
   * once, in the slices of its build with a turn of the event loop between
   * them (a 655373-slot Maglev table blocked the control plane tens of ms on
   * the ACK path). Agents build the same table before they ACK, so it is
   * usually ready by their first ACK.
   */
  #publish(service: string, p: Published, policy: BalancerPolicy): void {
    this.#published.set(service, p);
    if (!buildsInSlices(policy)) return;
    const computing = (async () => {
      const steps = membershipChecksumSteps(policy, p.ring.members);
      for (let r = steps.next(); ; r = steps.next()) {
        if (r.done === true) {
          p.checksum = r.value;
          break;
        }
        await turn();
        // Replaced meanwhile: the newer ring computes its own.
        if (this.#published.get(service) !== p) return;
      }
      this.#listener?.(service, p.ring.version, p.checksum);
    })()
      // A table that cannot be built (more members than a ring holds) has no checksum to expect: its ACKs stay unknown.
      .catch(() => undefined)
      .finally(() => this.#computing.delete(computing));
    this.#computing.add(computing);
  }

  /** Drops services that left the table. */
  retain(services: ReadonlySet<string>): void {
    for (const name of this.#published.keys()) if (!services.has(name)) this.#published.delete(name);
  }

  /**
   * Whether an agent's reported ring agrees: `undefined` when the report is
   * about another version than the one published (the agent is behind or
   * ahead; its table version tells which), or when a large table's expected
   * checksum is still being computed (the {@link onChecksum} listener is
   * told when it is).
   */
  agrees(
    service: string,
    policy: BalancerPolicy,
    reported: { version: number; checksum: string },
  ): boolean | undefined {
    const p = this.#published.get(service);
    if (!p || p.ring.version !== reported.version) return undefined;
    if (p.checksum === undefined && buildsInSlices(policy)) return undefined;
    p.checksum ??= expectedChecksum(policy, p.ring);
    return p.checksum === reported.checksum;
  }

  /** The published rings, with their expected checksums (waiting, without blocking, for those being computed). */
  async list(policies: (service: string) => BalancerPolicy | undefined): Promise<RingView[]> {
    await this.settled();
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
