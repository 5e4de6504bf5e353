import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumPath, launchChromium } from './harness/chromium.js';
import { requestLoop } from './harness/load.js';
import { type AgentHandle, type ControlPlaneHandle, ROOT, withMesh } from './harness/mesh.js';
import { waitFor } from './harness/wait.js';

// Two things a new user found (issue 17), against a real control plane and
// real agents: the request rate on /v1/services and the dashboard read about
// 10% low under a steady load, and the dashboard's tables made a phone-sized
// screen scroll sideways.

const SCREENSHOTS = join(ROOT, 'test-results', 'screenshots');
const UI_TIMEOUT_MS = 15_000;
/** The steady load, as `hey -q 50 -c 2` sends it. */
const PER_SECOND = 100;

describe('dashboard on a narrow screen, and the request rate it shows', () => {
  const mesh = withMesh();
  let cp: ControlPlaneHandle;
  let client: AgentHandle;
  let browser: Browser | undefined;

  beforeAll(async () => {
    mkdirSync(SCREENSHOTS, { recursive: true });
    chromiumPath();
    ({ cp, client } = await mesh.start({
      instances: { hello: ['hello-1', 'hello-2'] },
      client: { calls: ['hello'] },
    }));
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
  });

  async function helloRps(): Promise<number | undefined> {
    const body = (await (await fetch(`${cp.url}/v1/services`)).json()) as {
      services: Array<{ name: string; stats: { rps: number } | null }>;
    };
    return body.services.find((s) => s.name === 'hello')?.stats?.rps;
  }

  it('rate reads low: a steady 100 req/s reads within 6% of what was sent, at every moment, on /v1/services and the dashboard', async () => {
    const loop = requestLoop(client.outboundPort as number, 'http://hello/', {
      workers: 4,
      perSecond: PER_SECOND,
      maxRequests: 3_000,
      maxMs: 40_000,
    });
    try {
      // Past the first 10 s, the control plane's window is full of the steady load.
      await waitFor('12 s of steady load', () => loop.result.sent >= 12 * PER_SECOND, { timeoutMs: 30_000 });
      // Readings at every phase between two reports (a report arrives about once a second): the old arithmetic read
      // 90% just before a report and 100% just after one.
      const readings: Array<{ rps: number; sent: number }> = [];
      await waitFor(
        '40 readings of the rate',
        async () => {
          const rps = await helloRps();
          // What the client saw answered over the last 10 s.
          const sent = loop.sentSince(Date.now() - 10_000).length / 10;
          if (rps !== undefined) readings.push({ rps, sent });
          return readings.length >= 40;
        },
        { timeoutMs: 20_000, intervalMs: 60 },
      );
      const off = readings.filter((r) => Math.abs(r.rps - r.sent) / r.sent > 0.06);
      expect(off, JSON.stringify(readings)).toEqual([]);

      // The dashboard shows the same figure.
      const page = await (browser as Browser).newPage({ viewport: { width: 1280, height: 800 } });
      try {
        await page.goto(`${cp.url}/#/`);
        const cell = page.locator('[data-testid="service-row-hello"] td.num').first();
        await waitFor('the dashboard to show a rate', async () => /\d\/s$/.test((await cell.textContent()) ?? ''), {
          timeoutMs: UI_TIMEOUT_MS,
        });
        const shown = Number(((await cell.textContent()) ?? '').replace('/s', ''));
        const sent = loop.sentSince(Date.now() - 10_000).length / 10;
        // The page shows the figure of its last refresh (up to a report older than the client's count, and rounded):
        // 8% here (the bug this guards read 10% low); the API readings above hold to 6% at every moment.
        expect(Math.abs(shown - sent) / sent).toBeLessThanOrEqual(0.08);
      } finally {
        await page.close();
      }
    } finally {
      const result = await loop.stop();
      expect(result.failed).toBe(0);
    }
  });

  it('tables overflow a 420 px screen: no view is wider than a 420 px viewport, and wide tables scroll in their box', async () => {
    const page = await (browser as Browser).newPage({ viewport: { width: 420, height: 800 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    try {
      const views = [
        { route: '#/', ready: '[data-testid="service-row-hello"]', table: 'services-table' },
        { route: '#/services/hello', ready: '[data-testid="instance-hello-1"]' },
        { route: '#/agents', ready: '[data-testid="agent-row-client"]', table: 'agents-table' },
        { route: '#/events', ready: '[data-testid="event"]' },
      ];
      for (const v of views) {
        await page.goto(`${cp.url}/${v.route}`);
        await page.waitForSelector(v.ready, { timeout: UI_TIMEOUT_MS });
        await page.screenshot({
          path: join(SCREENSHOTS, `narrow-${v.route.replace(/\W+/g, '-')}.png`),
          fullPage: true,
        });
        // Run in the page (a string: the test's TypeScript has no DOM types).
        const widths = await page.evaluate<{ document: number; body: number; viewport: number }>(
          '({ document: document.documentElement.scrollWidth, body: document.body.scrollWidth, viewport: window.innerWidth })',
        );
        expect(widths.viewport, v.route).toBe(420);
        expect(widths.document, `${v.route}: ${JSON.stringify(widths)}`).toBeLessThanOrEqual(widths.viewport);
        expect(widths.body, `${v.route}: ${JSON.stringify(widths)}`).toBeLessThanOrEqual(widths.viewport);
        if (v.table) {
          // The table keeps its columns and scrolls inside a box no wider than the page, reachable by keyboard.
          const box = await page.evaluate<{ overflowX: string; right: number; tabindex: string | null } | null>(
            `(() => {
              const parent = document.querySelector('[data-testid="${v.table}"]')?.parentElement;
              if (!parent) return null;
              return {
                overflowX: getComputedStyle(parent).overflowX,
                right: parent.getBoundingClientRect().right,
                tabindex: parent.getAttribute('tabindex'),
              };
            })()`,
          );
          expect(box, v.route).toMatchObject({ overflowX: 'auto', tabindex: '0' });
          expect(box?.right ?? Infinity).toBeLessThanOrEqual(420);
        }
      }
    } finally {
      await page.close();
    }
    expect(errors).toEqual([]);
  });
});
