import { compileValidator } from '../validation.js';
import { AuthzPolicy } from './authz-policy.js';

const validate = compileValidator(AuthzPolicy, { useDefaults: true });

/**
 * A complete authorization policy from a partial one (defaults filled in).
 * Throws, naming the fields and the fix, when the input is not a valid policy.
 */
export function resolveAuthzPolicy(partial: unknown = {}): AuthzPolicy {
  const copy: unknown = structuredClone(partial ?? {});
  const result = validate(copy);
  if (!result.ok)
    throw new Error(
      `invalid authorization policy: ${result.issues.map((i) => `${i.path || '(root)'} ${i.problem} (${i.fix})`).join('; ')}`,
    );
  return result.value;
}
