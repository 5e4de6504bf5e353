import type { FailoverState, ManagedFailoverPolicy } from '@meshlet/shared';
import { lagOf } from './failover-events.js';
import type { FailoverMember } from './rank-candidates.js';

/** Why a switchover is refused: the admin API's status, the field at fault and the fix. */
export interface SwitchoverRefusal {
  ok: false;
  status: 400 | 404 | 409;
  field?: string;
  message: string;
}

/** A switchover accepted (the state now carries `switchoverTo`), or refused. */
export type SwitchoverOutcome = { ok: true; state: FailoverState } | SwitchoverRefusal;

const refuse = (status: 400 | 404 | 409, message: string, field?: string): SwitchoverRefusal => ({
  ok: false,
  status,
  message,
  ...(field ? { field } : {}),
});

/**
 * Why a switchover of `service` to `to` cannot start now, or undefined: the
 * service must be managed (400), `to` one of its instances (404: an instance
 * of another service is unknown here), there must be a primary, none already
 * in progress, and `to` a healthy replica taking part (priority above 0)
 * within `maxLagBytes` of the primary (409).
 */
export function switchoverProblem(
  service: string,
  to: string,
  policy: ManagedFailoverPolicy | undefined,
  state: FailoverState | undefined,
  members: readonly FailoverMember[],
  primaryOffset: number | undefined,
): SwitchoverRefusal | undefined {
  if (policy === undefined || state === undefined)
    return refuse(
      400,
      `service ${service} is not in managed failover: set policy.failover.mode to managed (PUT /v1/policies/${service}) first`,
    );
  const target = members.find((m) => m.id === to);
  if (target === undefined)
    return refuse(
      404,
      `service ${service} has no instance "${to}" (instances: ${members.map((m) => m.id).join(', ') || 'none'}); see GET /v1/services/${service}/failover`,
      'to',
    );
  if (state.switchoverTo !== undefined)
    return refuse(
      409,
      `a switchover of service ${service} to ${state.switchoverTo} is in progress: wait for it to complete or be abandoned (policy.failover.switchoverTimeoutMs)`,
    );
  if (state.primary === undefined)
    return refuse(
      409,
      `service ${service} has no primary now (term ${state.term}${state.holder ? `, ${state.holder} is promoting` : ', the election is vacant'}): a switchover moves a working primary; the candidates take over on their own`,
    );
  if (to === state.primary) return refuse(409, `${to} is the primary already`, 'to');
  const r = target.report;
  if (!target.routable || !r?.healthy || r.role !== 'replica')
    return refuse(
      409,
      `${to} is not a healthy replica now (routed: ${target.routable}, check: ${r ? `${r.healthy ? 'healthy' : 'unhealthy'} ${r.role ?? 'no role'}` : 'no report'}): pick one of the candidates ${state.candidates.join(', ') || '(none)'}`,
      'to',
    );
  if (target.priority === undefined || target.priority <= 0)
    return refuse(
      409,
      `${to} does not take part in managed failover (instance.failover ${target.priority === undefined ? 'absent' : 'priority 0'} in its agent's config)`,
      'to',
    );
  const lag = lagOf(r, primaryOffset);
  if (lag !== undefined && lag > policy.maxLagBytes)
    return refuse(
      409,
      `${to} is ${lag} bytes behind the primary, over policy.failover.maxLagBytes (${policy.maxLagBytes}): wait for it to catch up, or pick another`,
      'to',
    );
  return undefined;
}
