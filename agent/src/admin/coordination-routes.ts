import type { Logger } from '@meshlet/shared';
import type { FastifyInstance } from 'fastify';
import type { Coordination } from '../coordination/coordination.js';
import { installCoordinationGuard } from './coordination-guard.js';
import { registerElectionRoutes } from './election-routes.js';
import { registerLockRoutes } from './lock-routes.js';

/**
 * The app's coordination API on the admin listener: locks and elections,
 * answering the app on the agent's host only (see
 * {@link installCoordinationGuard}). The routes live in a plugin of their
 * own (fastify encapsulation) whose `onRequest` hook guards each of them as
 * the router matched it: a guard that tested the raw URL was walked round
 * with a percent-encoded path (`/v1/%6cocks/x`), which the router decodes.
 */
export function registerCoordinationRoutes(app: FastifyInstance, coordination: Coordination, log: Logger): void {
  void app.register(async (scope) => {
    installCoordinationGuard(scope, log);
    registerLockRoutes(scope, coordination);
    registerElectionRoutes(scope, coordination);
  });
}
