import type { Logger } from '@meshlet/shared';
import type { FastifyInstance } from 'fastify';
import type { Coordination } from '../coordination/coordination.js';
import { installCoordinationGuard } from './coordination-guard.js';
import { registerElectionRoutes } from './election-routes.js';
import { registerLockRoutes } from './lock-routes.js';

/**
 * The app's coordination API on the admin listener: locks and elections,
 * answering the app on the agent's host only (see
 * {@link installCoordinationGuard}).
 */
export function registerCoordinationRoutes(app: FastifyInstance, coordination: Coordination, log: Logger): void {
  installCoordinationGuard(app, log);
  registerLockRoutes(app, coordination);
  registerElectionRoutes(app, coordination);
}
