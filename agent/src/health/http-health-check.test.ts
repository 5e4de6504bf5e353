import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Pool } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpHealthCheck } from './http-health-check.js';

// A real HTTP app that answers Patroni's way: /primary 200 on the primary, /replica 200 on a replica, 503 otherwise.
let role: 'primary' | 'replica' | 'down' = 'primary';
const server = createServer((req, res) => {
  if (req.url === '/healthz') res.writeHead(204).end();
  else res.writeHead(req.url === `/${role}` ? 200 : 503).end();
});
let pool: Pool;

beforeAll(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  pool = new Pool(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
});
afterAll(async () => {
  await pool.close();
  server.close();
});

describe('HttpHealthCheck', () => {
  it('follows role paths: primary, then replica, else unhealthy', async () => {
    const check = new HttpHealthCheck(
      pool,
      { path: '/healthz', rolePaths: { primary: '/primary', replica: '/replica' } },
      2_000,
    );
    role = 'primary';
    expect(await check.probe()).toEqual({ ok: true, role: 'primary', detail: 'GET /primary answered 200' });
    role = 'replica';
    expect(await check.probe()).toEqual({
      ok: true,
      role: 'replica',
      detail: 'GET /primary answered 503; GET /replica answered 200',
    });
    role = 'down';
    expect(await check.probe()).toEqual({ ok: false, detail: 'GET /primary answered 503; GET /replica answered 503' });
  });

  it('without a replica path, a failing primary path is unhealthy', async () => {
    const check = new HttpHealthCheck(pool, { path: '/healthz', rolePaths: { primary: '/primary' } }, 2_000);
    role = 'replica';
    expect(await check.probe()).toEqual({ ok: false, detail: 'GET /primary answered 503' });
  });

  it('passes only the expected statuses when given', async () => {
    expect((await new HttpHealthCheck(pool, '/healthz', 2_000).probe()).ok).toBe(true);
    const strict = new HttpHealthCheck(pool, { path: '/healthz', expectStatus: [200] }, 2_000);
    expect(await strict.probe()).toEqual({ ok: false, detail: 'GET /healthz answered 204' });
    role = 'down';
    const standby = new HttpHealthCheck(pool, { path: '/primary', expectStatus: [503] }, 2_000);
    expect((await standby.probe()).ok).toBe(true);
  });
});
