import type { CoordReason } from '@meshlet/shared';
import type { MeshEvent } from '../../events/event-log.js';
import type { RoleReport } from '../../health/instance-roles.js';

/** A managed failover event before the log stamps it. */
export type FailoverEvent = Omit<MeshEvent, 'seq' | 'time'>;

/** The step of a managed failover an event records (its `evidence.step`). */
export type FailoverStep =
  | 'term-began'
  | 'term-ended'
  | 'primary-published'
  | 'switchover-requested'
  | 'switchover-completed'
  | 'switchover-abandoned';

/** Why the election was free when a new term began, in an operator's words. */
export function termCause(released: CoordReason | undefined, switchoverTo: string | undefined, holder: string): string {
  if (switchoverTo === holder) return 'switchover';
  switch (released) {
    case undefined:
      return 'first election';
    case 'expired':
      return "lease lapsed (the primary's agent stopped renewing)";
    case 'disconnected':
      return "lease lapsed (the primary's agent was away past heartbeat.timeoutMs)";
    case 'released':
      return 'the primary resigned (its check failed, its promote failed, or it handed over)';
    case 'unhealthy':
      return "the primary's instance was marked unhealthy";
    case 'forced':
      return 'an operator forced the election free';
    default:
      return released;
  }
}

/**
 * Why a term ended, in an operator's words: the coordinator's reason, and for
 * a resign what the holder's last report and the state say of it (the agent
 * gives no reason when it resigns): its check failed, its check says replica,
 * a switchover handed over, or it was never published as primary (its
 * promote failed, or its check did not say primary in time).
 */
export function endCause(
  reason: CoordReason,
  report: RoleReport | undefined,
  wasPrimary: boolean,
  switchoverTo: string | undefined,
): string {
  if (reason !== 'released') return termCause(reason, undefined, '');
  if (switchoverTo !== undefined) return `the primary handed over (switchover to ${switchoverTo})`;
  if (report !== undefined && !report.healthy) return 'the primary resigned: its check failed';
  if (!wasPrimary)
    return (
      'the holder resigned, never published as primary (its promote failed, or its check did not say ' +
      'primary within promote.timeoutMs)'
    );
  if (report?.role === 'replica') return 'the primary resigned: its check says replica';
  return 'the primary resigned';
}

/** What the event keeps of an instance's last check report. */
export function lastCheck(report: RoleReport | undefined): Record<string, unknown> | undefined {
  if (report === undefined) return undefined;
  return {
    role: report.role,
    healthy: report.healthy,
    replicationOffset: report.replicationOffset,
    at: report.at,
  };
}

/** Bytes `report` is behind `primaryOffset` (undefined when either is unknown). */
export function lagOf(report: RoleReport | undefined, primaryOffset: number | undefined): number | undefined {
  const offset = report?.replicationOffset;
  if (offset === undefined || primaryOffset === undefined) return undefined;
  return Math.max(0, primaryOffset - offset);
}

/** One `primary` event of `service`: `from` and `to` are instances (or `none`). */
export function failoverEvent(
  service: string,
  step: FailoverStep,
  from: string | undefined,
  to: string | undefined,
  reason: string,
  evidence: Record<string, unknown>,
): FailoverEvent {
  return {
    kind: 'primary',
    service,
    ...(to === undefined ? {} : { instance: to }),
    from: from ?? 'none',
    to: to ?? 'none',
    reason,
    evidence: { step, ...evidence },
  };
}
