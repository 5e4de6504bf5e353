import type { Pool } from 'undici';
import { GrpcHealthCheck } from './grpc-health-check.js';
import type { HealthCheck } from './health-check.js';
import { HttpHealthCheck } from './http-health-check.js';

/** The check `instance.healthCheck` names: `GET path` through the app's pool, or gRPC Health/Check over h2c. */
export function createHealthCheck(
  config: { kind: 'http' | 'grpc'; path: string; service: string; timeoutMs: number },
  app: { host: string; port: number },
  pool: Pool,
): HealthCheck {
  return config.kind === 'grpc'
    ? new GrpcHealthCheck(app, config.service, config.timeoutMs)
    : new HttpHealthCheck(pool, config.path, config.timeoutMs);
}
