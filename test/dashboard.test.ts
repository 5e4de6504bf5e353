import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumPath, launchChromium } from './harness/chromium.js';
import { type AgentHandle, type AppHandle, type ControlPlaneHandle, ROOT, withMesh } from './harness/mesh.js';
import { requestLoop } from './harness/load.js';
import { waitFor } from './harness/wait.js';

// The web dashboard in a real browser (Debian's Chromium, headless) against
// a real control plane and real agents: it asks for a token, shows the
// topology, and follows a kill -9 and the failover it causes without a
// reload.

const ADMIN = 'admin-token-0123456789abcdef';
const READER = 'reader-token-0123456789abcdef';
const SCREENSHOTS = join(ROOT, 'test-results', 'screenshots');
/** How long the page may take to show a change: detection is sub-second here, plus a 2 s poll at worst. */
const UI_TIMEOUT_MS = 15_000;

describe('web dashboard', () => {
  const mesh = withMesh();
  let cp: ControlPlaneHandle;
  let browser: Browser | undefined;
  let page: Page;
  const pageErrors: string[] = [];
  let apps: Record<string, AppHandle>;
  let agents: Record<string, AgentHandle>;
  let client: AgentHandle;

  beforeAll(async () => {
    mkdirSync(SCREENSHOTS, { recursive: true });
    // Fail before starting anything when Chromium is missing.
    chromiumPath();
    ({ cp, apps, agents, client } = await mesh.start({
      controlPlane: {
        auth: { adminToken: ADMIN, readOnlyToken: READER },
        services: {
          db: { tiers: { mode: 'active-standby' } },
          hello: { balancer: { kind: 'ring_hash', hashKey: { source: 'header', name: 'x-user' } } },
        },
        authz: { hello: { mode: 'audit', rules: [{ name: 'web-only', from: ['web'] }] } },
      },
      instances: {
        hello: [
          { id: 'hello-1', tier: 0, zone: 'zone-a' },
          { id: 'hello-2', tier: 0, zone: 'zone-a' },
        ],
        db: [
          { id: 'db-primary', tier: 0, zone: 'zone-a' },
          { id: 'db-backup', tier: 1, zone: 'zone-a' },
        ],
      },
      client: { calls: ['hello', 'db'] },
    }));
    await waitFor('every instance healthy', async () => {
      const res = await fetch(`${cp.url}/v1/services`, { headers: { authorization: `Bearer ${READER}` } });
      const body = (await res.json()) as { services: Array<{ healthy: number }> };
      return body.services.length === 2 && body.services.every((s) => s.healthy === 2);
    });
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    page.on('pageerror', (e) => pageErrors.push(e.message));
  });

  afterAll(async () => {
    await browser?.close();
  });

  it('asks for a token, refuses a wrong one, and keeps the read-only one for the tab', async () => {
    const answers: number[] = [];
    page.on('response', (r) => {
      if (new URL(r.url()).pathname.startsWith('/v1/')) answers.push(r.status());
    });
    await page.goto(`${cp.url}/`);
    await page.waitForSelector('[data-testid="token-form"]', { state: 'visible', timeout: UI_TIMEOUT_MS });
    expect(answers).toContain(401);
    expect(await page.getAttribute('[data-testid="status"]', 'data-connection')).toBe('unauthorized');
    // Nothing of the API shows without a token, not even this replica's role.
    expect(await page.locator('[data-testid="cluster-role"]').count()).toBe(0);

    await page.fill('[data-testid="token-input"]', 'not-a-token-the-control-plane-knows');
    await page.click('[data-testid="token-submit"]');
    await page.waitForSelector('[data-testid="token-error"]:has-text("refused")', { timeout: UI_TIMEOUT_MS });

    await page.fill('[data-testid="token-input"]', READER);
    await page.click('[data-testid="token-submit"]');
    await page.waitForSelector('[data-testid="token-form"]', { state: 'hidden', timeout: UI_TIMEOUT_MS });
    expect(await page.evaluate('Object.values(sessionStorage)')).toEqual([READER]);
  });

  it("shows this control plane's role in the header: standalone", async () => {
    await page.waitForSelector('[data-testid="cluster-role"][data-role="standalone"]', { timeout: UI_TIMEOUT_MS });
    expect(await page.textContent('[data-testid="cluster-role"]')).toBe('standalone');
    expect(await page.getAttribute('[data-testid="cluster-role"]', 'title')).toContain('runs alone');
  });

  it('lists the services with their health and serving tier, and follows the event stream', async () => {
    await page.waitForSelector('[data-testid="service-row-hello"]', { timeout: UI_TIMEOUT_MS });
    await page.waitForSelector('[data-testid="service-row-db"]', { timeout: UI_TIMEOUT_MS });
    // The page follows the API live; an instance whose agent was starved while Chromium started may be on its way back.
    await page.waitForSelector('[data-testid="service-health-db"]:text-is("2/2")', { timeout: UI_TIMEOUT_MS });
    await page.waitForSelector('[data-testid="service-health-hello"]:text-is("2/2")', { timeout: UI_TIMEOUT_MS });
    expect(await page.getAttribute('[data-testid="service-row-db"] td[data-tier]', 'data-tier')).toBe('0');
    await page.waitForSelector('[data-testid="status"][data-connection="live"]', { timeout: UI_TIMEOUT_MS });
    // uPlot loaded from the control plane itself (no CDN) and drew a sparkline per service.
    expect(await page.locator('[data-testid="service-row-db"] .sparkline canvas').count()).toBe(1);
  });

  it('shows a service page: instances by tier and zone, the ring and the policy', async () => {
    await page.click('[data-testid="service-row-hello"] a');
    await page.waitForSelector('[data-testid="instance-hello-1"][data-state="healthy"]', { timeout: UI_TIMEOUT_MS });
    await page.waitForSelector('h3:has-text("Members (2)")', { timeout: UI_TIMEOUT_MS });
    expect(await page.textContent('pre.json')).toContain('"ring_hash"');
    expect(await page.getAttribute('[data-testid="authz"]', 'data-mode')).toBe('audit');
    expect(await page.textContent('[data-testid="authz"]')).toContain('"web-only"');

    await page.goto(`${cp.url}/#/services/db`);
    await page.waitForSelector('[data-testid="tier-0"] [data-testid="instance-db-primary"][data-state="healthy"]', {
      timeout: UI_TIMEOUT_MS,
    });
    await page.waitForSelector('[data-testid="tier-1"] [data-testid="instance-db-backup"][data-state="healthy"]', {
      timeout: UI_TIMEOUT_MS,
    });
    expect(await page.textContent('[data-testid="tier-0"] h4')).toBe('zone zone-a');
    expect(await page.getAttribute('[data-testid="authz"]', 'data-mode')).toBe('none');
  });

  it('a failed read of the authorization policy marks that section and still shows the service page', async () => {
    await page.route('**/v1/authz/**', (route) =>
      route.fulfill({
        status: 500,
        contentType: 'application/json',
        body: JSON.stringify({ error: { code: 'MESHLET_INTERNAL', message: 'injected by the test' } }),
      }),
    );
    try {
      await page.goto(`${cp.url}/#/services/hello`);
      await page.waitForSelector('[data-testid="authz"][data-mode="unavailable"]', { timeout: UI_TIMEOUT_MS });
      await page.waitForSelector('[data-testid="instance-hello-1"]', { timeout: UI_TIMEOUT_MS });
      expect(await page.textContent('[data-testid="authz"]')).toContain('Could not be read');
    } finally {
      await page.unroute('**/v1/authz/**');
    }
    // Back where the next test expects the page: db's.
    await page.goto(`${cp.url}/#/services/db`);
    await page.waitForSelector('[data-testid="instance-db-primary"][data-state="healthy"]', { timeout: UI_TIMEOUT_MS });
    await page.waitForSelector('[data-testid="authz"][data-mode="none"]', { timeout: UI_TIMEOUT_MS });
  });

  it('without a reload, shows the primary going unhealthy after kill -9 and the failover in the events', async () => {
    await page.waitForSelector('[data-testid="status"][data-connection="live"]', { timeout: UI_TIMEOUT_MS });
    // A reload would lose this.
    await page.evaluate('window.meshletSamePage = true');

    apps['db-primary']?.proc.child.kill('SIGKILL');
    agents['db-primary']?.proc.child.kill('SIGKILL');
    await page.waitForSelector('[data-testid="instance-db-primary"][data-state="unhealthy"]', {
      timeout: UI_TIMEOUT_MS,
    });
    await page.waitForSelector('[data-testid="active-tier"]:has-text("1")', { timeout: UI_TIMEOUT_MS });
    // Its mTLS mode (no policy says otherwise: strict).
    expect(await page.textContent('[data-testid="mtls-mode"]')).toBe('strict');
    await page.screenshot({ path: join(SCREENSHOTS, 'service.png'), fullPage: true });

    await page.click('nav a[data-route="events"]');
    const failover = '[data-testid="event"][data-kind="failover"][data-service="db"]:has-text("tier-1")';
    await page.waitForSelector(failover, { timeout: UI_TIMEOUT_MS });
    expect(await page.getAttribute(failover, 'class')).toContain('kind-failover');
    await page.waitForSelector(
      '[data-testid="event"][data-kind="health"]:has-text("db-primary"):has-text("unhealthy")',
      { timeout: UI_TIMEOUT_MS },
    );
    // Newest first.
    const seqs = await page.$$eval('[data-testid="event"]', (items) =>
      items.map((i) => Number(i.getAttribute('data-seq'))),
    );
    expect(seqs).toEqual([...seqs].sort((a, b) => b - a));
    await page.screenshot({ path: join(SCREENSHOTS, 'events.png'), fullPage: true });

    await page.click('nav a[data-route="overview"]');
    await page.waitForSelector('[data-testid="service-health-db"]:has-text("1/2")', { timeout: UI_TIMEOUT_MS });
    expect(await page.getAttribute('[data-testid="service-row-db"] td[data-tier]', 'data-tier')).toBe('1');
    await page.screenshot({ path: join(SCREENSHOTS, 'overview.png'), fullPage: true });

    expect(await page.evaluate('window.meshletSamePage')).toBe(true);
  });

  it('lists the agents with their connection, applied version and subscriptions', async () => {
    await page.click('nav a[data-route="agents"]');
    await page.waitForSelector('[data-testid="agent-row-client"][data-connected="true"][data-in-sync="true"]', {
      timeout: UI_TIMEOUT_MS,
    });
    expect(await page.textContent('[data-testid="agent-row-client"]')).toContain('db, hello');
    // Each agent's workload identity, with its certificate's expiry.
    expect(await page.getAttribute('[data-testid="agent-row-client"] td[data-identity]', 'data-identity')).toBe(
      'spiffe://meshlet.local/svc/client',
    );
    expect(await page.textContent('[data-testid="agent-row-client"] td[data-identity]')).toContain('expires');
    // One control plane has every agent: no Replica column.
    expect(await page.locator('[data-testid="agents-table"] th:text-is("Replica")').count()).toBe(0);
    await page.waitForSelector('[data-testid="agent-row-db-primary"][data-connected="false"]', {
      timeout: UI_TIMEOUT_MS,
    });
    // The mesh's CA below them: no rotation yet, the root it trusts and its expiry.
    await page.waitForSelector('[data-testid="ca-panel"][data-step="none"]', { timeout: UI_TIMEOUT_MS });
    expect(await page.textContent('[data-testid="ca-panel"]')).toContain('trust bundle generation 0');
    await page.screenshot({ path: join(SCREENSHOTS, 'agents.png'), fullPage: true });

    // A rotation under way, as GET /v1/ca says it at step 2: the steps as a picture, and who the step waits for.
    await page.route('**/v1/ca', async (route) => {
      const body = (await (await route.fetch()).json()) as Record<string, unknown>;
      body.step = 'switching-issuer';
      body.description = 'signing with the new issuer; waiting until every agent holds a certificate from it';
      body.agents = { connected: 3, behind: [{ agentId: 'client', waitingFor: 'certificate' }] };
      await route.fulfill({ json: body });
    });
    try {
      await page.waitForSelector('[data-testid="ca-steps"] [data-step="switching-issuer"][data-state="current"]', {
        timeout: UI_TIMEOUT_MS,
      });
      expect(await page.getAttribute('[data-testid="ca-steps"] [data-step="adding-root"]', 'data-state')).toBe('done');
      expect(await page.textContent('[data-testid="ca-behind"]')).toContain('client (certificate)');
      await page.screenshot({ path: join(SCREENSHOTS, 'ca-rotation.png'), fullPage: true });
    } finally {
      await page.unroute('**/v1/ca');
    }
  });

  it("renders callers' request rate, error ratio and p99 when GET /v1/services carries stats, with a sparkline kept from polling", async () => {
    // The real answer, with stats added as the control plane reports them
    // from callers' observations: a rate that grows by 10/s at every poll.
    let rps = 0;
    await page.route('**/v1/services', async (route) => {
      const res = await route.fetch();
      const body = (await res.json()) as { services: Array<Record<string, unknown>> };
      rps += 10;
      for (const s of body.services)
        s.stats = { rps, errorRatio: s.name === 'db' ? 0.125 : 0, p99Ms: 42, windowMs: 10_000 };
      await route.fulfill({ response: res, json: body });
    });
    await page.click('nav a[data-route="overview"]');
    await page.waitForSelector('[data-testid="service-row-db"] td.num:has-text("12.5 %")', { timeout: UI_TIMEOUT_MS });
    expect(await page.textContent('[data-testid="service-row-db"]')).toContain('42 ms');
    // Three polls with a rate: the sparkline has a line to draw.
    await page.waitForSelector('[data-testid="service-row-hello"] td.num:has-text("30.0/s")', {
      timeout: UI_TIMEOUT_MS,
    });
    expect(await page.getAttribute('[data-testid="service-row-hello"] .sparkline', 'aria-label')).toMatch(
      /^hello: \d+\.\d\/s now, last \d+ samples$/,
    );
    await page.screenshot({ path: join(SCREENSHOTS, 'overview-with-stats.png'), fullPage: true });
    await page.unroute('**/v1/services');
    expect(pageErrors).toEqual([]);
  });

  it("shows the real request rate, error ratio and p99 from callers' reports, live", async () => {
    const loop = requestLoop(client.outboundPort as number, 'http://hello/', { workers: 2, maxMs: 20_000 });
    try {
      // A fresh page, so that nothing left from the faked stats above can match.
      await page.reload();
      await page.waitForSelector('[data-testid="service-row-hello"]', { timeout: UI_TIMEOUT_MS });
      // The control plane sums the client's reports (about one a second) into the service's stats.
      await page.waitForSelector('[data-testid="service-row-hello"] td.num:has-text(" ms")', {
        timeout: UI_TIMEOUT_MS,
      });
      expect(await page.textContent('[data-testid="service-row-hello"]')).toMatch(/[1-9]\d*(\.\d)?\/s/);
      // A few polls later the trend has points to draw.
      await page.waitForSelector('[data-testid="service-row-hello"] .sparkline[aria-label$="last 4 samples"]', {
        timeout: UI_TIMEOUT_MS,
      });
      await page.screenshot({ path: join(SCREENSHOTS, 'overview-live.png'), fullPage: true });
    } finally {
      const result = await loop.stop();
      expect(result.failed).toBe(0);
    }
    expect(pageErrors).toEqual([]);
  });

  it('shows no role badge, and works on, when the control plane has no GET /v1/cluster (an older one)', async () => {
    await page.route('**/v1/cluster', (route) =>
      route.fulfill({
        status: 404,
        json: { error: { code: 'MESHLET_NOT_FOUND', message: 'Route GET:/v1/cluster not found' } },
      }),
    );
    try {
      const answered = page.waitForResponse((r) => new URL(r.url()).pathname === '/v1/cluster' && r.status() === 404, {
        timeout: UI_TIMEOUT_MS,
      });
      await page.reload();
      await answered;
      // "Updated" is written once a refresh, the question about the cluster included, is done.
      await page.waitForSelector('[data-testid="updated"]:has-text("Updated")', { timeout: UI_TIMEOUT_MS });
      await page.waitForSelector('[data-testid="service-row-hello"]', { timeout: UI_TIMEOUT_MS });
      expect(await page.locator('[data-testid="cluster-role"]').count()).toBe(0);
      expect(await page.getAttribute('[data-testid="status"]', 'data-connection')).not.toBe('offline');
    } finally {
      await page.unroute('**/v1/cluster');
    }
    expect(pageErrors).toEqual([]);
  });
});
