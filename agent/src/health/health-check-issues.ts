import type { AgentConfig, ValidationIssue } from '@meshlet/shared';

const ROLE_KINDS = 'postgres, redis, exec (printing primary or replica), or http with rolePaths';

/**
 * The combinations of `instance.healthCheck` (and `instance.failover`) the
 * schema cannot refuse field by field: a setting of one kind given with
 * another (it would be ignored without a word), an exec check without a
 * command, a password variable that is not set, a failover instance whose
 * check reports no role. Each issue names the field and the fix.
 */
export function healthCheckIssues(
  instance: AgentConfig['instance'],
  env: NodeJS.ProcessEnv = process.env,
): ValidationIssue[] {
  if (!instance) return [];
  const hc = instance.healthCheck;
  const at = (field: string) => `instance.healthCheck.${field}`;
  const issues: ValidationIssue[] = [];
  const onlyFor = (field: string, set: boolean, kinds: readonly string[], fix: string) => {
    if (set && !kinds.includes(hc.kind))
      issues.push({
        path: at(field),
        problem: `is set, but it applies only to kind ${kinds.join(' or ')}, and kind is ${hc.kind}`,
        fix,
      });
  };
  if (hc.kind === 'exec' && (hc.command === undefined || hc.command.length === 0))
    issues.push({
      path: at('command'),
      problem: 'is missing, and kind exec runs it',
      fix: 'give the program and its arguments as a list (no shell), such as [/usr/bin/pg_isready, -h, 127.0.0.1]',
    });
  onlyFor('command', hc.command !== undefined, ['exec'], 'remove command, or set kind: exec');
  onlyFor('rolePaths', hc.rolePaths !== undefined, ['http'], 'remove rolePaths, or set kind: http');
  onlyFor('expectStatus', hc.expectStatus !== undefined, ['http'], 'remove expectStatus, or set kind: http');
  onlyFor('service', hc.service !== '', ['grpc'], 'remove service, or set kind: grpc');
  onlyFor(
    'passwordEnv',
    hc.passwordEnv !== undefined,
    ['postgres', 'redis'],
    'remove passwordEnv, or set kind: postgres or redis',
  );
  if (hc.passwordEnv !== undefined && ['postgres', 'redis'].includes(hc.kind) && env[hc.passwordEnv] === undefined)
    issues.push({
      path: at('passwordEnv'),
      problem: `names the environment variable ${hc.passwordEnv}, which is not set in the agent's environment`,
      fix: `set ${hc.passwordEnv} in the agent's environment (an empty value for no password), or remove passwordEnv`,
    });
  const reportsRole = ['postgres', 'redis', 'exec'].includes(hc.kind) || (hc.kind === 'http' && hc.rolePaths);
  if (instance.failover && !reportsRole)
    issues.push({
      path: at('kind'),
      problem: `is ${hc.kind}${hc.kind === 'http' ? ' without rolePaths' : ''}, which reports no role, but instance.failover needs the check to say when this instance is the primary`,
      fix: `use a check that reports a role: ${ROLE_KINDS}`,
    });
  return issues;
}
