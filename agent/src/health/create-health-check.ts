import type { AgentConfig } from '@meshlet/shared';
import type { Pool } from 'undici';
import { ExecHealthCheck, execCheckEnv } from './exec-health-check.js';
import { GrpcHealthCheck } from './grpc-health-check.js';
import type { HealthCheck } from './health-check.js';
import { HttpHealthCheck } from './http-health-check.js';
import { PostgresHealthCheck } from './postgres-health-check.js';
import { RedisHealthCheck } from './redis-health-check.js';
import { TcpHealthCheck } from './tcp-health-check.js';

/** `instance.healthCheck` of the agent's config. */
export type HealthCheckSettings = NonNullable<AgentConfig['instance']>['healthCheck'];

/** What a check needs beside its settings: the agent's environment (passwords, `PATH`) and the instance's names. */
export interface HealthCheckContext {
  env?: NodeJS.ProcessEnv;
  service?: string;
  instanceId?: string | undefined;
}

/**
 * The check `instance.healthCheck` names (settings already checked by
 * {@link healthCheckIssues}): HTTP through the app's pool, gRPC over h2c,
 * a TCP connect, a program, PostgreSQL or Redis on the app's host and port.
 */
export function createHealthCheck(
  config: HealthCheckSettings,
  app: { host: string; port: number },
  pool: Pool,
  context: HealthCheckContext = {},
): HealthCheck {
  const env = context.env ?? process.env;
  const password = config.passwordEnv !== undefined ? env[config.passwordEnv] : undefined;
  switch (config.kind) {
    case 'grpc':
      return new GrpcHealthCheck(app, config.service, config.timeoutMs);
    case 'http':
      return new HttpHealthCheck(
        pool,
        { path: config.path, expectStatus: config.expectStatus, rolePaths: config.rolePaths },
        config.timeoutMs,
      );
    case 'tcp':
      return new TcpHealthCheck(app, config.timeoutMs);
    case 'exec':
      return new ExecHealthCheck(
        config.command ?? [],
        config.timeoutMs,
        execCheckEnv(env, { service: context.service ?? '', id: context.instanceId, app }),
      );
    case 'postgres':
      return new PostgresHealthCheck(
        { host: app.host, port: app.port, user: config.user, database: config.database, password },
        config.timeoutMs,
      );
    case 'redis':
      return new RedisHealthCheck({ host: app.host, port: app.port, password }, config.timeoutMs);
  }
}
