import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  type AuthzPolicy,
  type Clock,
  type Logger,
  type MeshletHttpError,
  type NormalizedTarget,
  normalizeTarget,
  systemClock,
} from '@meshlet/shared';
import { AgentErrors } from '../errors.js';
import { sendJsonError } from '../listener/json-error.js';
import type { AgentMetrics } from '../metrics.js';
import type { AuthzDecision } from './authz-decision.js';
import { authzCaller } from './authz-caller.js';
import { AuthzLogLimiter } from './authz-log-limiter.js';
import { evaluateAuthz } from './evaluate-authz.js';
import { AUTHZ_POLICY_UNKNOWN, type PolicyInForce } from './own-service-policy.js';

/** What {@link authorizeInbound} needs from the agent. */
export interface InboundAuthzContext {
  /** The service this agent fronts: the callee. */
  service: string;
  /**
   * The service's authorization policy in force, read per request:
   * `ownServicePolicy(table?.routes.services, service)`. Undefined: the
   * service has none; `'unknown'`: the agent holds no table entry for its
   * own service yet, so it cannot know (answered 503, never allowed).
   */
  policy: () => PolicyInForce;
  /** The mesh's trust domain, read per request: a caller of another domain is no mesh workload. */
  trustDomain: () => string;
  metrics?: Pick<AgentMetrics, 'authzDecisions'> | undefined;
  log: Logger;
  /** For thinning denial and audit log lines (one per caller, service and rule per 10 s); default: the system clock. */
  clock?: Clock | undefined;
}

/** A decision on one request and how it was reported: see {@link decideInbound}. */
export interface InboundAuthz {
  /** The policy's decision; undefined when the request was refused before it (see `error`). */
  decision: AuthzDecision | undefined;
  /** How the caller is named in logs, metrics and the denial. */
  caller: string;
  /** The answer to send when the request must not go on (403, 400 or 503); undefined: relay it. */
  error: MeshletHttpError | undefined;
  /** Fields for the JSON error body. */
  details: Record<string, unknown>;
}

const limiters = new WeakMap<InboundAuthzContext, AuthzLogLimiter>();

type Decision = 'allowed' | 'denied' | 'audited' | 'refused';
/**
 * The decision counter's label children per context and caller label:
 * `labels()` checks and copies its arguments and binds a function on every
 * call, per request before this. Capped like the callers themselves (a
 * label per SPIFFE id of another trust domain).
 */
const counters = new WeakMap<InboundAuthzContext, Map<string, Partial<Record<Decision, { inc(): void }>>>>();
const MAX_COUNTED_CALLERS = 1000;

function count(ctx: InboundAuthzContext, caller: string, decision: Decision): void {
  const metric = ctx.metrics?.authzDecisions;
  if (metric === undefined) return;
  let byCaller = counters.get(ctx);
  if (byCaller === undefined) counters.set(ctx, (byCaller = new Map()));
  let children = byCaller.get(caller);
  if (children === undefined) {
    if (byCaller.size >= MAX_COUNTED_CALLERS) byCaller.clear();
    byCaller.set(caller, (children = {}));
  }
  (children[decision] ??= metric.labels(caller, ctx.service, decision)).inc();
}
const cut = (s: string) => s.slice(0, 512);

/** The target normalized, or why the policy cannot judge it. */
function judgedTarget(ctx: InboundAuthzContext, policy: AuthzPolicy, url: string): NormalizedTarget | MeshletHttpError {
  const target = normalizeTarget(url);
  if (!target.ok)
    return AgentErrors.BAD_REQUEST(
      `the request target ${JSON.stringify(cut(url))} cannot be checked against the authorization policy of ${ctx.service}: ${target.problem}; send an origin-form target such as "/orders"`,
    );
  if (target.escapedSlash && policy.rules.some((r) => r.paths !== undefined))
    return AgentErrors.BAD_REQUEST(
      `the path ${JSON.stringify(cut(target.path))} holds an encoded slash or backslash (%2F, %5C), which the path rules of ${ctx.service}'s authorization policy cannot judge; send "/" unencoded`,
    );
  return target;
}

/**
 * Decides an inbound request (a WebSocket upgrade too) and reports it:
 * counts it in `meshlet_agent_authz_decisions_total`, and logs a denial
 * (warn) or an audited one (info), one line per caller, service and rule
 * per 10 s with the count held back. With a policy in force the target is
 * normalized first (see normalizeTarget) and `req.url` rewritten to the
 * normalized form when it differs, so the app is sent exactly the path the
 * policy judged; a target that cannot be normalized, or an encoded slash
 * under path rules, is refused 400. With the policy unknown (no table for
 * the agent's own service yet) the request is refused 503.
 */
export function decideInbound(
  ctx: InboundAuthzContext,
  callerSpiffeId: string | undefined,
  req: IncomingMessage,
): InboundAuthz {
  const caller = authzCaller(callerSpiffeId, ctx.trustDomain());
  const details = { caller: caller.label, service: ctx.service };
  const method = req.method ?? 'GET';
  const policy = ctx.policy();
  if (policy === AUTHZ_POLICY_UNKNOWN) {
    count(ctx, caller.label, 'refused');
    const error = AgentErrors.AUTHZ_POLICY_UNKNOWN(
      `this agent has not received the routing table entry of its own service ${ctx.service} yet, so it cannot know its authorization policy; retry shortly (check that the agent is connected to the control plane)`,
    );
    return { decision: undefined, caller: caller.label, error, details };
  }
  let path = '';
  if (policy !== undefined) {
    const url = req.url ?? '/';
    const target = judgedTarget(ctx, policy, url);
    if (!('ok' in target)) {
      count(ctx, caller.label, 'refused');
      return { decision: undefined, caller: caller.label, error: target, details };
    }
    if (target.url !== url) req.url = target.url;
    path = target.path;
  }
  const decision = evaluateAuthz(policy, { caller, method, path });
  count(ctx, caller.label, decision.kind === 'allow' ? 'allowed' : decision.kind === 'deny' ? 'denied' : 'audited');
  if (decision.kind === 'allow') return { decision, caller: caller.label, error: undefined, details };
  let limiter = limiters.get(ctx);
  if (limiter === undefined) limiters.set(ctx, (limiter = new AuthzLogLimiter(ctx.clock ?? systemClock)));
  const admitted = limiter.admit(JSON.stringify([caller.label, ctx.service, decision.rule]));
  if (admitted.log) {
    // The path is the caller's text: bounded, so a denied flood cannot make each log line huge.
    const line = { ...details, rule: decision.rule, method, path: cut(path), suppressed: admitted.suppressed };
    if (decision.kind === 'deny') ctx.log.warn(line, `authorization denied: ${decision.reason}`);
    else ctx.log.info(line, `authorization audit: would deny: ${decision.reason}`);
  }
  if (decision.kind !== 'deny') return { decision, caller: caller.label, error: undefined, details };
  const error = AgentErrors.AUTHZ_DENIED(
    `${caller.label} may not call ${ctx.service} (${method} ${cut(req.url ?? '/')}): rule ${decision.rule}: ${decision.reason}`,
  );
  return { decision, caller: caller.label, error, details: { ...details, rule: decision.rule } };
}

/**
 * The inbound listener's authorization step: call it with the caller's
 * verified SPIFFE id (undefined for a plaintext caller in permissive mode)
 * before relaying a request to the app. Returns true when the request may
 * go on (allowed, or only audited); false when it was already answered:
 * 403 `MESHLET_AUTHZ_DENIED` naming the caller, the service and the rule;
 * 400 `MESHLET_BAD_REQUEST` for a target the policy cannot judge; 503
 * `MESHLET_AUTHZ_POLICY_UNKNOWN` (with `retry-after: 1`) while the agent has
 * no table entry for its own service.
 */
export function authorizeInbound(
  ctx: InboundAuthzContext,
  callerSpiffeId: string | undefined,
  req: IncomingMessage,
  res: ServerResponse,
): boolean {
  const { error, details } = decideInbound(ctx, callerSpiffeId, req);
  if (error === undefined) return true;
  if (error.code === AgentErrors.AUTHZ_POLICY_UNKNOWN.code && !res.headersSent) res.setHeader('retry-after', '1');
  sendJsonError(res, error, details);
  return false;
}
