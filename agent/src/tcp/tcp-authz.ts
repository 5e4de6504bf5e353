import { type AuthzPolicy, type AuthzRule, systemClock } from '@meshlet/shared';
import type { InboundAuthzContext } from '../authz/authorize-inbound.js';
import { authzCaller } from '../authz/authz-caller.js';
import { AuthzLogLimiter } from '../authz/authz-log-limiter.js';
import { evaluateAuthz } from '../authz/evaluate-authz.js';
import { AgentErrorCodes } from '../errors.js';
import { AUTHZ_POLICY_UNKNOWN } from '../authz/own-service-policy.js';

/** The verdict on a TCP caller: admitted, or refused with the `ERR` line's code and message. */
export type TcpAuthzVerdict = { ok: true } | { ok: false; code: string; message: string };

/** A rule that matches nobody: an allow rule with HTTP conditions, as TCP sees it. */
const NEVER: AuthzRule = { action: 'allow', from: [] as unknown as AuthzRule['from'] };

const asTcp = new WeakMap<AuthzPolicy, AuthzPolicy>();
const limiters = new WeakMap<InboundAuthzContext, AuthzLogLimiter>();

/**
 * A service's policy as it applies to TCP connections, as Istio applies an
 * AuthorizationPolicy to TCP traffic: a connection has no method and no
 * path, so an `allow` rule with `methods` or `paths` never matches it (a
 * policy whose allow rules all have them admits no TCP caller), and a
 * `deny` rule with them denies on its callers alone (the HTTP conditions are
 * left out, so the policy errs towards denying). Principal rules apply as
 * they are.
 */
export function tcpPolicy(policy: AuthzPolicy): AuthzPolicy {
  let p = asTcp.get(policy);
  if (p === undefined) {
    const rules = policy.rules.map((r): AuthzRule => {
      if (r.methods === undefined && r.paths === undefined) return r;
      if (r.action === 'allow') return { ...NEVER, ...(r.name ? { name: r.name } : {}) };
      const { methods: _m, paths: _p, ...rest } = r;
      return rest;
    });
    p = { ...policy, rules };
    asTcp.set(policy, p);
  }
  return p;
}

/**
 * Decides a TCP caller of the agent's own service (its verified SPIFFE ID;
 * undefined for a plaintext caller in permissive mode) against the
 * service's authorization policy; counts it in
 * `meshlet_agent_authz_decisions_total` and logs a denial (one line per
 * caller and rule per 10 s).
 */
export function authorizeTcp(ctx: InboundAuthzContext, callerSpiffeId: string | undefined): TcpAuthzVerdict {
  const caller = authzCaller(callerSpiffeId, ctx.trustDomain());
  const count = (decision: string) => ctx.metrics?.authzDecisions.labels(caller.label, ctx.service, decision).inc();
  const policy = ctx.policy();
  if (policy === AUTHZ_POLICY_UNKNOWN) {
    count('refused');
    return {
      ok: false,
      code: AgentErrorCodes.AUTHZ_POLICY_UNKNOWN,
      message: `this agent has not received the routing table entry of its own service ${ctx.service} yet; retry shortly`,
    };
  }
  const decision = evaluateAuthz(policy === undefined ? undefined : tcpPolicy(policy), {
    caller,
    method: '',
    path: '',
  });
  count(decision.kind === 'allow' ? 'allowed' : decision.kind === 'deny' ? 'denied' : 'audited');
  if (decision.kind === 'allow') return { ok: true };
  let limiter = limiters.get(ctx);
  if (limiter === undefined) limiters.set(ctx, (limiter = new AuthzLogLimiter(ctx.clock ?? systemClock)));
  const admitted = limiter.admit(JSON.stringify(['tcp', caller.label, ctx.service, decision.rule]));
  if (admitted.log) {
    const line = { caller: caller.label, service: ctx.service, rule: decision.rule, protocol: 'tcp' };
    if (decision.kind === 'deny')
      ctx.log.warn({ ...line, suppressed: admitted.suppressed }, `authorization denied: ${decision.reason}`);
    else
      ctx.log.info({ ...line, suppressed: admitted.suppressed }, `authorization audit: would deny: ${decision.reason}`);
  }
  if (decision.kind !== 'deny') return { ok: true };
  return {
    ok: false,
    code: AgentErrorCodes.AUTHZ_DENIED,
    message: `${caller.label} may not connect to ${ctx.service}: rule ${decision.rule}: ${decision.reason}`,
  };
}
