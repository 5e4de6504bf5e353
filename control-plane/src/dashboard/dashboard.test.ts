import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { installApiErrors } from '../api/api-errors.js';
import { DASHBOARD_STATIC_DIR, registerDashboard } from './dashboard.js';

describe('registerDashboard', () => {
  let app: FastifyInstance;
  afterEach(async () => {
    await app?.close();
  });

  const start = async () => {
    app = Fastify();
    installApiErrors(app);
    registerDashboard(app);
    await app.ready();
    return app;
  };

  it('serves the page at / with a strict content security policy', async () => {
    const res = await (await start()).inject({ url: '/' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(res.headers['content-security-policy']).toContain("script-src 'self'");
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.body).toContain('/dashboard/assets/app.js');
  });

  it('serves every script the page imports, and uPlot from the installed package', async () => {
    await start();
    const files = readdirSync(DASHBOARD_STATIC_DIR).filter((f) => f !== 'index.html');
    for (const f of files) {
      const res = await app.inject({ url: `/dashboard/assets/${f}` });
      expect(res.statusCode, f).toBe(200);
      expect(res.body).toBe(readFileSync(join(DASHBOARD_STATIC_DIR, f), 'utf8'));
      // Every relative import names a file that is served.
      for (const m of res.body.matchAll(/from '\.\/([^']+)'/g)) {
        expect((await app.inject({ url: `/dashboard/assets/${m[1]}` })).statusCode, `${f} imports ${m[1]}`).toBe(200);
      }
    }
    const js = await app.inject({ url: '/dashboard/assets/uplot/uPlot.esm.js' });
    expect(js.statusCode).toBe(200);
    expect(js.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(js.body).toContain('export');
    expect((await app.inject({ url: '/dashboard/assets/uplot/uPlot.min.css' })).headers['content-type']).toBe(
      'text/css; charset=utf-8',
    );
  });

  it('answers 404 for anything not on its list, including a path that climbs out', async () => {
    await start();
    for (const url of [
      '/dashboard/assets/nope.js',
      '/dashboard/assets/../package.json',
      '/dashboard/assets/%2e%2e/%2e%2e/package.json',
      '/dashboard/assets/uplot/uPlot.cjs.js',
    ]) {
      const res = await app.inject({ url });
      expect(res.statusCode, url).toBe(404);
      expect(res.json().error.code).toBe('MESHLET_NOT_FOUND');
    }
  });

  it('fails at start, naming the file, when an asset is missing', () => {
    const empty = mkdtempSync(join(tmpdir(), 'meshlet-dashboard-'));
    try {
      app = Fastify();
      expect(() => registerDashboard(app, { staticDir: empty })).toThrow(/cannot read .*index\.html: reinstall/);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
