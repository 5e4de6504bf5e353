import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AuthzPolicy, Logger } from '@meshlet/shared';
import { AgentErrors } from '../errors.js';
import { sendJsonError } from '../listener/json-error.js';
import type { AgentMetrics } from '../metrics.js';
import type { AuthzDecision } from './authz-decision.js';
import { authzCaller } from './authz-caller.js';
import { evaluateAuthz } from './evaluate-authz.js';
import { normalizeTarget } from './normalize-path.js';

/** What {@link authorizeInbound} needs from the agent. */
export interface InboundAuthzContext {
  /** The service this agent fronts: the callee. */
  service: string;
  /**
   * The service's authorization policy in force, read per request: the
   * `authz` of the agent's own service in its routing table
   * (`table?.routes.services[service]?.authz`); undefined: none.
   */
  policy: () => AuthzPolicy | undefined;
  /** The mesh's trust domain; given, a caller of another domain is no mesh workload. */
  trustDomain?: string | undefined;
  metrics?: Pick<AgentMetrics, 'authzDecisions'> | undefined;
  log: Logger;
}

/** A decision on one request and how it was reported: see {@link decideInbound}. */
export interface InboundAuthz {
  decision: AuthzDecision;
  /** How the caller is named in logs, metrics and the denial. */
  caller: string;
}

/**
 * Decides an inbound request (a WebSocket upgrade too) and reports it: counts
 * it in `meshlet_agent_authz_decisions_total`, and logs a denial (warn) or an
 * audited one (info). With a policy in force the request's target is
 * normalized first, and `req.url` rewritten to the normalized form when it
 * differs, so the app is sent exactly the path the policy judged.
 */
export function decideInbound(
  ctx: InboundAuthzContext,
  callerSpiffeId: string | undefined,
  req: IncomingMessage,
): InboundAuthz {
  const caller = authzCaller(callerSpiffeId, ctx.trustDomain);
  const policy = ctx.policy();
  let path = '';
  if (policy !== undefined) {
    const target = normalizeTarget(req.url ?? '/');
    if (target.url !== req.url) req.url = target.url;
    path = target.path;
  }
  const method = req.method ?? 'GET';
  const decision = evaluateAuthz(policy, { caller, method, path });
  const label = decision.kind === 'allow' ? 'allowed' : decision.kind === 'deny' ? 'denied' : 'audited';
  ctx.metrics?.authzDecisions.labels(caller.label, ctx.service, label).inc();
  if (decision.kind !== 'allow') {
    // The path is the caller's text: bounded, so a denied flood cannot make each log line huge.
    const line = { caller: caller.label, service: ctx.service, rule: decision.rule, method, path: path.slice(0, 512) };
    if (decision.kind === 'deny') ctx.log.warn(line, `authorization denied: ${decision.reason}`);
    else ctx.log.info(line, `authorization audit: would deny: ${decision.reason}`);
  }
  return { decision, caller: caller.label };
}

/**
 * The inbound listener's authorization step: call it with the caller's
 * verified SPIFFE id (undefined for a plaintext caller in permissive mode)
 * before relaying a request to the app. Returns true when the request may
 * go on (allowed, or only audited); false when it was denied and already
 * answered 403 `MESHLET_AUTHZ_DENIED`, naming the caller, the service and
 * the rule.
 */
export function authorizeInbound(
  ctx: InboundAuthzContext,
  callerSpiffeId: string | undefined,
  req: IncomingMessage,
  res: ServerResponse,
): boolean {
  const { decision, caller } = decideInbound(ctx, callerSpiffeId, req);
  if (decision.kind !== 'deny') return true;
  sendJsonError(
    res,
    AgentErrors.AUTHZ_DENIED(
      `${caller} may not call ${ctx.service} (${req.method ?? 'GET'} ${(req.url ?? '/').slice(0, 512)}): rule ${decision.rule}: ${decision.reason}`,
    ),
    { caller, service: ctx.service, rule: decision.rule },
  );
  return false;
}
