import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ControlPlane } from '@meshlet/control-plane';
import { compileValidator, ControlPlaneConfig, createLogger, FAILOVER_ELECTION } from '@meshlet/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN, READER } from '../harness/admin-api.js';
import { RawCoordAgent } from '../harness/raw-coord-agent.js';
import { waitFor } from '../harness/wait.js';

// Attacks on managed failover against a real control plane (in this process, so that the test can
// set the instances' reported roles and offsets in its InstanceRoles, as the agents' health reports
// do), through agent streams written by hand, as a hostile agent could.

const JOIN = 'shared-join-token-0123456789abcdef';
let dataDir: string;
let cp: ControlPlane;
let url: string;
const agents: RawCoordAgent[] = [];

async function agent(service: string, id: string, priority = 1): Promise<RawCoordAgent> {
  const instance = {
    service,
    id,
    host: '127.0.0.1',
    port: 15000,
    tier: 0,
    weight: 1,
    labels: {},
    failoverPriority: priority,
  };
  const a = await RawCoordAgent.open(`${url.replace('http', 'ws')}/v1/stream`, `agent-${id}`, service, id, {
    joinToken: JOIN,
    instance,
  });
  agents.push(a);
  byId.set(id, a);
  return a;
}

const byId = new Map<string, RawCoordAgent>();

/**
 * The instance's check report: sent on its stream as its agent would (`health` with role and offset, which
 * the sessions record), and recorded in the control plane's InstanceRoles directly as well, so that the
 * test does not depend on when the session gets to it.
 */
function report(service: string, id: string, role: 'primary' | 'replica', offset: number, healthy = true): void {
  const status = healthy ? 'healthy' : 'unhealthy';
  byId.get(id)?.send({ type: 'health', status, role, replicationOffset: offset });
  cp.managedFailover?.roles.record(service, id, { role, replicationOffset: offset, healthy, at: Date.now() });
}

async function admin(method: string, path: string, body: unknown, token = ADMIN) {
  const r = await fetch(`${url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: r.status, body: (await r.json()) as any };
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'meshlet-failover-attacks-'));
  const config = compileValidator(ControlPlaneConfig, { useDefaults: true })({
    listen: { port: 0 },
    dataDir,
    auth: { adminToken: ADMIN, readOnlyToken: READER, joinToken: JOIN, allowSharedJoinToken: true },
    services: { pg: { failover: { mode: 'managed' } } },
  });
  if (!config.ok) throw new Error(JSON.stringify(config.issues));
  cp = new ControlPlane(config.value, createLogger('failover-attacks', 'silent'));
  const { port } = await cp.start();
  url = `http://127.0.0.1:${port}`;
});

afterAll(async () => {
  for (const a of agents) a.close();
  await cp.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('managed failover attacks', () => {
  it('attack: a lagging standby (not a candidate) campaigning directly over its stream is refused; the candidate wins', async () => {
    const primary = await agent('pg', 'pg-1');
    const fresh = await agent('pg', 'pg-2');
    const lagging = await agent('pg', 'pg-3');
    report('pg', 'pg-1', 'primary', 50_000_000);
    report('pg', 'pg-2', 'replica', 50_000_000);
    report('pg', 'pg-3', 'replica', 1_000);
    const election = { kind: 'election', name: FAILOVER_ELECTION };
    const won = await primary.ask({ ...election, op: 'acquire', ttlMs: 1000 });
    expect(won).toMatchObject({ ok: true });
    await waitFor('pg-1 published as the primary', () => cp.managedFailover?.failover.state('pg')?.primary === 'pg-1');
    // The primary's agent dies: its lease lapses.
    primary.kill();
    report('pg', 'pg-1', 'primary', 50_000_000, false);
    await waitFor('the election vacant', () => cp.managedFailover?.failover.state('pg')?.holder === undefined);
    expect(cp.managedFailover?.failover.state('pg')?.candidates).toEqual(['pg-2']);
    const seized = await lagging.ask({ ...election, op: 'acquire', ttlMs: 3000 });
    expect(seized).toMatchObject({ ok: false, code: 'MESHLET_COORDINATION_REFUSED', refusal: 'not-candidate' });
    expect(seized.message).toMatch(/pg-3 is not a failover candidate.*bytes behind.*pg-2/);
    const taken = await fresh.ask({ ...election, op: 'acquire', ttlMs: 3000 });
    expect(taken).toMatchObject({ ok: true, state: { holder: { instanceId: 'pg-2' } } });
    expect(taken.state.token).toBeGreaterThan(won.state.token);
    report('pg', 'pg-2', 'primary', 50_000_000);
    await waitFor('pg-2 published', () => cp.managedFailover?.failover.state('pg')?.primary === 'pg-2');
  });

  it('attack: an operator with a read-only token asking for a switchover is refused 403, nothing requested', async () => {
    const r = await admin('POST', '/v1/services/pg/switchover', { to: 'pg-3' }, READER);
    expect(r.status).toBe(403);
    expect(r.body.error.code).toBe('MESHLET_FORBIDDEN');
    expect(cp.managedFailover?.failover.state('pg')?.switchoverTo).toBeUndefined();
  });

  it("attack: a switchover to an instance of another service is refused 404 naming the field 'to'", async () => {
    await agent('orders', 'orders-1');
    report('orders', 'orders-1', 'replica', 50_000_000);
    const r = await admin('POST', '/v1/services/pg/switchover', { to: 'orders-1' });
    expect(r.status).toBe(404);
    expect(r.body.error).toMatchObject({ code: 'MESHLET_NOT_FOUND', field: 'to' });
    expect(cp.managedFailover?.failover.state('pg')?.switchoverTo).toBeUndefined();
  });

  it('GET /v1/services/pg/failover shows the state, the instances and the events of each step', async () => {
    const r = await fetch(`${url}/v1/services/pg/failover`, { headers: { authorization: `Bearer ${READER}` } });
    const body = (await r.json()) as any;
    expect(body.state).toMatchObject({ primary: 'pg-2', holder: 'pg-2' });
    const steps = body.events.map((e: any) => e.evidence.step);
    expect(steps).toEqual(expect.arrayContaining(['term-began', 'primary-published']));
    const r2 = await fetch(`${url}/v1/services/orders/failover`, { headers: { authorization: `Bearer ${READER}` } });
    expect(r2.status).toBe(400);
  });
});

describe('switchover through the admin API', () => {
  it("an admin's switchover to a caught-up standby is accepted (202) and published until done", async () => {
    await agent('pg', 'pg-4');
    report('pg', 'pg-4', 'replica', 50_000_000);
    const r = await admin('POST', '/v1/services/pg/switchover', { to: 'pg-4' });
    expect(r.status).toBe(202);
    expect(r.body.state).toMatchObject({ primary: 'pg-2', switchoverTo: 'pg-4', switchoverCaughtUp: true });
    const again = await admin('POST', '/v1/services/pg/switchover', { to: 'pg-4' });
    expect(again.status).toBe(409);
  });
});
