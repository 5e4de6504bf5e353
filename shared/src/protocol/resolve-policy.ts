import { compileValidator } from '../validation.js';
import { ServicePolicy } from './policy.js';
import { shardingPolicyIssues } from './sharding-policy.js';

const validate = compileValidator(ServicePolicy, { useDefaults: true });

/**
 * A complete policy from a partial one: every absent field gets its
 * default. Throws, naming the fields, when the input is not a valid policy
 * (the schema's checks, then {@link shardingPolicyIssues}).
 */
export function resolvePolicy(partial: unknown = {}): ServicePolicy {
  const copy: unknown = structuredClone(partial ?? {});
  const result = validate(copy);
  const issues = result.ok
    ? result.value.sharding
      ? shardingPolicyIssues(result.value.sharding, 'sharding.')
      : []
    : result.issues;
  if (!result.ok || issues.length > 0)
    throw new Error(`invalid service policy: ${issues.map((i) => `${i.path || '(root)'} ${i.problem}`).join('; ')}`);
  return result.value;
}
