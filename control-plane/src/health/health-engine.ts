import type { EndpointHealth, Observations } from '@meshlet/shared';
import type { DecisionSink } from '../events/event-log.js';
import type { AgentRecord } from '../registry/agent-record.js';
import { CallerReports } from './caller-reports.js';

/**
 * An instance's health as the control plane decides it. Callers route to
 * `healthy`, `suspect` and `recovering` instances; `unhealthy` and `draining`
 * ones stay in their tables, marked, and get no new requests.
 */
export type HealthState = 'healthy' | 'suspect' | 'unhealthy' | 'recovering' | 'draining';

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

interface Entry {
  id: string;
  service: string;
  record: AgentRecord;
  state: HealthState;
  since: number;
  reason: string;
  evidence: Record<string, unknown>;
  drain: { reason: string } | undefined;
  /** The state it was in when drained: an undrain goes on from there. */
  beforeDrain: HealthState;
  /** Reports by calling agent id. */
  callers: CallerReports;
  /** Callers' evidence keeps the instance down until then. */
  observationDownUntil: number;
  /** Consecutive times the callers' evidence took it down without a healthy spell between. */
  observationEjections: number;
  /** Times it became unhealthy, within the flap window. */
  flaps: number[];
  holdDowns: number;
  heldUntil: number;
  /** Since when a recovering instance has had no bad signal. */
  cleanSince: number;
}

/** The state of one instance, for the admin API. */
export interface InstanceHealthView {
  id: string;
  service: string;
  agentId: string;
  state: HealthState;
  since: number;
  reason: string;
  evidence: Record<string, unknown>;
  heldUntil: number | undefined;
  /** Agents whose reports on it are within the observation window. */
  callers: string[];
}

/** What callers are told: `undefined` means routed as healthy. */
export function routedHealth(state: HealthState): EndpointHealth | undefined {
  if (state === 'unhealthy') return 'unhealthy';
  if (state === 'draining') return 'draining';
  return undefined;
}

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
 * Every transition is an event with its reason and evidence.
 */
export class HealthEngine {
  readonly #s: HealthSettings;
  readonly #clock: () => number;
  readonly #events: DecisionSink;
  readonly #onChange: () => void;
  readonly #drainOf: (instanceId: string) => string | undefined;
  readonly #entries = new Map<string, Entry>();

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
      const hard = this.#hardSignal(record);
      entry = {
        id: i.id,
        service: i.service,
        record,
        state: hard ? 'unhealthy' : 'healthy',
        since: now,
        reason: hard ? hard.reason : 'registered, local health check passing',
        evidence: hard ? hard.evidence : { signal: 'local-check', agentId: record.agentId },
        drain: undefined,
        beforeDrain: 'healthy',
        callers: new CallerReports(),
        observationDownUntil: 0,
        observationEjections: 0,
        flaps: [],
        holdDowns: 0,
        heldUntil: 0,
        cleanSince: now,
      };
      this.#entries.set(i.id, entry);
      this.#events.add({ kind: 'health', service: i.service, instance: i.id, from: 'absent', to: entry.state, reason: entry.reason, evidence: entry.evidence });
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

  /** Records what the agent `callerId` observed of the endpoints it called. */
  observe(callerId: string, report: Observations): void {
    const now = this.#clock();
    for (const o of report.endpoints) {
      if (o.ok === 0 && o.failed === 0 && o.ejected !== true) continue;
      const entry = this.#entries.get(o.id);
      if (!entry || entry.service !== o.service) continue;
      entry.callers.add(callerId, o, now);
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
    return [...this.#entries.values()].map((e) => ({
      id: e.id,
      service: e.service,
      agentId: e.record.agentId,
      state: e.state,
      since: e.since,
      reason: e.reason,
      evidence: e.evidence,
      heldUntil: e.heldUntil > this.#clock() ? e.heldUntil : undefined,
      callers: e.callers.callers(),
    }));
  }

  #remove(entry: Entry, reason: string): void {
    this.#entries.delete(entry.id);
    this.#events.add({ kind: 'health', service: entry.service, instance: entry.id, from: entry.state, to: 'absent', reason, evidence: { agentId: entry.record.agentId } });
    this.#onChange();
  }

  /** The hard signals: connection, heartbeats, local check. */
  #hardSignal(r: AgentRecord): { reason: string; evidence: Record<string, unknown> } | undefined {
    if (!r.connected) {
      return { reason: `agent disconnected: ${r.disconnectReason ?? 'stream closed'}`, evidence: { signal: 'connection', agentId: r.agentId } };
    }
    if (r.health === 'unhealthy') {
      return {
        reason: `local health check failing${r.healthReason ? `: ${r.healthReason}` : ''}`,
        evidence: { signal: 'local-check', agentId: r.agentId, detail: r.healthReason ?? null },
      };
    }
    return undefined;
  }

  #evaluate(entry: Entry, now: number): void {
    const s = this.#s;
    const r = entry.record;
    if (r.connected && r.health === 'unknown' && entry.state !== 'draining') return;
    const hard = this.#hardSignal(r);
    const verdict = entry.callers.verdict(now, s);
    const quorate = verdict.failing.length > 0 && verdict.failing.length >= verdict.needed;
    const late = r.connected && now - r.lastSeenAt > s.heartbeatTimeoutMs / 2;
    const doubt = verdict.failing.length > 0 || late;
    const callerEvidence = () => ({ signal: 'callers', failing: verdict.failing, callers: verdict.callers, quorum: verdict.needed, counts: verdict.counts });
    const previous = entry.state === 'draining' && !entry.drain ? entry.beforeDrain : entry.state;

    let to: HealthState;
    let reason = entry.reason;
    let evidence = entry.evidence;
    if (entry.drain) {
      to = 'draining';
      reason = entry.drain.reason;
      evidence = { signal: 'operator' };
    } else if (hard) {
      to = 'unhealthy';
      ({ reason, evidence } = hard);
    } else if (now < entry.heldUntil) {
      to = 'unhealthy';
    } else if (quorate) {
      to = 'unhealthy';
      reason = `${verdict.failing.length} of ${verdict.callers} callers see it failing (quorum ${verdict.needed})`;
      evidence = callerEvidence();
    } else if (previous === 'unhealthy' && now < entry.observationDownUntil) {
      to = 'unhealthy';
    } else if (previous === 'unhealthy') {
      to = 'recovering';
      reason = 'every signal is clear; routed again, on probation';
      evidence = { signal: 'all-clear' };
    } else if (previous === 'recovering') {
      if (doubt) entry.cleanSince = now;
      if (now - entry.cleanSince >= s.recoverMs) {
        to = 'healthy';
        reason = `no failure for ${s.recoverMs} ms`;
        evidence = { signal: 'all-clear' };
      } else {
        to = 'recovering';
      }
    } else if (doubt) {
      to = 'suspect';
      reason = late
        ? `no message from its agent for ${now - r.lastSeenAt} ms`
        : `${verdict.failing.length} of ${verdict.callers} callers see it failing, below the quorum of ${verdict.needed}`;
      evidence = late ? { signal: 'heartbeat', silentMs: now - r.lastSeenAt } : callerEvidence();
    } else {
      to = 'healthy';
      if (entry.state !== 'healthy') {
        reason = entry.state === 'draining' ? 'undrained' : 'the doubt cleared';
        evidence = { signal: 'all-clear' };
      }
    }
    if (to === entry.state) return;
    if (entry.state === 'draining' && reason === entry.reason) {
      // Leaving a drain without a fresh signal: say so rather than repeat the drain's reason.
      reason = 'undrained';
      evidence = { signal: 'operator' };
    }

    if (to === 'unhealthy') {
      if (quorate && !hard) {
        const hold = Math.min(s.maxHoldDownMs, s.observationHoldMs * 2 ** entry.observationEjections);
        entry.observationDownUntil = now + hold;
        entry.observationEjections++;
        entry.callers.clear();
        reason += `; down for at least ${hold} ms`;
      }
      // A flap is a fall from a routed state; an undrain onto a failing signal is not one.
      if (previous !== 'unhealthy' && entry.state !== 'draining') {
        entry.flaps.push(now);
        while (entry.flaps.length > 0 && now - (entry.flaps[0] as number) > s.flapWindowMs) entry.flaps.shift();
        if (entry.flaps.length > s.flapThreshold) {
          // A whole window since the last hold-down ended: the doubling starts over.
          if (entry.heldUntil > 0 && now - entry.heldUntil > s.flapWindowMs) entry.holdDowns = 0;
          const hold = Math.min(s.maxHoldDownMs, s.holdDownMs * 2 ** entry.holdDowns);
          entry.holdDowns++;
          entry.heldUntil = now + hold;
          reason += `; flapping (${entry.flaps.length} times unhealthy within ${s.flapWindowMs} ms): held down for ${hold} ms`;
          evidence = { ...evidence, flaps: entry.flaps.length, heldUntil: entry.heldUntil };
        }
      }
    } else if (to === 'recovering') {
      entry.cleanSince = now;
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
    this.#events.add({ kind: to === 'draining' || from === 'draining' ? 'drain' : 'health', service: entry.service, instance: entry.id, from, to, reason, evidence });
    if (routedChanged) this.#onChange();
  }
}
