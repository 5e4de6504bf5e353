import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { ApiErrors } from '../errors.js';
import { apiFrameworkErrors, installApiErrors } from './api-errors.js';

describe('installApiErrors', () => {
  it('answers an API error a handler throws with the code and status bound to it', async () => {
    const app = Fastify();
    installApiErrors(app);
    app.get('/missing', async () => {
      throw ApiErrors.NOT_FOUND('no such service "orders"');
    });
    app.get('/stale', async () => {
      throw ApiErrors.CONFLICT('resourceVersion 3 is stale');
    });
    const missing = await app.inject({ method: 'GET', url: '/missing' });
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toEqual({ error: { code: 'MESHLET_NOT_FOUND', message: 'no such service "orders"' } });
    const stale = await app.inject({ method: 'GET', url: '/stale' });
    expect(stale.statusCode).toBe(409);
    expect(stale.json().error.code).toBe('MESHLET_CONFLICT');
    await app.close();
  });

  it('keeps the status fastify chose for its own refusals', async () => {
    const app = Fastify();
    installApiErrors(app);
    app.post('/things', async () => ({ ok: true }));
    const answer = await app.inject({
      method: 'POST',
      url: '/things',
      headers: { 'content-type': 'text/csv' },
      payload: 'a,b',
    });
    expect(answer.statusCode).toBe(415);
    expect(answer.json().error.code).toBe('MESHLET_API_INVALID');
    await app.close();
  });

  // Found by the admin API fuzz test (admin-api.fuzz.test.ts): fastify answered these in its own shape.
  it.each([
    ['a broken percent-encoding in the path', '/v1/services/%zz/failover', 400, /%25 for "%"/],
    ['a path parameter over the length limit', `/v1/services/${'x'.repeat(5000)}/failover`, 414, /too long/],
  ])('answers %s with MESHLET_API_INVALID naming the path', async (_attack, url, status, fix) => {
    const app = Fastify({ frameworkErrors: apiFrameworkErrors });
    installApiErrors(app);
    app.post('/v1/services/:name/failover', async () => ({ ok: true }));
    const answer = await app.inject({ method: 'POST', url });
    expect(answer.statusCode).toBe(status);
    expect(answer.json().error).toMatchObject({ code: 'MESHLET_API_INVALID', field: 'path', message: fix });
    await app.close();
  });
});
