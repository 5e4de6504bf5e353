import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumPath, launchChromium } from './harness/chromium.js';
import { cluster } from './harness/cluster.js';
import { type EtcdCluster, startEtcdCluster } from './harness/etcd.js';
import { type ControlPlaneHandle, ROOT, withMesh } from './harness/mesh.js';
import { replicaSettings } from './harness/replica-settings.js';
import { waitFor } from './harness/wait.js';

// The web dashboard of two control-plane replicas on a real etcd, in a real
// Chromium: each replica's header says its role and the follower's names
// (and links to) the leader; the agents view says which replica each agent
// is connected to; after kill -9 of the leader, the follower's open page
// shows it leading, without a reload.
//
// cp-a starts first and leads, but on a loaded machine a 2 s lease can
// expire and leadership move: each test asks the replicas who leads now
// rather than assuming it. Each agent knows one replica only, so that it
// cannot move to the other one (an agent starved while Chromium starts may
// reconnect) and each page's Replica column is known.

const UI_TIMEOUT_MS = 15_000;
const SCREENSHOTS = join(ROOT, 'test-results', 'screenshots');

interface Replica {
  id: 'cp-a' | 'cp-b';
  cp: ControlPlaneHandle;
  page: Page;
}

const badgeText = (page: Page) => page.textContent('[data-testid="cluster-role"]');

describe('web dashboard of two control-plane replicas on etcd', () => {
  const mesh = withMesh();
  let etcd: EtcdCluster;
  let a: Replica;
  let b: Replica;
  let browser: Browser | undefined;
  const pageErrors: string[] = [];

  const startReplica = (name: string) => mesh.controlPlane(replicaSettings(mesh.scratch, name, etcd.endpoints));

  /** The leader and the follower, once both replicas agree on who leads. */
  const roles = () =>
    waitFor(
      'both replicas to agree on a leader',
      async () => {
        const [ca, cb] = await Promise.all([cluster(a.cp), cluster(b.cp)]);
        if (ca.role === 'leader' && cb.role === 'follower' && cb.leader?.replicaId === a.id) return [a, b] as const;
        if (cb.role === 'leader' && ca.role === 'follower' && ca.leader?.replicaId === b.id) return [b, a] as const;
        return undefined;
      },
      { timeoutMs: 10_000 },
    );

  beforeAll(async () => {
    chromiumPath();
    mkdirSync(SCREENSHOTS, { recursive: true });
    etcd = await startEtcdCluster(mesh.scratch, 1);
    // A first, alone: it leads.
    const cpA = await startReplica('cp-a');
    await waitFor('cp-a to lead', async () => (await cluster(cpA)).role === 'leader', { timeoutMs: 10_000 });
    const cpB = await startReplica('cp-b');
    await Promise.all([
      mesh.agent({ agentId: 'client-a', cp: cpA, outbound: true, calls: ['hello'] }),
      mesh.agent({ agentId: 'client-b', cp: cpB, outbound: true, calls: ['hello'] }),
    ]);
    browser = await launchChromium();
    const open = async (id: Replica['id'], cp: ControlPlaneHandle): Promise<Replica> => {
      const page = await browser!.newPage({ viewport: { width: 1280, height: 800 } });
      page.on('pageerror', (e) => pageErrors.push(`${id}: ${e.message}`));
      await page.goto(`${cp.url}/`);
      return { id, cp, page };
    };
    a = await open('cp-a', cpA);
    b = await open('cp-b', cpB);
  });

  afterAll(async () => {
    await browser?.close();
  });

  it("shows the leader's role on the leader, and on the follower names the leader with a link to its dashboard", async () => {
    const [leader, follower] = await roles();
    await leader.page.waitForSelector('[data-testid="cluster-role"][data-role="leader"]', { timeout: UI_TIMEOUT_MS });
    expect(await badgeText(leader.page)).toBe(`${leader.id} · leader`);

    await follower.page.waitForSelector(
      `[data-testid="cluster-role"][data-role="follower"][data-leader="${leader.id}"]`,
      { timeout: UI_TIMEOUT_MS },
    );
    expect(await badgeText(follower.page)).toBe(`${follower.id} · follower · leader ${leader.id}`);
    expect(await follower.page.getAttribute('[data-testid="cluster-role"] a', 'href')).toBe(`${leader.cp.url}/`);
    expect(await follower.page.getAttribute('[data-testid="cluster-role"]', 'title')).toBe(
      `This replica follows ${leader.id}, which makes the health and failover decisions; tables are the same on every replica.`,
    );
  });

  it('says which replica each agent is connected to', async () => {
    for (const [self, other] of [
      [a, b],
      [b, a],
    ] as const) {
      const { page } = self;
      const [selfAgent, otherAgent] = [`client-${self.id.slice(3)}`, `client-${other.id.slice(3)}`];
      await page.click('nav a[data-route="agents"]');
      await page.waitForSelector(
        `[data-testid="agent-row-${selfAgent}"][data-connected="true"] td[data-replica=""]:text-is("this replica")`,
        { timeout: UI_TIMEOUT_MS },
      );
      await page.waitForSelector(
        `[data-testid="agent-row-${otherAgent}"][data-connected="true"] td[data-replica="${other.id}"]:text-is("${other.id}")`,
        { timeout: UI_TIMEOUT_MS },
      );
      // Its ACK state is known on its own replica only: not "behind" here.
      expect(await page.textContent(`[data-testid="agent-row-${otherAgent}"]`)).not.toContain('behind');
      expect(await page.locator('[data-testid="agents-table"] th:text-is("Replica")').count()).toBe(1);
    }
    await b.page.screenshot({ path: join(SCREENSHOTS, 'agents-replicas.png'), fullPage: true });
  });

  it('after kill -9 of the leader, shows the follower leading, without a reload', async () => {
    const [leader, follower] = await roles();
    await follower.page.evaluate('window.meshletSamePage = true');
    leader.cp.proc.child.kill('SIGKILL');
    await leader.cp.proc.exited();
    // The lease TTL (2 s) for a new leader, plus a 2 s poll at worst.
    await follower.page.waitForSelector('[data-testid="cluster-role"][data-role="leader"]', { timeout: UI_TIMEOUT_MS });
    expect(await badgeText(follower.page)).toBe(`${follower.id} · leader`);
    expect(await follower.page.getAttribute('[data-testid="cluster-role"]', 'class')).toContain('tone-info');
    expect(await follower.page.evaluate('window.meshletSamePage')).toBe(true);
  });

  it('warns when this replica follows and no replica leads', async () => {
    const alive = [a, b].find((r) => r.cp.proc.running) as Replica;
    // Losing etcd's quorum takes a while; the answer a follower gives then is enough for the page.
    await alive.page.route('**/v1/cluster', (route) =>
      route.fulfill({
        json: { replicaId: alive.id, role: 'follower', leader: null, since: new Date().toISOString(), store: 'etcd' },
      }),
    );
    await alive.page.waitForSelector('[data-testid="cluster-role"][data-role="follower"]', { timeout: UI_TIMEOUT_MS });
    expect(await badgeText(alive.page)).toBe(`${alive.id} · follower · no leader`);
    expect(await alive.page.getAttribute('[data-testid="cluster-role"]', 'class')).toContain('tone-warn');
    expect(await alive.page.getAttribute('[data-testid="cluster-role"]', 'title')).toContain('no replica leads');
    await alive.page.unroute('**/v1/cluster');
    expect(pageErrors).toEqual([]);
  });
});
