import type { InstanceRole } from '@meshlet/shared';

/** What an instance's agent last reported of its check's role and replication offset. */
export interface RoleReport {
  role?: InstanceRole | undefined;
  replicationOffset?: number | undefined;
  /** Whether that check passed (the agent's `health` status). */
  healthy: boolean;
  /** When the control plane received it (its clock, ms). */
  at: number;
}

/**
 * The roles and replication offsets the agents' checks report, per service
 * and instance, as the stream sessions record them (in memory: an agent
 * repeats its report on every new stream). The table builder marks each
 * endpoint's `role`; the managed failover ranks standbys by offset and
 * publishes a primary only once its check says so.
 */
export class InstanceRoles {
  readonly #byService = new Map<string, Map<string, RoleReport>>();
  readonly #listeners = new Set<(service: string, instance: string) => void>();

  /** Records an agent's report; listeners hear of changes of role or health (not of the offset alone). */
  record(service: string, instance: string, report: RoleReport): void {
    let instances = this.#byService.get(service);
    if (!instances) this.#byService.set(service, (instances = new Map()));
    const before = instances.get(instance);
    instances.set(instance, report);
    if (before?.role !== report.role || before?.healthy !== report.healthy)
      for (const l of this.#listeners) l(service, instance);
  }

  /** The instance left the registry. */
  forget(service: string, instance: string): void {
    const instances = this.#byService.get(service);
    if (!instances?.delete(instance)) return;
    if (instances.size === 0) this.#byService.delete(service);
    for (const l of this.#listeners) l(service, instance);
  }

  get(service: string, instance: string): RoleReport | undefined {
    return this.#byService.get(service)?.get(instance);
  }

  /** Every report of the service's instances. */
  forService(service: string): ReadonlyMap<string, RoleReport> {
    return this.#byService.get(service) ?? new Map();
  }

  /** Calls `listener` on every change of an instance's role or health; returns a function that stops it. */
  onChange(listener: (service: string, instance: string) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
