import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { getJson, httpRequest } from './harness/http.js';
import { meshctl, rowOf } from './harness/meshctl.js';
import { requestLoop } from './harness/load.js';
import { ROOT } from './harness/mesh.js';
import { Proc } from './harness/process.js';
import { waitFor } from './harness/wait.js';

// The README's five-minute tour, step by step, against the demo that
// `npm start` runs (deploy/local/launch.mjs, on the README's fixed ports).
// Issue 17: the tour's fault drills ran against hello-2 right after the kill
// drill had left hello-1 dead, so "leaves the table" could not be seen
// (panic mode kept serving), and an unhealthy instance stays in /config
// marked unhealthy rather than leaving. The tour now drills hello-1 while
// hello-2 serves, kills last, and says what /config shows; this walks it.

const OUTBOUND = 15001;
const CLIENT_ADMIN = 15000;
const CP = 15010;
const HELLO_1_APP = 18081;
const ORDERS_1_APP = 18091;
const ORDERS_1_ADMIN = 15110;
const ORDERS_2_ADMIN = 15111;

interface Instance {
  id: string;
  state: string;
  reason: string;
}
interface TableEndpoint {
  id: string;
  health?: string;
}

async function instance(id: string): Promise<Instance | undefined> {
  const body = (await getJson(CP, '/v1/services')) as { services: Array<{ instances: Instance[] }> };
  return body.services.flatMap((s) => s.instances).find((i) => i.id === id);
}

async function clientConfig(): Promise<{
  table: { services: Record<string, { endpoints: TableEndpoint[] }> };
  balancing: Record<string, { ejected: string[]; tiers: Array<{ healthy: number; total: number; panic: boolean }> }>;
}> {
  return getJson(CLIENT_ADMIN, '/config');
}

async function events(): Promise<Array<{ instance?: string; from?: string; to?: string; reason: string }>> {
  const body = await getJson(CP, '/v1/events');
  return Array.isArray(body) ? body : body.events;
}

/** `curl -X POST 'http://127.0.0.1:PORT/_demo/fault?mode=MODE'`. */
async function fault(port: number, mode: string): Promise<void> {
  const a = await httpRequest(port, `/_demo/fault?mode=${mode}`, { method: 'POST' });
  expect(a.status).toBe(200);
}

/** One turn of the README's loop (`curl -s -x http://127.0.0.1:15001 http://SERVICE/`). */
async function call(service: string): Promise<{ status: number; instance: string; body: string }> {
  const a = await httpRequest(OUTBOUND, `http://${service}/`);
  return { status: a.status, instance: String(a.headers['x-instance'] ?? ''), body: a.body };
}

/**
 * The demo's topology.yaml with one change: hello's callers eject an instance for 10 s rather than the default 30 s.
 * The error drill waits for the ejection to end ("wait for `"ejected":[]`" before the next drill), which took 30 s of
 * the tour's 44 s; every step and claim of the tour is walked as before, the ejection is only shorter. 10 s, not less:
 * the ejection must outlast the control plane's hold of hello-1 (`health.observationHoldMs`, 5 s) while the drill
 * checks that every answer comes from hello-2, so that the check sees the same mesh the README describes.
 */
function tourTopology(file: string): string {
  const topology = parse(readFileSync(join(ROOT, 'deploy', 'local', 'topology.yaml'), 'utf8')) as {
    services: Array<{ name: string; policy?: Record<string, unknown> }>;
  };
  for (const s of topology.services)
    if (s.name === 'hello') s.policy = { ...s.policy, outlierDetection: { baseEjectionMs: 10_000 } };
  writeFileSync(file, stringify(topology));
  return file;
}

async function calls(service: string, n: number): Promise<Array<{ status: number; instance: string }>> {
  const out = [];
  for (let i = 0; i < n; i++) out.push(await call(service));
  return out;
}

describe('the README tour, walked against the demo', () => {
  const dir = mkdtempSync(join(tmpdir(), 'meshlet-tour-'));
  // Beside the demo's folder, not in it: the launcher starts only in an empty folder (or one it made).
  const topology = `${dir}.topology.yaml`;
  let demo: Proc;

  beforeAll(async () => {
    const launch = join(ROOT, 'deploy', 'local', 'launch.mjs');
    demo = new Proc('demo', process.execPath, [launch, '--dir', dir, '--topology', tourTopology(topology)], {
      cwd: ROOT,
    });
    await waitFor(
      '"The mesh is up."',
      () => demo.output.includes('The mesh is up.') || (!demo.running && Promise.reject(new Error(demo.output))),
      { timeoutMs: 60_000, intervalMs: 200 },
    );
  });

  afterAll(async () => {
    if (demo?.running) await demo.stop('SIGTERM', 10_000);
    rmSync(dir, { recursive: true, force: true });
    rmSync(topology, { force: true });
  });

  it('locks: orders-1 takes nightly-report through its agent, orders-2 is refused naming it, meshctl get locks lists it', async () => {
    const ask = (port: number, body: string) =>
      httpRequest(port, '/v1/locks/nightly-report', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      });
    const held = await ask(ORDERS_1_ADMIN, '{"ttlMs": 30000}');
    expect(held.status, held.body).toBe(200);
    const lock = JSON.parse(held.body) as { service: string; token: number; holder: { instanceId: string } };
    expect(lock).toMatchObject({ name: 'nightly-report', service: 'orders', ttlMs: 30000 });
    expect(lock.holder.instanceId).toBe('orders-1');
    const refused = await ask(ORDERS_2_ADMIN, '{}');
    expect(refused.status).toBe(409);
    expect(refused.body).toContain('MESHLET_LOCK_HELD');
    expect(refused.body).toContain('orders-1');
    const listed = await meshctl(['get', 'locks'], { env: {}, home: dir });
    expect(listed.code, listed.stderr).toBe(0);
    const row = rowOf(listed.stdout, 'orders');
    expect(row?.slice(0, 2)).toEqual(['orders', 'nightly-report']);
    expect(listed.stdout).toContain(String(lock.token));
  });

  it('drills against a dead instance: an unhealthy hello-1 gets nothing, yet stays in /config marked unhealthy', async () => {
    expect((await calls('hello', 4)).map((a) => a.instance).sort()).toEqual([
      'hello-1',
      'hello-1',
      'hello-2',
      'hello-2',
    ]);
    await fault(HELLO_1_APP, 'unhealthy');
    await waitFor(
      'hello-1 unhealthy at the control plane',
      async () => (await instance('hello-1'))?.state === 'unhealthy',
    );
    expect((await instance('hello-1'))?.reason).toBe('local health check failing: GET /healthz answered 503');
    await waitFor('the client to hold hello-1 as unhealthy', async () => {
      const c = await clientConfig();
      return c.table.services.hello?.endpoints.find((e) => e.id === 'hello-1')?.health === 'unhealthy';
    });
    const c = await clientConfig();
    expect(c.table.services.hello?.endpoints.map((e) => e.id).sort()).toEqual(['hello-1', 'hello-2']);
    expect(c.balancing.hello?.tiers).toMatchObject([{ healthy: 1, total: 2, panic: false }]);
    const answers = await calls('hello', 10);
    expect(answers.every((a) => a.status === 200 && a.instance === 'hello-2')).toBe(true);

    // mode=none: recovering (routed again, on probation), then healthy.
    await fault(HELLO_1_APP, 'none');
    await waitFor('hello-1 healthy again', async () => (await instance('hello-1'))?.state === 'healthy', {
      timeoutMs: 20_000,
    });
    const moves = (await events()).filter((e) => e.instance === 'hello-1').map((e) => `${e.from}->${e.to}`);
    expect(moves).toContain('unhealthy->recovering');
    expect(moves).toContain('recovering->healthy');
    await waitFor('an answer from hello-1 again', async () => (await call('hello')).instance === 'hello-1');
  });

  it("error drill: hello-1's 500s pass through until its callers mark it unhealthy and the client ejects it", async () => {
    await fault(HELLO_1_APP, 'error');
    const seen: Array<{ status: number; instance: string; body: string }> = [];
    await waitFor(
      'the client to eject hello-1',
      async () => {
        seen.push(await call('hello'));
        return (await clientConfig()).balancing.hello?.ejected.includes('hello-1');
      },
      { timeoutMs: 30_000, intervalMs: 100 },
    );
    const failed = seen.filter((a) => a.status !== 200);
    expect(failed.length).toBeGreaterThan(0);
    for (const a of failed) expect(JSON.parse(a.body)).toMatchObject({ error: 'injected fault', instance: 'hello-1' });
    // The client's next report (about a second later) tells the control plane.
    await waitFor('the callers to mark hello-1 unhealthy', async () =>
      (await events()).some((e) => e.instance === 'hello-1' && /callers see it failing/.test(e.reason)),
    );
    expect((await calls('hello', 10)).every((a) => a.status === 200 && a.instance === 'hello-2')).toBe(true);
    await fault(HELLO_1_APP, 'none');
    // "wait for "ejected":[] (30 s ...) before the next drill" (10 s here: tourTopology)
    await waitFor('the ejection to end', async () => (await clientConfig()).balancing.hello?.ejected.length === 0, {
      timeoutMs: 45_000,
      intervalMs: 250,
    });
  });

  // The reset drill on orders-1 (the same claim as on hello-1), so that hello-1 is not ejected for the kill drill.
  it('reset drill: no request fails, and the client ejects the instance that resets', async () => {
    await fault(ORDERS_1_APP, 'reset');
    const seen: Array<{ status: number; instance: string }> = [];
    await waitFor(
      'the client to eject orders-1',
      async () => {
        seen.push(await call('orders'));
        return (await clientConfig()).balancing.orders?.ejected.includes('orders-1');
      },
      { timeoutMs: 30_000, intervalMs: 100 },
    );
    expect(seen.filter((a) => a.status !== 200)).toEqual([]);
    expect(new Set(seen.map((a) => a.instance))).toEqual(new Set(['orders-2']));
    await fault(ORDERS_1_APP, 'none');
  });

  it('kill drill last: none of the requests fails, hello-1 is unhealthy with ECONNREFUSED; then without the control plane', async () => {
    const loop = requestLoop(OUTBOUND, 'http://hello/', { workers: 1, pauseMs: 50, maxRequests: 2_000, maxMs: 60_000 });
    try {
      await waitFor('answers from both', () => loop.result.byInstance.size === 2);
      process.kill(Number(readFileSync(join(dir, 'pids', 'hello-1-app.pid'), 'utf8')), 'SIGKILL');
      await waitFor(
        'hello-1 unhealthy at the control plane',
        async () => (await instance('hello-1'))?.state === 'unhealthy',
      );
      // The reason names the signal that took it down first: its own failing check, usually, or its callers'
      // quorum when their report reached the control plane first (the check needs a few 250 ms probes, the callers'
      // report comes once a second: either may win; the first signal's reason stays while the instance is down).
      expect((await instance('hello-1'))?.reason).toMatch(/GET \/healthz failed: ECONNREFUSED|callers see it failing/);
      await waitFor('the launcher to report the exit', () => demo.output.includes('hello-1-app exited (SIGKILL)'));
    } finally {
      const result = await loop.stop();
      expect(result.failures).toEqual([]);
    }
    expect((await calls('hello', 10)).every((a) => a.status === 200 && a.instance === 'hello-2')).toBe(true);

    // "Stop the control plane: the requests keep succeeding."
    process.kill(Number(readFileSync(join(dir, 'pids', 'control-plane.pid'), 'utf8')), 'SIGTERM');
    await waitFor('the launcher to report the control plane gone', () => demo.output.includes('control-plane exited'));
    expect((await calls('hello', 10)).every((a) => a.status === 200 && a.instance === 'hello-2')).toBe(true);
    expect((await calls('orders', 4)).every((a) => a.status === 200)).toBe(true);
  });
});
