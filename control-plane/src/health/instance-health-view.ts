import type { HealthEntry } from './health-entry.js';
import type { HealthState } from './health-state.js';

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

/** What the admin API shows of an entry at `now`: a hold-down only while it lasts. */
export function instanceHealthView(e: HealthEntry, now: number): InstanceHealthView {
  return {
    id: e.id,
    service: e.service,
    agentId: e.record.agentId,
    state: e.state,
    since: e.since,
    reason: e.reason,
    evidence: e.evidence,
    heldUntil: e.heldUntil > now ? e.heldUntil : undefined,
    callers: e.callers.callers(),
  };
}
