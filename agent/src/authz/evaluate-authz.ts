import { AUTHZ_ANY_AUTHENTICATED, AUTHZ_UNAUTHENTICATED, type AuthzPolicy, type AuthzRule } from '@meshlet/shared';
import { type AuthzDecision, NO_ALLOW_RULE_MATCHED } from './authz-decision.js';
import type { AuthzCaller } from './authz-caller.js';

/** One inbound request as a policy sees it. */
export interface AuthzRequest {
  /** Who calls: see {@link AuthzCaller}. */
  caller: AuthzCaller;
  /** Upper case, as sent. */
  method: string;
  /** Normalized (see normalizeTarget). */
  path: string;
}

function callerMatches(from: readonly string[] | undefined, caller: AuthzCaller): boolean {
  if (from === undefined) return true;
  for (const p of from) {
    if (p === AUTHZ_UNAUTHENTICATED) {
      if (caller.spiffeId === undefined) return true;
    } else if (p === AUTHZ_ANY_AUTHENTICATED) {
      // Any mesh workload: a verified id of this mesh's trust domain; one of another domain is named by its id.
      if (caller.service !== undefined) return true;
    } else if (p.startsWith('spiffe://')) {
      if (caller.spiffeId === p) return true;
    } else if (caller.service === p) {
      return true;
    }
  }
  return false;
}

function pathMatches(paths: readonly string[] | undefined, path: string): boolean {
  return paths === undefined || paths.some((prefix) => path.startsWith(prefix));
}

function ruleMatches(rule: AuthzRule, request: AuthzRequest): boolean {
  return (
    callerMatches(rule.from, request.caller) &&
    (rule.methods === undefined || rule.methods.includes(request.method)) &&
    pathMatches(rule.paths, request.path)
  );
}

const ALLOW: AuthzDecision = { kind: 'allow' };

/**
 * Decides one inbound request, as Istio evaluates an AuthorizationPolicy:
 * a matching `deny` rule denies (the first one names the denial); otherwise,
 * when the policy has `allow` rules, the request must match one of them;
 * a policy with only `deny` rules allows the rest, and no policy allows
 * every caller (the service's mTLS mode already decided who gets this far).
 * In `audit` mode a denial becomes `audit-deny`: reported, not enforced.
 * Pure: same policy and request, same answer.
 */
export function evaluateAuthz(policy: AuthzPolicy | undefined, request: AuthzRequest): AuthzDecision {
  if (policy === undefined) return ALLOW;
  const kind = policy.mode === 'audit' ? 'audit-deny' : 'deny';
  // The schema refuses an empty rules list; should one get here, it allows nothing, as in Istio.
  if (policy.rules.length === 0) return { kind, rule: NO_ALLOW_RULE_MATCHED, reason: 'the policy has no rules' };
  let hasAllow = false;
  for (const [i, rule] of policy.rules.entries()) {
    if (rule.action === 'allow') {
      hasAllow = true;
      continue;
    }
    if (ruleMatches(rule, request)) {
      return { kind, rule: rule.name ?? `rules[${i}]`, reason: 'a deny rule matched' };
    }
  }
  if (!hasAllow) return ALLOW;
  for (const rule of policy.rules) if (rule.action === 'allow' && ruleMatches(rule, request)) return ALLOW;
  return { kind, rule: NO_ALLOW_RULE_MATCHED, reason: 'no allow rule matched the caller, method and path' };
}
