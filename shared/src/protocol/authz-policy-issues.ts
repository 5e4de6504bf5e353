import { normalizePath } from '../authz/normalize-target.js';
import type { ValidationIssue } from '../errors.js';
import { parseSpiffeId } from '../identity/spiffe-id.js';
import { AUTHZ_UNAUTHENTICATED, type AuthzPolicy } from './authz-policy.js';

/**
 * What the schema cannot check in a policy that passed it: each SPIFFE id
 * in `from` must be a meshlet id (`spiffe://<trustDomain>/svc/<service>`,
 * parsed by parseSpiffeId) and not name the reserved service
 * `unauthenticated`; each path prefix must already be normalized (as
 * requests are before they are matched: see normalizeTarget), or it could
 * never match. `prefix` goes before each field path, such as `policy.`.
 */
export function authzPolicyIssues(policy: AuthzPolicy, prefix = ''): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  for (const [i, rule] of policy.rules.entries()) {
    for (const [j, principal] of (rule.from ?? []).entries()) {
      if (!principal.startsWith('spiffe://')) continue;
      const path = `${prefix}rules.${i}.from.${j}`;
      try {
        if (parseSpiffeId(principal, path).service === AUTHZ_UNAUTHENTICATED)
          issues.push({
            path,
            problem: `names the reserved service "${AUTHZ_UNAUTHENTICATED}"`,
            fix: `write "${AUTHZ_UNAUTHENTICATED}" alone for plaintext callers`,
          });
      } catch (e) {
        issues.push({
          path,
          problem: `is not a meshlet SPIFFE id: ${(e as Error).message}`,
          fix: 'use the form spiffe://<trustDomain>/svc/<service>, such as "spiffe://meshlet.local/svc/web"',
        });
      }
    }
    for (const [j, p] of (rule.paths ?? []).entries()) {
      const normalized = normalizePath(p);
      if (normalized.path !== p)
        issues.push({
          path: `${prefix}rules.${i}.paths.${j}`,
          problem: `is not normalized: requests are matched in normalized form, in which it reads ${JSON.stringify(normalized.path)}`,
          fix: `write ${JSON.stringify(normalized.path)}`,
        });
      else if (normalized.escapedSlash)
        issues.push({
          path: `${prefix}rules.${i}.paths.${j}`,
          problem: 'holds an encoded slash or backslash (%2F, %5C), which requests under path rules are refused for',
          fix: 'write "/" unencoded',
        });
    }
  }
  return issues;
}
