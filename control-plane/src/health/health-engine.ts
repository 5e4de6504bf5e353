import type { EndpointHealth, Observations } from '@meshlet/shared';
import type { DecisionSink } from '../events/event-log.js';
import type { AgentRecord } from '../registry/agent-record.js';
import { doubledHoldMs } from './flap-damper.js';
import { decideHealth } from './health-decision.js';
import { type HealthEntry, newHealthEntry } from './health-entry.js';
import { type HealthState, routedHealth } from './health-state.js';
import { type InstanceHealthView, instanceHealthView } from './instance-health-view.js';

/** Thresholds of the {@link HealthEngine} (`health.*` in the control plane's config). */
export interface HealthSettings {
  quorum: number;
  observationWindowMs: number;
  minFailures: number;
  failurePercent: number;
  observationHoldMs: number;
  recoverMs: number;
  flapThreshold: number;
  flapWindowMs: number;
  holdDownMs: number;
  maxHoldDownMs: number;
  /** The agent heartbeat timeout; an agent silent for half of it makes its instance suspect. */
  heartbeatTimeoutMs: number;
}

export type { InstanceHealthView } from './instance-health-view.js';

/**
 * Decides each instance's health from three signals: its agent's connection
 * and heartbeats, its agent's check of the local app, and what the agents
 * that call it observe. Quick to take an instance out, slow to put it back:
 *
 * - a lost connection, missed heartbeats or a failing local check make it
 *   `unhealthy` at once;
 * - callers' reports make it `suspect` when some caller sees it failing, and
 *   `unhealthy` when a quorum of distinct callers does (`quorum`, or a
 *   majority of its callers when it has fewer), even while its own agent
 *   says it is fine: the case of a partition between it and its callers.
 *   That evidence keeps it down for `observationHoldMs`, doubled after each
 *   failed try;
 * - once every signal is clear it is `recovering`: routed again, but any
 *   failure sends it straight back to `unhealthy`, and only `recoverMs`
 *   without one makes it `healthy`;
 * - flap damping: more than `flapThreshold` transitions to `unhealthy`
 *   within `flapWindowMs` hold it down for `holdDownMs`, doubled on each
 *   further hold-down up to `maxHoldDownMs`;
 * - an operator's drain overrides all of it until undrained.
 *
 * Every transition is an event with its reason and evidence. The rules are
 * {@link decideHealth} (pure) and {@link FlapDamper}; this class keeps each
 * instance's state and holds, and reports the transitions.
 */
export class HealthEngine {
  readonly #s: HealthSettings;
  readonly #clock: () => number;
  readonly #events: DecisionSink;
  readonly #onChange: () => void;
  readonly #drainOf: (instanceId: string) => string | undefined;
  readonly #entries = new Map<string, HealthEntry>();

  constructor(options: {
    settings: HealthSettings;
    clock: () => number;
    /** Where decisions go; a follower replica's engine (a hot standby) gets a sink that drops them. */
    events: DecisionSink;
    onChange: () => void;
    /** The reason an instance was drained, for drains that outlive a restart (kept in the store). */
    drainOf?: (instanceId: string) => string | undefined;
  }) {
    this.#s = options.settings;
    this.#clock = options.clock;
    this.#events = options.events;
    this.#onChange = options.onChange;
    this.#drainOf = options.drainOf ?? (() => undefined);
  }

  /** Re-decides the instance behind `record` after its connection or local health changed. */
  update(record: AgentRecord): void {
    const i = record.instance;
    if (!i) return;
    let entry = this.#entries.get(i.id);
    if (!record.connected && record.graceful) {
      if (entry && entry.record === record) this.#remove(entry, 'the agent shut down cleanly');
      return;
    }
    if (!entry) {
      // Nothing is decided before the agent's first report of its app.
      if (record.health === 'unknown') return;
      const now = this.#clock();
      entry = newHealthEntry(record, i, now, this.#s);
      this.#entries.set(i.id, entry);
      this.#events.add({
        kind: 'health',
        service: i.service,
        instance: i.id,
        from: 'absent',
        to: entry.state,
        reason: entry.reason,
        evidence: entry.evidence,
      });
      const drained = this.#drainOf(i.id);
      if (drained !== undefined) {
        entry.drain = { reason: drained };
        this.#evaluate(entry, now);
      }
      this.#onChange();
      return;
    }
    entry.record = record;
    entry.service = i.service;
    this.#evaluate(entry, this.#clock());
  }

  /** Forgets the instance of a record the registry dropped. */
  forget(record: AgentRecord): void {
    const entry = record.instance ? this.#entries.get(record.instance.id) : undefined;
    if (entry && entry.record === record) this.#entries.delete(entry.id);
  }

  /**
   * Records what the agent `callerId` observed of the endpoints it called;
   * `identity`: what it authenticated as, so that agents sharing one count
   * as one caller (see `CallerReports`).
   */
  observe(callerId: string, report: Observations, identity?: string): void {
    const now = this.#clock();
    for (const o of report.endpoints) {
      if (o.ok === 0 && o.failed === 0 && o.ejected !== true) continue;
      const entry = this.#entries.get(o.id);
      if (!entry || entry.service !== o.service) continue;
      entry.callers.add(callerId, o, now, identity);
    }
  }

  /** Re-decides every instance: time-based transitions, callers' reports, late heartbeats. */
  tick(): void {
    const now = this.#clock();
    for (const entry of this.#entries.values()) this.#evaluate(entry, now);
  }

  /** Drains an instance: callers send it no new requests until {@link undrain}. Returns false for an unknown instance. */
  drain(instanceId: string, reason = 'drained by an operator'): boolean {
    const entry = this.#entries.get(instanceId);
    if (!entry) return false;
    entry.drain = { reason };
    this.#evaluate(entry, this.#clock());
    return true;
  }

  /** Ends a drain; the instance's state is decided afresh from its signals. */
  undrain(instanceId: string): boolean {
    const entry = this.#entries.get(instanceId);
    if (!entry) return false;
    entry.drain = undefined;
    this.#evaluate(entry, this.#clock());
    return true;
  }

  /** Makes the drained instances exactly those of `drains` (id → reason), after a restore. */
  syncDrains(drains: ReadonlyMap<string, string>): void {
    for (const entry of this.#entries.values()) {
      const reason = drains.get(entry.id);
      if (reason !== undefined && !entry.drain) this.drain(entry.id, reason);
      else if (reason === undefined && entry.drain) this.undrain(entry.id);
    }
  }

  /** Whether `id` is a known instance of `service`. */
  knows(service: string, id: string): boolean {
    return this.#entries.get(id)?.service === service;
  }

  /** The decided state of an instance, if it has one yet. */
  state(instanceId: string): HealthState | undefined {
    return this.#entries.get(instanceId)?.state;
  }

  /** The health callers are told for the instance behind `record`; `'excluded'` keeps it out of the table. */
  routed(record: AgentRecord): EndpointHealth | undefined | 'excluded' {
    const entry = record.instance ? this.#entries.get(record.instance.id) : undefined;
    if (!entry || entry.record !== record) return 'excluded';
    return routedHealth(entry.state);
  }

  /** Every instance with a decided state. */
  list(): InstanceHealthView[] {
    return [...this.#entries.values()].map((e) => instanceHealthView(e, this.#clock()));
  }

  #remove(entry: HealthEntry, reason: string): void {
    this.#entries.delete(entry.id);
    this.#events.add({
      kind: 'health',
      service: entry.service,
      instance: entry.id,
      from: entry.state,
      to: 'absent',
      reason,
      evidence: { agentId: entry.record.agentId },
    });
    this.#onChange();
  }

  #evaluate(entry: HealthEntry, now: number): void {
    const r = entry.record;
    // A reconnected agent that has not reported its app yet changes nothing.
    if (r.connected && r.health === 'unknown' && entry.state !== 'draining') return;
    const d = decideHealth(r, entry.callers.verdict(now, this.#s), entry, now, this.#s);
    entry.cleanSince = d.cleanSince;
    if (d.to === entry.state) return;
    const to = d.to;
    let { reason, evidence } = d;
    if (to === 'unhealthy') {
      if (d.byCallers) {
        const hold = doubledHoldMs(this.#s.observationHoldMs, entry.observationEjections, this.#s.maxHoldDownMs);
        entry.observationDownUntil = now + hold;
        entry.observationEjections++;
        entry.callers.clear();
        reason += `; down for at least ${hold} ms`;
      }
      const held = d.fell ? entry.flaps.fall(now) : undefined;
      if (held) {
        reason += `; flapping (${held.flaps} times unhealthy within ${this.#s.flapWindowMs} ms): held down for ${held.holdMs} ms`;
        evidence = { ...evidence, flaps: held.flaps, heldUntil: held.heldUntil };
      }
    } else if (to === 'draining') {
      entry.beforeDrain = entry.state;
    } else if (to === 'healthy') {
      entry.observationEjections = 0;
    }

    const from = entry.state;
    const routedChanged = routedHealth(from) !== routedHealth(to);
    entry.state = to;
    entry.since = now;
    entry.reason = reason;
    entry.evidence = evidence;
    this.#events.add({
      kind: to === 'draining' || from === 'draining' ? 'drain' : 'health',
      service: entry.service,
      instance: entry.id,
      from,
      to,
      reason,
      evidence,
    });
    if (routedChanged) this.#onChange();
  }
}
