import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { ApiErrors } from '../errors.js';
import { installApiErrors } from './api-errors.js';

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
});
