import { request } from 'node:http';
import { createLogger, type Routes, seededRandom } from '@meshlet/shared';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { EndpointStatsMap } from '../balancer/endpoint-stats.js';
import { Subscriptions } from '../control/subscriptions.js';
import { manualTimers } from '../resilience/test-support/manual-timers.js';
import { RouteTable } from '../route/route-table.js';
import { OriginPools } from './origin-pools.js';
import { OutboundListener } from './outbound-listener.js';
import { closeServer, ep, send, type Upstream, upstream, until } from './test-support/loopback.js';
import { listen } from './test-support/outbound.js';

// A request for a service the agent has not subscribed to, through a real
// outbound listener on loopback: it subscribes and holds the request until a
// table with the service comes, or until the wait is up. The wait's timer
// is driven by the test.

describe('OutboundListener subscriptions', () => {
  let app: Upstream;
  let listener: OutboundListener;
  let dedicated: OutboundListener;
  let port: number;
  let dedicatedPort: number;
  let table: RouteTable | undefined;
  let subs: Subscriptions;
  let subscribed: string[][];
  // Fired by the test: `timers` holds the pending ones.
  const { timers: manual, pending: timers, fireAll: fireTimers } = manualTimers();
  const pools = new OriginPools();
  const deps = { random: seededRandom(3), clock: Date.now, stats: new EndpointStatsMap(), zone: undefined };
  let version = 0;

  /** Installs a table with these services, each served by the one app, as the agent does. */
  const install = (...services: string[]) => {
    const routes: Routes = {
      type: 'routes',
      version: ++version,
      nonce: 'n',
      services: Object.fromEntries(services.map((s) => [s, { endpoints: [ep(app)] }])),
    };
    table = new RouteTable(routes, 'control-plane', 0, deps, table);
    subs.onTable(table);
  };

  beforeAll(async () => {
    app = await upstream('app');
  });
  // Fresh subscriptions, and listeners that use them, for every test.
  beforeEach(async () => {
    subscribed = [];
    timers.clear();
    table = undefined;
    const log = createLogger('test', 'silent');
    subs = new Subscriptions({
      declared: ['declared'],
      waitMs: 1000,
      subscribe: (s) => subscribed.push(s),
      log,
      timers: manual,
    });
    install('svc');
    const options = {
      table: () => table,
      pools,
      stats: deps.stats,
      log,
      random: deps.random,
      clock: Date.now,
      subscriptions: subs,
    };
    listener = new OutboundListener(options);
    dedicated = new OutboundListener({ ...options, service: 'declared' });
    port = await listen(listener.server);
    dedicatedPort = await listen(dedicated.server);
  });
  afterEach(async () => {
    subs.close();
    for (const s of [listener.server, dedicated.server]) await closeServer(s);
  });
  afterAll(async () => {
    table?.close();
    await pools.close();
    await closeServer(app.server);
  });

  it('holds a request for a new service until a table that has it arrives, then routes it', async () => {
    const answer = send(port, 'GET', undefined, undefined, 'users');
    await until(() => subs.held === 1, 'the request to be held');
    expect(subscribed).toEqual([['users']]);
    install('svc', 'users');
    expect(await answer).toMatchObject({ status: 200, instance: 'app' });
    expect(timers.size).toBe(0);
  });

  it('holds a request when the agent has no table at all yet, and routes it when one comes', async () => {
    table = undefined;
    const answer = send(port, 'GET', undefined, undefined, 'users');
    await until(() => subs.held === 1, 'the request to be held');
    install('users');
    expect(await answer).toMatchObject({ status: 200, instance: 'app' });
  });

  it('answers the unknown-service 404 when the wait is up, and at once for the next request', async () => {
    const answer = send(port, 'GET', undefined, undefined, 'ghost');
    await until(() => subs.held === 1, 'the request to be held');
    fireTimers();
    const a = await answer;
    expect(a.status).toBe(404);
    expect(JSON.parse(a.body).error.code).toBe('MESHLET_UNKNOWN_SERVICE');
    // Subscribed already: the control plane does not know it, so no second wait.
    const again = await send(port, 'GET', undefined, undefined, 'ghost');
    expect(again.status).toBe(404);
    expect(subscribed).toEqual([['ghost']]);
    expect(timers.size).toBe(0);
  });

  it('makes concurrent requests for the same new service share one subscribe and one wait', async () => {
    const answers = Array.from({ length: 5 }, () => send(port, 'GET', undefined, undefined, 'later'));
    await until(() => subs.held === 5, 'all five requests to be held');
    expect(subscribed).toEqual([['later']]);
    expect(timers.size).toBe(1);
    install('svc', 'later');
    for (const a of await Promise.all(answers)) expect(a).toMatchObject({ status: 200, instance: 'app' });
  });

  it('lets go of a request whose client left during the wait', async () => {
    const req = request({ host: '127.0.0.1', port, path: 'http://leaver/x', agent: false });
    req.on('error', () => undefined);
    req.end();
    await until(() => subs.held === 1, 'the request to be held');
    req.destroy();
    await until(() => subs.held === 0, 'the held request to be let go');
    // The shared wait still runs to its deadline, for requests that come meanwhile; then nothing is left.
    expect(timers.size).toBe(1);
    fireTimers();
    expect(subs.waiting).toBe(0);
  });

  it('answers 404 at once, without subscribing, for declared services and names that are not DNS labels', async () => {
    expect((await send(port, 'GET', undefined, undefined, 'declared')).status).toBe(404);
    expect((await send(port, 'GET', undefined, undefined, 'no_such')).status).toBe(404);
    expect((await send(dedicatedPort)).status).toBe(404);
    expect(subscribed).toEqual([]);
  });
});
