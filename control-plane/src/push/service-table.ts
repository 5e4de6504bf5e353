import type { Routes, ServiceRoutes, TrustBundle } from '@meshlet/shared';
import type { SerialisedService } from './table-message.js';

/** One service of the table, serialised once per change. */
export interface ServiceEntry extends SerialisedService {
  /** Other services its routes split traffic to: an agent that calls it gets them too. */
  targets: string[];
  /** Version at which it last changed. */
  changedAt: number;
}

/** How a freshly built set of services differs from the table held. */
export interface TableDiff {
  /** Each built service's JSON text. */
  texts: Map<string, string>;
  /** Services whose routes changed or that are new. */
  changed: number;
  /** Whether a service held is missing from the built ones. */
  removedAny: boolean;
}

/** Services named by a service's route splits. */
function splitTargets(routes: ServiceRoutes): string[] {
  const out = new Set<string>();
  for (const r of routes.policy?.routes ?? [])
    for (const s of r.splits ?? []) if (s.service !== undefined) out.add(s.service);
  return [...out];
}

/**
 * The newest routing table: its version and nonce, and every service with
 * the version at which it last changed, so that a delta on any older
 * version holds just the services that changed since.
 */
export class ServiceTable {
  readonly #services = new Map<string, ServiceEntry>();
  #version: number;
  #nonce = '';
  #built = false;
  #trust: { bundle: TrustBundle; text: string } | undefined;

  /** `version`: the last one made before (kept in the store), 0 for none. */
  constructor(version: number) {
    this.#version = version;
  }

  /** The version of the newest table, 0 before the first. */
  get version(): number {
    return this.#version;
  }

  /** The nonce of the newest table ('' before the first). */
  get nonce(): string {
    return this.#nonce;
  }

  /** Whether a table was made or taken in yet. */
  get built(): boolean {
    return this.#built;
  }

  /** The trust bundle the table carries, if any. */
  get trust(): TrustBundle | undefined {
    return this.#trust?.bundle;
  }

  /** Whether `trust` differs from the bundle the table carries. */
  trustDiffers(trust: TrustBundle | undefined): boolean {
    return (trust === undefined ? undefined : JSON.stringify(trust)) !== this.#trust?.text;
  }

  /** How many services the table holds. */
  get size(): number {
    return this.#services.size;
  }

  /** The table with every service, if there is one. */
  current(): Routes | undefined {
    if (!this.#built) return undefined;
    const services: Record<string, ServiceRoutes> = {};
    for (const [name, e] of this.#services) services[name] = e.routes;
    const table: Routes = { type: 'routes', version: this.#version, nonce: this.#nonce, services };
    if (this.#trust !== undefined) table.trust = this.#trust.bundle;
    return table;
  }

  /** A service of the table. */
  entry(name: string): ServiceEntry | undefined {
    return this.#services.get(name);
  }

  /** Moves the counter up to `version` (agents hold a higher one than the store kept); the next table is above it. */
  lift(version: number): void {
    this.#version = version;
  }

  /** The services an agent gets: those it subscribed to (`all`: every one), and those their routes split traffic to. */
  wanted(subscriptions: ReadonlySet<string> | 'all'): string[] {
    if (subscriptions === 'all') return [...this.#services.keys()].sort();
    const out = new Set<string>();
    const queue = [...subscriptions];
    while (queue.length > 0) {
      const name = queue.pop() as string;
      const entry = this.#services.get(name);
      if (!entry || out.has(name)) continue;
      out.add(name);
      queue.push(...entry.targets);
    }
    return [...out].sort();
  }

  /** How `built` differs from the services held. */
  diff(built: Record<string, ServiceRoutes>): TableDiff {
    const texts = new Map<string, string>();
    let changed = 0;
    for (const [name, routes] of Object.entries(built)) {
      const text = JSON.stringify(routes);
      texts.set(name, text);
      if (this.#services.get(name)?.text !== text) changed++;
    }
    let removedAny = false;
    for (const name of this.#services.keys()) if (!texts.has(name)) removedAny = true;
    return { texts, changed, removedAny };
  }

  /** Makes the next version from `built` (with the texts its {@link diff} gave) and `trust` under a new nonce. */
  commit(
    built: Record<string, ServiceRoutes>,
    texts: ReadonlyMap<string, string>,
    nonce: string,
    trust?: TrustBundle,
  ): void {
    this.#setTrust(trust);
    this.#built = true;
    this.#version += 1;
    this.#nonce = nonce;
    for (const [name, routes] of Object.entries(built)) {
      const text = texts.get(name) as string;
      const old = this.#services.get(name);
      if (old?.text !== text)
        this.#services.set(name, { routes, text, targets: splitTargets(routes), changedAt: this.#version });
    }
    for (const name of [...this.#services.keys()]) if (!texts.has(name)) this.#services.delete(name);
  }

  /**
   * Takes in a table made elsewhere, with its version and nonce; returns
   * whether a service held changed or left (a change that counts for
   * convergence, not just a new service).
   */
  replace(table: Pick<Routes, 'version' | 'nonce' | 'services' | 'trust'>): boolean {
    this.#setTrust(table.trust);
    let tracked = false;
    for (const [name, routes] of Object.entries(table.services)) {
      const text = JSON.stringify(routes);
      const old = this.#services.get(name);
      if (old?.text === text) continue;
      if (old) tracked = true;
      this.#services.set(name, { routes, text, targets: splitTargets(routes), changedAt: table.version });
    }
    for (const name of [...this.#services.keys()]) {
      if (table.services[name] === undefined) {
        this.#services.delete(name);
        tracked = true;
      }
    }
    this.#built = true;
    this.#version = table.version;
    this.#nonce = table.nonce;
    return tracked;
  }

  #setTrust(trust: TrustBundle | undefined): void {
    this.#trust = trust === undefined ? undefined : { bundle: trust, text: JSON.stringify(trust) };
  }
}
