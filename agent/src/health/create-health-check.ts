import type { AgentConfig } from '@meshlet/shared';
import type { Pool } from 'undici';
import { GrpcHealthCheck } from './grpc-health-check.js';
import type { HealthCheck } from './health-check.js';
import { HttpHealthCheck } from './http-health-check.js';

/** `instance.healthCheck` of the agent's config. */
export type HealthCheckSettings = NonNullable<AgentConfig['instance']>['healthCheck'];

/** The check `instance.healthCheck` names: `GET path` through the app's pool, or gRPC Health/Check over h2c. */
export function createHealthCheck(
  config: HealthCheckSettings,
  app: { host: string; port: number },
  pool: Pool,
): HealthCheck {
  switch (config.kind) {
    case 'grpc':
      return new GrpcHealthCheck(app, config.service, config.timeoutMs);
    case 'http':
      return new HttpHealthCheck(pool, config.path, config.timeoutMs);
    default:
      throw new Error(`health check kind ${config.kind} is not built yet`);
  }
}
