import { createServer, type IncomingMessage, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolveAuthzPolicy } from '@meshlet/shared';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createAgentMetrics } from '../metrics.js';
import { capturedLogger } from '../listener/test-support/log-capture.js';
import { closeServer } from '../listener/test-support/loopback.js';
import { authorizeInbound, decideInbound, type InboundAuthzContext } from './authorize-inbound.js';
import type { PolicyInForce } from './own-service-policy.js';

// authorizeInbound in front of a real HTTP server on loopback, standing for
// the inbound listener: the caller's verified identity comes from the TLS
// handshake there; here each request names the identity it stands for in a
// test-only header the server reads before authorizing.

const TD = 'meshlet.local';
const web = `spiffe://${TD}/svc/web`;
const batch = `spiffe://${TD}/svc/batch`;

let server: Server;
let port: number;
let policy: PolicyInForce;
let now = 0;
/** What the app was sent: method and url of each request that got through. */
const reached: string[] = [];
const metrics = createAgentMetrics({ controlPlaneConnected: () => true, tableVersion: () => 1 });
const captured = capturedLogger();
const ctx: InboundAuthzContext = {
  service: 'orders',
  policy: () => policy,
  trustDomain: () => TD,
  clock: () => now,
  metrics,
  log: captured.root,
};

beforeAll(async () => {
  server = createServer((req, res) => {
    const caller = req.headers['x-test-caller'];
    if (!authorizeInbound(ctx, typeof caller === 'string' ? caller : undefined, req, res)) return;
    reached.push(`${req.method} ${req.url}`);
    res.end('ok');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});
afterAll(() => closeServer(server));
afterEach(() => {
  now += 60_000;
  reached.length = 0;
  captured.lines.length = 0;
  metrics.authzDecisions.reset();
});

/** node:http, not fetch: fetch would resolve dot segments itself, and the server must see the raw path. */
function send(caller: string | undefined, method: string, path: string) {
  return new Promise<{ status: number; header: string | undefined; body: string; retryAfter?: string }>(
    (resolve, reject) => {
      const req = request(
        { host: '127.0.0.1', port, method, path, headers: caller ? { 'x-test-caller': caller } : {} },
        (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (body += c));
          res.on('end', () => {
            const header = res.headers['x-meshlet-error'];
            resolve({
              status: res.statusCode ?? 0,
              header: typeof header === 'string' ? header : undefined,
              body,
              ...(res.headers['retry-after'] ? { retryAfter: res.headers['retry-after'] } : {}),
            });
          });
        },
      );
      req.on('error', reject);
      req.end();
    },
  );
}

async function counted(): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const v of (await metrics.authzDecisions.get()).values)
    out[`${v.labels.caller}/${v.labels.service}/${v.labels.decision}`] = v.value;
  return out;
}

const webReads = resolveAuthzPolicy({
  rules: [
    { name: 'web-reads', from: ['web'], methods: ['GET'], paths: ['/api/'] },
    { name: 'no-admin', action: 'deny', paths: ['/api/admin'] },
  ],
});

describe('authorizeInbound', () => {
  it('lets every caller through when the service has no policy, and counts them', async () => {
    policy = undefined;
    expect((await send(batch, 'POST', '/x')).status).toBe(200);
    expect((await send(undefined, 'GET', '/y')).status).toBe(200);
    expect(reached).toEqual(['POST /x', 'GET /y']);
    expect(await counted()).toEqual({ 'batch/orders/allowed': 1, 'unauthenticated/orders/allowed': 1 });
  });

  it('a caller the policy does not allow gets a JSON 403 naming the caller, the service and the rule', async () => {
    policy = webReads;
    const denied = await send(batch, 'GET', '/api/orders');
    expect(denied.status).toBe(403);
    expect(denied.header).toBe('MESHLET_AUTHZ_DENIED');
    expect(JSON.parse(denied.body)).toMatchObject({
      error: { code: 'MESHLET_AUTHZ_DENIED', caller: 'batch', service: 'orders', rule: 'no-allow-rule-matched' },
    });
    expect((await send(web, 'GET', '/api/orders')).status).toBe(200);
    expect(reached).toEqual(['GET /api/orders']);
    expect(await counted()).toEqual({ 'batch/orders/denied': 1, 'web/orders/allowed': 1 });
    expect(captured.lines.find((l) => l.msg?.toString().startsWith('authorization denied'))).toMatchObject({
      level: 40,
      caller: 'batch',
      service: 'orders',
      rule: 'no-allow-rule-matched',
    });
  });

  it('an allowed caller with a method or path the policy does not allow is denied', async () => {
    policy = webReads;
    expect((await send(web, 'DELETE', '/api/orders')).status).toBe(403);
    const admin = await send(web, 'GET', '/api/admin/users');
    expect(JSON.parse(admin.body)).toMatchObject({ error: { rule: 'no-admin' } });
    expect(reached).toEqual([]);
  });

  it('a dot-segment path around a deny rule is denied, and the app is sent the path that was judged', async () => {
    policy = webReads;
    for (const sneaky of ['/api/orders/../admin/users', '/api/orders/%2e%2e/admin/users', '/api//admin/users']) {
      const r = await send(web, 'GET', sneaky);
      expect(r.status, sneaky).toBe(403);
      expect(JSON.parse(r.body)).toMatchObject({ error: { rule: 'no-admin' } });
    }
    expect((await send(web, 'GET', '/api/x/../orders?q=1')).status).toBe(200);
    expect(reached).toEqual(['GET /api/orders?q=1']);
  });

  it('a plaintext caller is denied by a policy that does not name unauthenticated', async () => {
    policy = webReads;
    const r = await send(undefined, 'GET', '/api/orders');
    expect(JSON.parse(r.body)).toMatchObject({ error: { caller: 'unauthenticated', rule: 'no-allow-rule-matched' } });
  });

  it('a caller of another trust domain with a same-named service is denied', async () => {
    policy = webReads;
    const r = await send('spiffe://evil.example/svc/web', 'GET', '/api/orders');
    expect(r.status).toBe(403);
    expect(JSON.parse(r.body)).toMatchObject({ error: { caller: 'spiffe://evil.example/svc/web' } });
  });

  it('audit mode denies nothing, and logs and counts what it would have denied', async () => {
    policy = resolveAuthzPolicy({ ...webReads, mode: 'audit' });
    expect((await send(batch, 'GET', '/api/orders')).status).toBe(200);
    expect((await send(web, 'GET', '/api/admin/x')).status).toBe(200);
    expect((await send(web, 'GET', '/api/orders')).status).toBe(200);
    expect(reached).toHaveLength(3);
    expect(await counted()).toEqual({ 'batch/orders/audited': 1, 'web/orders/audited': 1, 'web/orders/allowed': 1 });
    const audits = captured.lines.filter((l) => l.msg?.toString().startsWith('authorization audit'));
    expect(audits.map((l) => l.rule)).toEqual(['no-allow-rule-matched', 'no-admin']);
  });

  it('an absolute-form target with an authority the URL parser refuses is normalized and denied, not relayed raw', async () => {
    policy = webReads;
    for (const target of ['http://x:99999/api/admin/users', 'http://x:99999/api/orders/../admin']) {
      const r = await send(web, 'GET', target);
      expect(r.status, target).toBe(403);
      expect(JSON.parse(r.body)).toMatchObject({ error: { rule: 'no-admin' } });
    }
    expect((await send(web, 'GET', 'http://x:99999/api/orders?q')).status).toBe(200);
    expect(reached).toEqual(['GET /api/orders?q']);
  });

  it('a target in neither origin nor absolute form is refused 400 while a policy is in force, not relayed raw', async () => {
    // node:http refuses such a target itself; a listener that hands one on (another parser, CONNECT) is refused here.
    policy = webReads;
    const req = { method: 'GET', url: 'api/admin' } as IncomingMessage;
    const r = decideInbound(ctx, web, req);
    expect(r.error?.statusCode).toBe(400);
    expect(r.error?.code).toBe('MESHLET_BAD_REQUEST');
    expect(r.error?.message).toMatch(/origin-form target such as "\/orders"/);
    expect(await counted()).toEqual({ 'web/orders/refused': 1 });
  });

  it('percent-encoded letters around a deny rule are decoded and denied (/api/%61dmin)', async () => {
    policy = webReads;
    for (const sneaky of ['/api/%61dmin/users', '/%61pi/%41dmin'.replace('%41', '%61'), '/api/%2e%2e/api/admin']) {
      const r = await send(web, 'GET', sneaky);
      expect(r.status, sneaky).toBe(403);
      expect(JSON.parse(r.body)).toMatchObject({ error: { rule: 'no-admin' } });
    }
    expect(reached).toEqual([]);
  });

  it('an encoded slash or backslash under path rules is refused 400 (/api%2fadmin)', async () => {
    policy = webReads;
    for (const sneaky of ['/api%2fadmin/users', '/api/x%5C..%5Cadmin', '/api%2Fadmin']) {
      const r = await send(web, 'GET', sneaky);
      expect(r.status, sneaky).toBe(400);
      expect(r.header).toBe('MESHLET_BAD_REQUEST');
      expect(JSON.parse(r.body).error.message).toMatch(/encoded slash.*send "\/" unencoded/);
    }
    policy = resolveAuthzPolicy({ rules: [{ from: ['web'] }] });
    expect((await send(web, 'GET', '/a%2fb')).status).toBe(200);
    expect(reached).toEqual(['GET /a%2Fb']);
  });

  it('while the agent has no table entry for its own service, a request is refused 503, retryable, not allowed', async () => {
    policy = 'unknown';
    const r = await send(web, 'GET', '/api/orders');
    expect(r.status).toBe(503);
    expect(r.header).toBe('MESHLET_AUTHZ_POLICY_UNKNOWN');
    expect(r.retryAfter).toBe('1');
    expect(JSON.parse(r.body).error.message).toMatch(
      /has not received the routing table entry of its own service orders/,
    );
    expect(reached).toEqual([]);
    expect(await counted()).toEqual({ 'web/orders/refused': 1 });
  });

  it('a denied flood logs one line per caller, service and rule per 10 s, with the count held back; the metric counts all', async () => {
    policy = webReads;
    for (let i = 0; i < 5; i++) expect((await send(batch, 'GET', '/api/orders')).status).toBe(403);
    now += 10_000;
    expect((await send(batch, 'GET', '/api/orders')).status).toBe(403);
    const lines = captured.lines.filter((l) => l.msg?.toString().startsWith('authorization denied'));
    expect(lines.map((l) => l.suppressed)).toEqual([0, 4]);
    expect(await counted()).toEqual({ 'batch/orders/denied': 6 });
  });
});
