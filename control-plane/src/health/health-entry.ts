import type { InstanceInfo } from '@meshlet/shared';
import type { AgentRecord } from '../registry/agent-record.js';
import { CallerReports } from './caller-reports.js';
import { FlapDamper, type FlapDampingSettings } from './flap-damper.js';
import { type DecidedHealth, hardSignal } from './health-decision.js';

/** What the {@link HealthEngine} keeps of one instance: its decided state, its holds and its callers' reports. */
export interface HealthEntry extends DecidedHealth {
  id: string;
  service: string;
  record: AgentRecord;
  /** When it entered its state. */
  since: number;
  /** Reports by calling agent id. */
  callers: CallerReports;
  /** Consecutive times the callers' evidence took it down without a healthy spell between. */
  observationEjections: number;
  /** Its falls to unhealthy; `heldUntil` reads its hold-down. */
  flaps: FlapDamper;
}

/**
 * The entry of `instance`, first reported at `now` by the agent of
 * `record`: `unhealthy` on a hard signal, else `healthy`, with no holds and
 * no callers' reports yet.
 */
export function newHealthEntry(
  record: AgentRecord,
  instance: Pick<InstanceInfo, 'id' | 'service'>,
  now: number,
  settings: FlapDampingSettings,
): HealthEntry {
  const hard = hardSignal(record);
  const flaps = new FlapDamper(settings);
  return {
    id: instance.id,
    service: instance.service,
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
    flaps,
    get heldUntil() {
      return flaps.heldUntil;
    },
    cleanSince: now,
  };
}
