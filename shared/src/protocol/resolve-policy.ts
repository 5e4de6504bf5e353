import { compileValidator } from '../validation.js';
import { ServicePolicy } from './policy.js';

const validate = compileValidator(ServicePolicy, { useDefaults: true });

/**
 * A complete policy from a partial one: every absent field gets its
 * default. Throws, naming the fields, when the input is not a valid policy.
 */
export function resolvePolicy(partial: unknown = {}): ServicePolicy {
  const copy: unknown = structuredClone(partial ?? {});
  const result = validate(copy);
  if (!result.ok)
    throw new Error(
      `invalid service policy: ${result.issues.map((i) => `${i.path || '(root)'} ${i.problem}`).join('; ')}`,
    );
  return result.value;
}
