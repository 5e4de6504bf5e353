import { compileValidator } from '../validation.js';
import { AuthzPolicy } from './authz-policy.js';
import { authzPolicyIssues } from './authz-policy-issues.js';

const validate = compileValidator(AuthzPolicy, { useDefaults: true });

/**
 * A complete authorization policy from a partial one (defaults filled in).
 * Throws, naming the fields and the fix, when the input is not a valid
 * policy: the schema's checks, then {@link authzPolicyIssues}.
 */
export function resolveAuthzPolicy(partial: unknown = {}): AuthzPolicy {
  const copy: unknown = structuredClone(partial ?? {});
  const result = validate(copy);
  const issues = result.ok ? authzPolicyIssues(result.value) : result.issues;
  if (!result.ok || issues.length > 0)
    throw new Error(
      `invalid authorization policy: ${issues.map((i) => `${i.path || '(root)'} ${i.problem} (${i.fix})`).join('; ')}`,
    );
  return result.value;
}
