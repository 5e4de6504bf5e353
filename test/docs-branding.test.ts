import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumPath, launchChromium } from './harness/chromium.js';
import { httpRequest } from './harness/http.js';
import { type ControlPlaneHandle, withMesh } from './harness/mesh.js';

// What a new user found at /docs (issue 17): Swagger's stock top bar, logo
// and "Swagger UI" title, and "Default Response" (no description, no
// schema) for /healthz and /metrics.

interface OpenApiResponse {
  description?: string;
  content?: Record<string, { schema?: { type?: string; properties?: Record<string, unknown> } }>;
}
interface OpenApiDoc {
  info: { title: string };
  paths: Record<string, { get: { security?: unknown[]; responses: Record<string, OpenApiResponse> } }>;
}

describe('/docs: meshlet branding, and real answers for /healthz and /metrics', () => {
  const mesh = withMesh();
  let cp: ControlPlaneHandle;

  beforeAll(async () => {
    cp = await mesh.controlPlane();
  });

  afterAll(async () => {
    await cp.proc.stop();
  });

  it('docs show Default Response: the OpenAPI document describes /healthz (JSON, no token) and /metrics (Prometheus text)', async () => {
    const doc = (await httpRequest(cp.port, '/docs/json')).json() as OpenApiDoc;
    expect(doc.info.title).toBe('meshlet admin API');

    const healthz = doc.paths['/healthz']?.get;
    expect(healthz?.security).toEqual([]);
    const ok = healthz?.responses['200'];
    expect(ok?.description).toBe('The process is up');
    expect(ok?.content?.['application/json']?.schema).toMatchObject({
      type: 'object',
      properties: { status: { type: 'string', enum: ['ok'] } },
    });

    const metrics = doc.paths['/metrics']?.get.responses['200'];
    expect(metrics?.description).toMatch(/Prometheus text exposition/);
    expect(Object.keys(metrics?.content ?? {})).toEqual(['text/plain']);
    expect(metrics?.content?.['text/plain']?.schema?.type).toBe('string');

    // The schemas describe what the routes answer, and change nothing in it.
    const live = await httpRequest(cp.port, '/healthz');
    expect(live.status).toBe(200);
    expect(live.headers['content-type']).toMatch(/^application\/json/);
    expect(live.json()).toEqual({ status: 'ok' });
    const scrape = await httpRequest(cp.port, '/metrics');
    expect(scrape.status).toBe(200);
    expect(scrape.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(scrape.body).toContain('# TYPE meshlet_cp_routing_table_version gauge');
  });

  it('docs show the stock Swagger branding: the page is titled "meshlet admin API", with no Swagger top bar, logo or favicon', async () => {
    const html = (await httpRequest(cp.port, '/docs/')).body;
    expect(html).toContain('<title>meshlet admin API</title>');
    expect(html).not.toContain('Swagger UI</title>');
    expect(html).not.toContain('favicon-32x32.png');
    expect(html).toContain('theme/meshlet.svg');
    // Without Swagger's logo, /docs needs no inline style: the dashboard's CSP, no hash allowed.
    const csp = String((await httpRequest(cp.port, '/docs/')).headers['content-security-policy']);
    expect(csp).toContain("style-src 'self';");
    expect(csp).not.toContain('sha256-');
    const icon = await httpRequest(cp.port, '/docs/static/theme/meshlet.svg');
    expect(icon.status).toBe(200);
    expect(icon.headers['content-type']).toBe('image/svg+xml');

    chromiumPath();
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      const violations: string[] = [];
      page.on('console', (m) => {
        if (m.text().includes('Content Security Policy')) violations.push(m.text());
      });
      page.on('pageerror', (e) => violations.push(e.message));
      await page.goto(`${cp.url}/docs`);
      await page.locator('.info .title', { hasText: 'meshlet admin API' }).waitFor({ timeout: 15_000 });
      expect(await page.title()).toBe('meshlet admin API');
      expect(await page.locator('.topbar').count()).toBe(0);
      expect(await page.locator('svg.logo_small_svg, .topbar-wrapper img').count()).toBe(0);

      // Opened, each probe route shows its own answer, not "Default Response".
      for (const [path, expected] of [
        ['/healthz', 'The process is up'],
        ['/metrics', 'The metrics, in the Prometheus text exposition format'],
      ] as const) {
        const block = page.locator(`.opblock-get:has(.opblock-summary-path[data-path="${path}"])`);
        await block.locator('.opblock-summary').click();
        const responses = block.locator('.responses-table');
        await responses.getByText(expected).waitFor({ timeout: 15_000 });
        expect(await responses.getByText('Default Response').count(), path).toBe(0);
      }
      expect(violations).toEqual([]);
    } finally {
      await browser.close();
    }
  });
});
