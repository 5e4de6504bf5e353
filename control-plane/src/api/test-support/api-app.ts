import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach } from 'vitest';
import { installApiErrors } from '../api-errors.js';

/**
 * For route tests in process: a function that makes a Fastify app with the
 * admin API's validator and errors installed (as the control plane has
 * them), every app it made closed after each test.
 */
export function useApiApps(): () => FastifyInstance {
  const apps: FastifyInstance[] = [];
  afterEach(async () => {
    for (const app of apps.splice(0)) await app.close();
  });
  return () => {
    const app = Fastify();
    apps.push(app);
    installApiErrors(app);
    return app;
  };
}
