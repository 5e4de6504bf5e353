import { createLogger } from '@meshlet/shared';
import type { FastifyInstance } from 'fastify';
import { describe, expect, it } from 'vitest';
import { JoinCredentialStore } from '../join/join-credential-store.js';
import { MemoryStore } from '../store/test-support/memory-store.js';
import { useApiApps } from './test-support/api-app.js';
import { registerJoinCredentialRoutes } from './join-credential-routes.js';

// The mint body is checked strictly, as every admin body is (installApiErrors' validator):
// a typo'd field or a value of another type is refused, never dropped or coerced.

const apiApp = useApiApps();

function server() {
  const app = apiApp();
  const credentials = new JoinCredentialStore(new MemoryStore(), () => Date.parse('2026-12-04T12:00:00.000Z'));
  registerJoinCredentialRoutes(app, { credentials, revoked: () => {}, log: createLogger('test', 'silent') });
  return { app, credentials };
}

const mint = (app: FastifyInstance, payload: unknown) =>
  app.inject({ method: 'POST', url: '/v1/join-credentials', payload: payload as object });

describe('POST /v1/join-credentials', () => {
  it('mints with a valid body', async () => {
    const { app, credentials } = server();
    const r = await mint(app, { service: 'orders', ttl: '1h' });
    expect(r.statusCode).toBe(201);
    expect(r.json()).toMatchObject({ service: 'orders', expiresAt: '2026-12-04T13:00:00.000Z' });
    expect(credentials.list()).toHaveLength(1);
  });

  it("refuses a typo'd field (tll for ttl) with 400 naming it, and mints nothing", async () => {
    const { app, credentials } = server();
    const r = await mint(app, { service: 'orders', tll: '1h' });
    expect(r.statusCode).toBe(400);
    expect(r.json().error.code).toBe('MESHLET_API_INVALID');
    expect(JSON.stringify(r.json())).toContain('tll');
    expect(credentials.list()).toHaveLength(0);
  });

  it('refuses a number for service rather than coercing it to a string, naming the field', async () => {
    const { app, credentials } = server();
    const r = await mint(app, { service: 123 });
    expect(r.statusCode).toBe(400);
    expect(r.json().error).toMatchObject({ code: 'MESHLET_API_INVALID', field: 'service' });
    expect(credentials.list()).toHaveLength(0);
  });

  it('refuses to mint for the reserved service unauthenticated (a workload posing as the plaintext callers of a policy)', async () => {
    const { app, credentials } = server();
    const r = await mint(app, { service: 'unauthenticated' });
    expect(r.statusCode).toBe(400);
    expect(r.json().error).toMatchObject({ code: 'MESHLET_API_INVALID', field: 'service' });
    expect(r.json().error.message).toMatch(/reserved.*pick another service name/);
    expect(credentials.list()).toHaveLength(0);
  });
});
