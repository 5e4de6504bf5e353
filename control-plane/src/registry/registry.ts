import type { Endpoint, EndpointHealth, Hello, ServiceRoutes } from '@meshlet/shared';
import { type AgentRecord, instanceState } from './agent-record.js';

/**
 * Health from the agent's own signals only (connection and local check),
 * for when no health engine decides: instances not reported yet and clean
 * shutdowns are left out, the rest are healthy or unhealthy.
 */
export function ownHealth(r: AgentRecord): EndpointHealth | 'excluded' {
  const { state } = instanceState(r);
  if (state === 'unknown' || (state === 'disconnected' && r.graceful)) return 'excluded';
  return state === 'healthy' ? 'healthy' : 'unhealthy';
}

/**
 * Services and instances, learned from agents' hellos and kept current by
 * their heartbeats and health reports. It decides who is routable and tells
 * its owner (through `onChange`) whenever that may have changed.
 *
 * A service name is remembered (`onNewService`, kept in the store across
 * restarts) only once an instance of it was admitted and reported its app
 * healthy: until then it is listed while a registration mentions it, and
 * goes with the last such registration when that is forgotten. So a name
 * that only a refused, never-healthy or expired registration mentioned
 * does not stay in every agent's table and in the store for good.
 */
export class Registry {
  readonly #agents = new Map<string, AgentRecord>();
  /** Services remembered: known from the store, or with an instance that was healthy once. */
  readonly #services = new Set<string>();
  readonly #clock: () => number;
  readonly #onChange: (record: AgentRecord) => void;
  readonly #onForget: (record: AgentRecord) => void;
  readonly #onNewService: (names: string[]) => void;

  constructor(options: {
    clock: () => number;
    /** Called with the agent whose connection or health changed. */
    onChange: (record: AgentRecord) => void;
    /** Called with an agent that is dropped from the listing. */
    onForget?: (record: AgentRecord) => void;
    onNewService?: (names: string[]) => void;
    knownServices?: Iterable<string>;
  }) {
    this.#clock = options.clock;
    this.#onChange = options.onChange;
    this.#onForget = options.onForget ?? (() => undefined);
    this.#onNewService = options.onNewService ?? (() => undefined);
    // A stored list from an older or damaged store: keep what is a string, drop the rest.
    const known: unknown = options.knownServices ?? [];
    if (Array.isArray(known)) for (const s of known) if (typeof s === 'string') this.#services.add(s);
  }

  /** Records a (re)connected agent from its hello; `admittedFor`: the service of the per-service credential it joined with, if any. */
  connect(hello: Hello, remoteAddress: string, admittedFor?: string): AgentRecord {
    const now = this.#clock();
    const record: AgentRecord = {
      agentId: hello.agentId,
      instance: hello.instance,
      connected: true,
      remoteAddress,
      connectedAt: now,
      disconnectedAt: undefined,
      disconnectReason: undefined,
      lastSeenAt: now,
      health: 'unknown',
      healthReason: undefined,
      graceful: false,
      sent: undefined,
      acked: undefined,
      nacked: undefined,
      rings: {},
      subscriptions: [...new Set(hello.upstreams ?? [])].sort(),
    };
    if (admittedFor !== undefined) record.admittedFor = admittedFor;
    this.put(record);
    return record;
  }

  /** The record held for an agent. */
  get(agentId: string): AgentRecord | undefined {
    return this.#agents.get(agentId);
  }

  /** Holds `record` for its agent, replacing whatever was held, and tells `onChange` (and `onNewService` for a service newly remembered). */
  put(record: AgentRecord): void {
    const previous = this.#agents.get(record.agentId);
    // The same agent now fronting another instance (or none): the old instance is gone for good.
    if (previous && previous.instance?.id !== record.instance?.id) this.#onForget(previous);
    this.#agents.set(record.agentId, record);
    this.#remember(record);
    this.#onChange(record);
  }

  /** Remembers the service of `record` once its instance is connected and healthy. */
  #remember(record: AgentRecord): void {
    const service = record.instance?.service;
    if (service === undefined || !record.connected || record.health !== 'healthy' || this.#services.has(service))
      return;
    this.#services.add(service);
    this.#onNewService(this.rememberedServices());
  }

  /** Tells `onChange` that a record held changed in place. */
  changed(record: AgentRecord): void {
    this.#onChange(record);
  }

  /** Whether `record` is the one held for its agent (an older connection's record is not). */
  current(record: AgentRecord): boolean {
    return this.#agents.get(record.agentId) === record;
  }

  /**
   * Marks the agent gone. After a clean shutdown its instance leaves the
   * routing table; after a crash or a lost connection it stays listed as
   * unhealthy (until forgotten), so that callers still count it in its
   * tier's size, as panic mode and tier spill-over need.
   */
  disconnect(record: AgentRecord, reason: string, graceful = false): void {
    if (!record.connected || !this.current(record)) return;
    record.connected = false;
    record.graceful = graceful;
    record.disconnectedAt = this.#clock();
    record.disconnectReason = reason;
    this.#onChange(record);
  }

  /** Any message from an agent proves it alive. */
  seen(record: AgentRecord): void {
    record.lastSeenAt = this.#clock();
  }

  /** Records the agent's report of its app. */
  health(record: AgentRecord, status: 'healthy' | 'unhealthy', reason: string | undefined): void {
    // A report on a stream the agent has since replaced says nothing of its current connection.
    if (!this.current(record)) return;
    const changed = record.health !== status;
    record.health = status;
    record.healthReason = reason;
    this.#remember(record);
    if (changed) this.#onChange(record);
  }

  /** Connected agents that have been silent longer than `timeoutMs`. */
  silentAgents(timeoutMs: number): AgentRecord[] {
    const now = this.#clock();
    return [...this.#agents.values()].filter((r) => r.connected && now - r.lastSeenAt > timeoutMs);
  }

  /** Drops disconnected agents older than `afterMs` from the listing. */
  forget(afterMs: number): void {
    const now = this.#clock();
    for (const [id, r] of this.#agents) {
      if (!r.connected && r.disconnectedAt !== undefined && now - r.disconnectedAt > afterMs) {
        this.#agents.delete(id);
        this.#onForget(r);
      }
    }
  }

  /** All agents, connected or recently gone. */
  agents(): AgentRecord[] {
    return [...this.#agents.values()];
  }

  /**
   * Makes the known services exactly `names` (from a restored backup), plus
   * the services of instances registered now; reports the list when it
   * differs from `names`, so that the store holds it.
   */
  replaceKnownServices(names: Iterable<string>): void {
    const wanted = new Set(names);
    this.#services.clear();
    for (const n of wanted) this.#services.add(n);
    for (const r of this.#agents.values())
      if (r.instance && r.connected && r.health === 'healthy') this.#services.add(r.instance.service);
    if (this.#services.size !== wanted.size) this.#onNewService(this.rememberedServices());
  }

  /**
   * Forgets remembered services (expired, or deleted by an operator) and
   * reports the list so that the store holds it. A service still registered
   * by a listed agent stays in {@link serviceNames} while that agent does.
   */
  forgetServices(names: readonly string[]): void {
    let changed = false;
    for (const n of names) changed = this.#services.delete(n) || changed;
    if (changed) this.#onNewService(this.rememberedServices());
  }

  /** Agents listed (connected or recently gone) whose instance is of `service`. */
  instancesOf(service: string): string[] {
    const out: string[] = [];
    for (const r of this.#agents.values()) if (r.instance?.service === service) out.push(r.instance.id);
    return out.sort();
  }

  /** Names of the services remembered (kept in the store): those with an instance that was healthy once. */
  rememberedServices(): string[] {
    return [...this.#services].sort();
  }

  /** Names of every service remembered, or registered by an agent listed now. */
  serviceNames(): string[] {
    const names = new Set(this.#services);
    for (const r of this.#agents.values()) if (r.instance) names.add(r.instance.service);
    return [...names].sort();
  }

  /**
   * The endpoints of every known service, each with the health `healthOf`
   * gives it (`'excluded'` leaves it out). A known service with no instance
   * stays in the table with no endpoints, so that callers answer "no healthy
   * endpoint" (503) rather than "unknown service" (404).
   */
  routingServices(
    healthOf: (r: AgentRecord) => EndpointHealth | undefined | 'excluded' = ownHealth,
  ): Record<string, ServiceRoutes> {
    const out: Record<string, ServiceRoutes> = {};
    for (const name of this.serviceNames()) out[name] = { endpoints: [] };
    for (const r of this.#agents.values()) {
      const i = r.instance;
      if (!i) continue;
      const health = healthOf(r);
      if (health === 'excluded') continue;
      const endpoint: Endpoint = {
        id: i.id,
        host: i.host,
        port: i.port,
        tier: i.tier,
        weight: i.weight,
        labels: i.labels,
      };
      if (i.zone !== undefined) endpoint.zone = i.zone;
      if (i.mtls === true) endpoint.mtls = true;
      if (health !== undefined && health !== 'healthy') endpoint.health = health;
      (out[i.service] as ServiceRoutes).endpoints.push(endpoint);
    }
    for (const s of Object.values(out)) s.endpoints.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return out;
  }
}
