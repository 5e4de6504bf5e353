import type { AgentConfig } from '@meshlet/shared';
import { describe, expect, it } from 'vitest';
import { healthCheckIssues } from './health-check-issues.js';

const DEFAULTS = {
  path: '/healthz',
  service: '',
  user: 'postgres',
  database: 'postgres',
  intervalMs: 1000,
  timeoutMs: 500,
};
function instanceWith(healthCheck: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  return {
    service: 'pg',
    app: { host: '127.0.0.1', port: 5432 },
    healthCheck: { kind: 'http', ...DEFAULTS, healthyThreshold: 2, unhealthyThreshold: 3, ...healthCheck },
    ...extra,
  } as unknown as NonNullable<AgentConfig['instance']>;
}

describe('healthCheckIssues', () => {
  it('accepts each kind with its own settings', () => {
    expect(healthCheckIssues(instanceWith({ kind: 'exec', command: ['/bin/true'] }))).toEqual([]);
    expect(healthCheckIssues(instanceWith({ kind: 'postgres', passwordEnv: 'PGPASS' }), { PGPASS: '' })).toEqual([]);
    expect(healthCheckIssues(instanceWith({ kind: 'http', rolePaths: { primary: '/primary' } }))).toEqual([]);
    expect(healthCheckIssues(instanceWith({ kind: 'tcp' }))).toEqual([]);
  });

  it('names the field and the fix for each bad combination', () => {
    const paths = (hc: Record<string, unknown>, extra?: Record<string, unknown>) =>
      healthCheckIssues(instanceWith(hc, extra), {}).map((i) => i.path);
    expect(paths({ kind: 'exec' })).toEqual(['instance.healthCheck.command']);
    expect(paths({ kind: 'grpc', rolePaths: { primary: '/p' } })).toEqual(['instance.healthCheck.rolePaths']);
    expect(paths({ kind: 'tcp', command: ['/bin/true'] })).toEqual(['instance.healthCheck.command']);
    expect(paths({ kind: 'redis', expectStatus: [200] })).toEqual(['instance.healthCheck.expectStatus']);
    expect(paths({ kind: 'http', passwordEnv: 'X' })).toEqual(['instance.healthCheck.passwordEnv']);
    expect(paths({ kind: 'postgres', passwordEnv: 'UNSET_VAR' })).toEqual(['instance.healthCheck.passwordEnv']);
    expect(paths({ kind: 'tcp', service: 'x' })).toEqual(['instance.healthCheck.service']);
    expect(paths({ kind: 'http' }, { failover: { promote: { command: ['/bin/true'] } } })).toEqual([
      'instance.healthCheck.kind',
    ]);
    const [issue] = healthCheckIssues(instanceWith({ kind: 'grpc', rolePaths: { primary: '/p' } }));
    expect(issue?.problem).toContain('applies only to kind http, and kind is grpc');
    expect(issue?.fix).toBe('remove rolePaths, or set kind: http');
  });
});
