import type { Endpoint, Routes } from '@meshlet/shared';
import type { Balancer } from '../balancer/balancer.js';
import { RoundRobinBalancer } from '../balancer/round-robin.js';

/** Where the table in force came from. */
export type TableSource = 'control-plane' | 'disk';

/** One service as the data path sees it. */
export interface ServiceEntry {
  readonly name: string;
  readonly endpoints: readonly Endpoint[];
  readonly balancer: Balancer;
}

/**
 * An immutable routing table with a balancer per service. A new table
 * replaces the old one whole, so a request sees one consistent version.
 */
export class RouteTable {
  readonly version: number;
  readonly nonce: string;
  readonly source: TableSource;
  readonly receivedAt: number;
  readonly routes: Routes;
  readonly #services: Map<string, ServiceEntry>;

  constructor(routes: Routes, source: TableSource, receivedAt: number, random: () => number) {
    this.version = routes.version;
    this.nonce = routes.nonce;
    this.source = source;
    this.receivedAt = receivedAt;
    this.routes = routes;
    this.#services = new Map();
    for (const [name, s] of Object.entries(routes.services)) {
      const start = Math.floor(random() * Math.max(1, s.endpoints.length));
      this.#services.set(name, { name, endpoints: s.endpoints, balancer: new RoundRobinBalancer(s.endpoints, start) });
    }
  }

  /** The service, or `undefined` when the table does not know it. */
  service(name: string): ServiceEntry | undefined {
    return this.#services.get(name);
  }

  /** Names of all services in the table. */
  serviceNames(): string[] {
    return [...this.#services.keys()].sort();
  }

  /** Every `host:port` the table routes to. */
  origins(): Set<string> {
    const out = new Set<string>();
    for (const s of this.#services.values()) for (const e of s.endpoints) out.add(`${e.host}:${e.port}`);
    return out;
  }
}
