import { resolvePolicy, type ServicePolicy, type ShardingPolicy } from '@meshlet/shared';
import type { DecisionSink } from '../events/event-log.js';
import {
  SHARD_GENERATION_PREFIX,
  type ShardMapActor,
  sameShardMap,
  shardMapEvent,
} from '../sharding/shard-map-change.js';
import type { Store } from '../store/store.js';
import { versionedDelete, versionedPut, type WriteNames } from './versioned-write.js';

/** Where a service's policy comes from: written through the admin API, the config file, or all defaults. */
export type PolicySource = 'api' | 'config' | 'default';

/** A service's policy as the admin API shows it. */
export interface PolicyItem {
  service: string;
  source: PolicySource;
  /** The store revision that last wrote the API policy (its optimistic-concurrency token); null when not from the API. */
  resourceVersion: string | null;
  /** Complete, every default filled in. */
  policy: ServicePolicy;
  /** What was written through the API (only the fields given); absent for other sources. */
  spec?: unknown;
}

/** The outcome of a write. */
export type PolicyWrite = { ok: true; item: PolicyItem } | { ok: false; status: 404 | 409; message: string };

/** Who writes a policy, for the `sharding` event when the write changes the range map (`operation`: `put` when absent). */
export type PolicyActor = Omit<ShardMapActor, 'operation'> & { operation?: string };

const PREFIX = 'policies/';

const names = (service: string): WriteNames => ({
  what: `the policy of "${service}"`,
  missing: `service "${service}" has no policy written through the API`,
});

const actorOf = (a: PolicyActor | undefined, operation: string): ShardMapActor => ({
  by: a?.by ?? 'unknown',
  operation: a?.operation ?? operation,
  ...(a?.summary === undefined ? {} : { summary: a.summary }),
});

const conflict = (message: string) => ({ ok: false as const, status: 409 as const, message });

/** How a write changes a service's range map: the generation the new map gets, whether it changed. */
interface MapStep {
  before: ShardingPolicy | undefined;
  after: ShardingPolicy | undefined;
  generationBefore: number;
  generation: number;
  changed: boolean;
}

/**
 * Service policies: those written through the admin API, kept in the store
 * (they survive a restart and travel in backups), over those of the config
 * file, over the defaults. A write carries the `resourceVersion` it was based
 * on; a stale one is refused, so two operators cannot overwrite each other
 * without knowing.
 *
 * What it answers is read from the store as it is now, each value resolved
 * once per revision: a policy and its `resourceVersion` always come from the
 * same write (a copy updated after the write resolved would pair a new
 * version with the old policy while the write is on its way to the disk).
 *
 * The range map's `generation` is the control plane's: whichever write
 * changes the map (PUT, DELETE, an edit), the map gets one more than the
 * highest generation so far and a `sharding` event is recorded; a
 * generation in a written policy is replaced. While no API policy carries
 * it (after a DELETE, or a PUT without a map), the highest one is kept
 * under `shard-generations/<service>`, so that it never goes down.
 */
export class PolicyStore {
  readonly #store: Store;
  readonly #config: Readonly<Record<string, ServicePolicy>>;
  readonly #defaults = resolvePolicy({});
  readonly #events: DecisionSink | undefined;
  /** API policies resolved, by service, with the revision read; `undefined`: the stored one no longer validates. */
  #resolved = new Map<string, { revision: number; policy: ServicePolicy | undefined }>();
  /** Config file policies whose map generation is raised to the stored highest one. */
  #raised = new Map<string, { generation: number; policy: ServicePolicy }>();

  constructor(store: Store, config: Readonly<Record<string, ServicePolicy>>, options: { events?: DecisionSink } = {}) {
    this.#store = store;
    this.#config = config;
    this.#events = options.events;
  }

  /** Forgets what was resolved (after a restore); policies are read from the store again as they are asked for. */
  reload(): void {
    this.#resolved = new Map();
    this.#raised = new Map();
  }

  /**
   * The API policy of `service` as the store holds it now; `undefined`
   * when there is none, or when the stored one no longer validates (written
   * by a version whose schema differs: the config or defaults apply, and GET
   * shows the source).
   */
  #api(service: string): ServicePolicy | undefined {
    const key = PREFIX + service;
    const revision = this.#store.modRevision(key);
    if (revision === undefined) {
      this.#resolved.delete(service);
      return undefined;
    }
    const known = this.#resolved.get(service);
    if (known?.revision === revision) return known.policy;
    let policy: ServicePolicy | undefined;
    try {
      policy = resolvePolicy(this.#store.get(key));
    } catch {
      policy = undefined;
    }
    this.#resolved.set(service, { revision, policy });
    return policy;
  }

  /** The highest map generation stored for `service` apart from its API policy. */
  #highest(service: string): number {
    const v = this.#store.get(SHARD_GENERATION_PREFIX + service);
    return typeof v === 'number' ? v : 0;
  }

  /** The config file's policy of `service`, its map's generation raised to the highest one given so far. */
  #configOf(service: string): ServicePolicy | undefined {
    const config = this.#config[service];
    if (config?.sharding === undefined) return config;
    const generation = this.#highest(service);
    if (generation <= (config.sharding.generation ?? 0)) return config;
    const known = this.#raised.get(service);
    if (known?.generation === generation) return known.policy;
    const policy = { ...config, sharding: { ...config.sharding, generation } };
    this.#raised.set(service, { generation, policy });
    return policy;
  }

  /** The policy in force for `service`. */
  policyOf(service: string): ServicePolicy {
    return this.#api(service) ?? this.#configOf(service) ?? this.#defaults;
  }

  /** The policy of a service with none from the API or the config file: every default. */
  defaultPolicy(): ServicePolicy {
    return this.#defaults;
  }

  /** Services that have a policy from the API or the config file. */
  configured(): string[] {
    const api = this.#store
      .keys(PREFIX)
      .map((k) => k.slice(PREFIX.length))
      .filter((s) => this.#api(s) !== undefined);
    return [...new Set([...api, ...Object.keys(this.#config)])].sort();
  }

  /** The policy of `service` with where it comes from, all of it read from the store at one revision. */
  item(service: string): PolicyItem {
    const api = this.#api(service);
    if (api) {
      return {
        service,
        source: 'api',
        resourceVersion: String(this.#store.modRevision(PREFIX + service)),
        policy: api,
        spec: this.#store.get(PREFIX + service),
      };
    }
    const config = this.#configOf(service);
    return config
      ? { service, source: 'config', resourceVersion: null, policy: config }
      : { service, source: 'default', resourceVersion: null, policy: this.#defaults };
  }

  /**
   * Creates or replaces the API policy of `service`. `spec` must already be
   * a valid partial policy. With `resourceVersion`, the write happens only if
   * it is still current ("0" when creating). A change of the range map gets
   * the next generation and an event naming `actor`.
   */
  async put(
    service: string,
    spec: unknown,
    resourceVersion: string | undefined,
    actor?: PolicyActor,
  ): Promise<PolicyWrite> {
    const asked = resolvePolicy(spec);
    const step = this.#step(service, asked.sharding);
    let stored = spec;
    let policy = asked;
    if (step !== undefined && step.after !== undefined) {
      const sharding = { ...(spec as { sharding: ShardingPolicy }).sharding, generation: step.generation };
      stored = { ...(spec as Record<string, unknown>), sharding };
      policy = { ...asked, sharding: { ...step.after, generation: step.generation } };
    }
    const based = this.#basedOn(service, resourceVersion, step);
    if (typeof based === 'object') return based;
    if (step?.changed && step.after === undefined) {
      const kept = await this.#keepHighest(service, step.generation);
      if (kept !== undefined) return kept;
    }
    const written = await versionedPut(this.#store, PREFIX + service, stored, based, names(service));
    if (!written.ok) return this.#refused(service, written, resourceVersion);
    const item: PolicyItem = {
      service,
      source: 'api',
      resourceVersion: String(written.revision),
      policy,
      spec: stored,
    };
    this.#record(service, step, item.resourceVersion, actorOf(actor, 'put'));
    return { ok: true, item };
  }

  /** Deletes the API policy of `service` (the config file's or the defaults apply again). */
  async delete(service: string, resourceVersion: string | undefined, actor?: PolicyActor): Promise<PolicyWrite> {
    if (this.#store.modRevision(PREFIX + service) === undefined)
      return { ok: false, status: 404, message: names(service).missing };
    const step = this.#step(service, this.#config[service]?.sharding);
    const based = this.#basedOn(service, resourceVersion, step);
    if (typeof based === 'object') return based;
    // No API policy carries the generation once deleted: it is kept apart, before the delete (never lower if that fails).
    if (step !== undefined && step.generation > this.#highest(service)) {
      const kept = await this.#keepHighest(service, step.generation);
      if (kept !== undefined) return kept;
    }
    const deleted = await versionedDelete(this.#store, PREFIX + service, based, names(service));
    if (!deleted.ok) return this.#refused(service, deleted, resourceVersion);
    this.#record(service, step, null, actorOf(actor, 'delete'));
    return { ok: true, item: this.item(service) };
  }

  /** The map step of a write that leaves `after` in force; `undefined` when the service has a map neither before nor after. */
  #step(service: string, after: ShardingPolicy | undefined): MapStep | undefined {
    const before = this.policyOf(service).sharding;
    if (before === undefined && after === undefined) return undefined;
    const generationBefore = Math.max(before?.generation ?? 0, this.#highest(service));
    const changed = !sameShardMap(before, after);
    return { before, after, generationBefore, generation: generationBefore + (changed ? 1 : 0), changed };
  }

  /**
   * The revision a write is based on. A write that touches a map is based on
   * the policy read here (its generation counts from it): a stale
   * `resourceVersion` is refused at once, and one without is made
   * conditional on the policy read (another replica may write meanwhile).
   */
  #basedOn(
    service: string,
    resourceVersion: string | undefined,
    step: MapStep | undefined,
  ): string | undefined | Extract<PolicyWrite, { ok: false }> {
    if (step === undefined) return resourceVersion;
    const current = String(this.#store.modRevision(PREFIX + service) ?? 0);
    if (resourceVersion === undefined || resourceVersion === current) return current;
    if (Number(resourceVersion) > Number(current))
      return conflict(
        `this control-plane replica has not seen resourceVersion ${resourceVersion} of ${names(service).what} yet (it holds ${current}); send the write again shortly`,
      );
    return conflict(
      `resourceVersion ${resourceVersion} is stale: ${names(service).what} is at ${current}; get it again and reapply your change`,
    );
  }

  /** Stores the highest generation given to the map of `service`, unless another write came first (then 409). */
  async #keepHighest(service: string, generation: number): Promise<Extract<PolicyWrite, { ok: false }> | undefined> {
    const key = SHARD_GENERATION_PREFIX + service;
    const kept = await this.#store.writeIf(key, generation, this.#store.modRevision(key) ?? 0);
    return kept === undefined
      ? conflict(`the range map of "${service}" changed while this write was made; get the policy again and resend`)
      : undefined;
  }

  #refused(
    service: string,
    refused: Extract<PolicyWrite, { ok: false }>,
    resourceVersion: string | undefined,
  ): Extract<PolicyWrite, { ok: false }> {
    // A write sent without a resourceVersion was made conditional here: its 409 is a write of another replica meanwhile.
    return resourceVersion === undefined && refused.status === 409
      ? conflict(`${names(service).what} was written by another replica meanwhile; get it again and resend`)
      : refused;
  }

  #record(service: string, step: MapStep | undefined, resourceVersion: string | null, actor: ShardMapActor): void {
    if (!step?.changed) return;
    const after = step.after && { ...step.after, generation: step.generation };
    this.#events?.add(shardMapEvent({ service, ...step, after, resourceVersion }, actor));
  }
}
