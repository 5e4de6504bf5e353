import type { AgentRecord } from '../registry/agent-record.js';
import type { CallerVerdict } from './caller-reports.js';
import type { HealthState } from './health-state.js';

/** Why an instance is in its state: a sentence and the evidence behind it. */
export interface Signal {
  reason: string;
  evidence: Record<string, unknown>;
}

/** What the decision reads of the instance's own agent. */
export type AgentSignals = Pick<
  AgentRecord,
  'agentId' | 'connected' | 'disconnectReason' | 'health' | 'healthReason' | 'lastSeenAt'
>;

/** What was decided of the instance so far, and the holds on it. */
export interface DecidedHealth extends Signal {
  state: HealthState;
  /** The state it was in when drained: an undrain goes on from there. */
  beforeDrain: HealthState;
  drain: { reason: string } | undefined;
  /** Flap damping holds it down until then. */
  readonly heldUntil: number;
  /** Callers' evidence keeps it down until then. */
  observationDownUntil: number;
  /** Since when a recovering instance has had no bad signal. */
  cleanSince: number;
}

/** The thresholds the decision applies (`health.*` settings). */
export interface DecisionSettings {
  recoverMs: number;
  /** The agent heartbeat timeout; an agent silent for half of it makes its instance suspect. */
  heartbeatTimeoutMs: number;
}

/** The state an instance goes to, and what follows from it. */
export interface HealthDecision extends Signal {
  to: HealthState;
  /** The instance's `cleanSince` from now on (whether or not its state changes). */
  cleanSince: number;
  /** A quorum of callers takes it down with no hard signal: their evidence holds it down. */
  byCallers: boolean;
  /** A fall to unhealthy from a routed state, which flap damping counts (an undrain onto a failing signal is none). */
  fell: boolean;
}

/** The hard signals: a lost connection, a failing local check. */
export function hardSignal(r: AgentSignals): Signal | undefined {
  if (!r.connected) {
    return {
      reason: `agent disconnected: ${r.disconnectReason ?? 'stream closed'}`,
      evidence: { signal: 'connection', agentId: r.agentId },
    };
  }
  if (r.health === 'unhealthy') {
    return {
      reason: `local health check failing${r.healthReason ? `: ${r.healthReason}` : ''}`,
      evidence: { signal: 'local-check', agentId: r.agentId, detail: r.healthReason ?? null },
    };
  }
  return undefined;
}

/**
 * Decides an instance's state at `now` from its agent's signals, its
 * callers' verdict and what was decided before; pure, so that every rule of
 * `HealthEngine` is checked without timers. In order of precedence: a drain;
 * a hard signal; a flap hold-down; a quorum of failing callers; the callers'
 * hold; then, from unhealthy, `recovering`, from recovering, `healthy` after
 * `recoverMs` without doubt; any doubt (a failing caller, a late heartbeat)
 * makes a routed instance `suspect`.
 */
export function decideHealth(
  agent: AgentSignals,
  verdict: CallerVerdict,
  i: DecidedHealth,
  now: number,
  s: DecisionSettings,
): HealthDecision {
  const hard = hardSignal(agent);
  const quorate = verdict.failing.length > 0 && verdict.failing.length >= verdict.needed;
  const silentMs = now - agent.lastSeenAt;
  const late = agent.connected && silentMs > s.heartbeatTimeoutMs / 2;
  const doubt = verdict.failing.length > 0 || late;
  const callerEvidence = () => ({
    signal: 'callers',
    failing: verdict.failing,
    callers: verdict.callers,
    quorum: verdict.needed,
    counts: verdict.counts,
  });
  const previous = i.state === 'draining' && !i.drain ? i.beforeDrain : i.state;

  let to: HealthState;
  let { reason, evidence, cleanSince } = i;
  if (i.drain) {
    to = 'draining';
    reason = i.drain.reason;
    evidence = { signal: 'operator' };
  } else if (hard) {
    to = 'unhealthy';
    ({ reason, evidence } = hard);
  } else if (now < i.heldUntil) {
    to = 'unhealthy';
  } else if (quorate) {
    to = 'unhealthy';
    reason = `${verdict.failing.length} of ${verdict.callers} callers see it failing (quorum ${verdict.needed})`;
    evidence = callerEvidence();
  } else if (previous === 'unhealthy' && now < i.observationDownUntil) {
    to = 'unhealthy';
  } else if (previous === 'unhealthy') {
    to = 'recovering';
    reason = 'every signal is clear; routed again, on probation';
    evidence = { signal: 'all-clear' };
  } else if (previous === 'recovering') {
    if (doubt) cleanSince = now;
    if (now - cleanSince >= s.recoverMs) {
      to = 'healthy';
      reason = `no failure for ${s.recoverMs} ms`;
      evidence = { signal: 'all-clear' };
    } else {
      to = 'recovering';
    }
  } else if (doubt) {
    to = 'suspect';
    reason = late
      ? `no message from its agent for ${silentMs} ms`
      : `${verdict.failing.length} of ${verdict.callers} callers see it failing, below the quorum of ${verdict.needed}`;
    evidence = late ? { signal: 'heartbeat', silentMs } : callerEvidence();
  } else {
    to = 'healthy';
    if (i.state !== 'healthy') {
      reason = i.state === 'draining' ? 'undrained' : 'the doubt cleared';
      evidence = { signal: 'all-clear' };
    }
  }
  if (to === i.state) return { to, reason: i.reason, evidence: i.evidence, cleanSince, byCallers: false, fell: false };
  if (i.state === 'draining' && reason === i.reason) {
    // Leaving a drain without a fresh signal: say so rather than repeat the drain's reason.
    reason = 'undrained';
    evidence = { signal: 'operator' };
  }
  if (to === 'recovering') cleanSince = now;
  const down = to === 'unhealthy';
  return {
    to,
    reason,
    evidence,
    cleanSince,
    byCallers: down && quorate && !hard,
    fell: down && previous !== 'unhealthy' && i.state !== 'draining',
  };
}
