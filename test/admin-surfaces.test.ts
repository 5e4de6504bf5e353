import { spawnSync } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import getPort from 'get-port';
import { describe, expect, it } from 'vitest';
import { chromiumPath, launchChromium } from './harness/chromium.js';
import { httpRequest } from './harness/http.js';
import { AGENT_BIN, CP_BIN, type StartedMesh, withMesh } from './harness/mesh.js';
import { meshctl } from './harness/meshctl.js';
import { Proc } from './harness/process.js';
import { waitFor } from './harness/wait.js';

// Issue 16, the admin surfaces: what a web page the operator opens, a DNS
// rebinding, a guesser behind the operators' NAT and a plain network can do
// to the control plane's admin API and the agent's admin port. Real
// processes on loopback; every attack here got through before the fix.

const READER = 'reader-9f86d081884c7d659a2feaa0';
const ADMIN = 'admin-5b1d9e2c7f3a8064e1c2d3b4';

const errorCode = (body: string): string | undefined => (JSON.parse(body) as { error?: { code?: string } }).error?.code;

describe('cross-site writes on loopback: a control plane and an agent without tokens', () => {
  const mesh = withMesh();
  let started: StartedMesh;
  const state = async (id: string) =>
    (await httpRequest(started.cp.port, `/v1/instances/${id}`)).json().state as string;

  it('starts', async () => {
    started = await mesh.start({ instances: { hello: ['hello-1', 'hello-2'] } });
    await waitFor('hello-2 healthy', async () => (await state('hello-2')) === 'healthy');
  });

  it("the issue's curl: a POST with Origin http://evil.example cannot drain an instance", async () => {
    // curl -X POST -H 'Origin: http://evil.example' http://127.0.0.1:15010/v1/instances/hello-2/drain
    const a = await httpRequest(started.cp.port, '/v1/instances/hello-2/drain', {
      method: 'POST',
      headers: { origin: 'http://evil.example' },
    });
    expect(a.status).toBe(403);
    expect(errorCode(a.body)).toBe('MESHLET_CROSS_SITE_REQUEST');
    // A JSON body does not make another site's page welcome either.
    const json = await httpRequest(started.cp.port, '/v1/instances/hello-2/drain', {
      method: 'POST',
      headers: { origin: 'http://evil.example', 'content-type': 'application/json' },
      body: '{}',
    });
    expect(json.status).toBe(403);
    expect(await state('hello-2')).toBe('healthy');
  });

  it('a page of another origin in Chromium (fetch no-cors, form post, sendBeacon) cannot drain an instance', async () => {
    chromiumPath();
    const target = `${started.cp.url}/v1/instances/hello-2/drain`;
    // The attacker's page, served from another origin (another port: another origin to the browser).
    const page = `<!doctype html><form id="f" method="POST" action="${target}" enctype="text/plain"><input name="reason" value="x"></form>
<script>
// Without a body, as the issue's curl: before the fix this alone drained the instance.
fetch(${JSON.stringify(target)}, { method: 'POST', mode: 'no-cors' })
  .finally(() => fetch(${JSON.stringify(target)}, { method: 'POST', mode: 'no-cors', body: '{"reason":"evil"}' }))
  .finally(() => {
  navigator.sendBeacon(${JSON.stringify(target)}, 'x');
  document.getElementById('f').submit();
});
</script>`;
    const evil = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(page));
    await new Promise<void>((resolve) => evil.listen(0, '127.0.0.1', resolve));
    const browser = await launchChromium();
    const seen: number[] = [];
    try {
      const tab = await browser.newPage();
      tab.on('response', (r) => {
        if (r.url() === target) seen.push(r.status());
      });
      await tab.goto(`http://127.0.0.1:${(evil.address() as AddressInfo).port}/`);
      // The form navigates the tab to the control plane's answer.
      await tab.waitForURL(target, { timeout: 15_000 });
      expect(tab.url()).toBe(target);
      expect(await tab.textContent('body')).toContain('MESHLET_CROSS_SITE_REQUEST');
    } finally {
      await browser.close();
      evil.close();
    }
    expect(seen).toContain(403);
    expect(seen).not.toContain(200);
    expect(await state('hello-2')).toBe('healthy');
  });

  it('a form post (text/plain, no Origin, as older browsers send it) cannot drain an instance', async () => {
    const a = await httpRequest(started.cp.port, '/v1/instances/hello-2/drain', {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: 'reason=x',
    });
    expect(a.status).toBe(403);
    expect(a.json().error.message).toContain('x-meshlet-request');
    expect(await state('hello-2')).toBe('healthy');
  });

  it('a DNS-rebound page (Host: evil.example) can neither read nor write; loopback names and addresses still can', async () => {
    for (const [method, path] of [
      ['GET', '/v1/snapshots/full'],
      ['POST', '/v1/instances/hello-2/drain'],
    ] as const) {
      const a = await httpRequest(started.cp.port, path, {
        method,
        headers: { host: `evil.example:${started.cp.port}`, 'x-meshlet-request': '1' },
      });
      expect(a.status).toBe(403);
      expect(errorCode(a.body)).toBe('MESHLET_HOST_NOT_ALLOWED');
      expect(a.json().error.message).toContain('auth.allowedHosts');
    }
    for (const host of [`localhost:${started.cp.port}`, `127.0.0.1:${started.cp.port}`])
      expect((await httpRequest(started.cp.port, '/v1/services', { headers: { host } })).status).toBe(200);
    expect(await state('hello-2')).toBe('healthy');
  });

  it('meshctl still drains and undrains (it sends x-meshlet-request), and the same-origin page may write', async () => {
    const env = { MESHCTL_SERVER: started.cp.url };
    const drained = await meshctl(['drain', 'hello-2', '--reason', 'kernel upgrade'], { env, home: mesh.scratch.dir });
    expect(drained.stderr).toBe('');
    expect(drained.code).toBe(0);
    expect(await state('hello-2')).toBe('draining');
    const same = await httpRequest(started.cp.port, '/v1/instances/hello-2/undrain', {
      method: 'POST',
      headers: { origin: started.cp.url, 'x-meshlet-request': '1' },
    });
    expect(same.status).toBe(200);
    expect((await meshctl(['undrain', 'hello-2'], { env, home: mesh.scratch.dir })).code).toBe(0);
  });

  it("the agent's admin port: a foreign Origin cannot change the log level, a rebound Host cannot read /config", async () => {
    const port = started.agents['hello-1']?.adminPort as number;
    const put = (headers: Record<string, string>) =>
      httpRequest(port, '/log-level', {
        method: 'PUT',
        headers: { 'content-type': 'application/json', ...headers },
        body: '{"level":"debug"}',
      });
    const evil = await put({ origin: 'http://evil.example' });
    expect(evil.status).toBe(403);
    expect(errorCode(evil.body)).toBe('MESHLET_CROSS_SITE_REQUEST');
    const form = await httpRequest(port, '/log-level', {
      method: 'PUT',
      headers: { 'content-type': 'text/plain' },
      body: '{"level":"debug"}',
    });
    expect(form.status).toBe(403);
    expect((await httpRequest(port, '/log-level')).json()).toEqual({ level: 'info' });
    const rebound = await httpRequest(port, '/config', { headers: { host: `evil.example:${port}` } });
    expect(rebound.status).toBe(403);
    expect(errorCode(rebound.body)).toBe('MESHLET_HOST_NOT_ALLOWED');
    expect(rebound.json().error.message).toContain('listeners.admin.allowedHosts');
    // The operator's curl still works.
    expect((await put({})).json()).toEqual({ level: 'debug' });
    expect((await httpRequest(port, '/ready', { headers: { host: `localhost:${port}` } })).status).toBe(200);
  });
});

describe('/docs: the dashboard headers, and behind the tokens on request', () => {
  const mesh = withMesh();

  it('/docs and /docs/json carry the CSP and frame protection of the dashboard', async () => {
    const cp = await mesh.controlPlane();
    for (const path of ['/docs', '/docs/', '/docs/json', '/docs/static/swagger-initializer.js']) {
      const a = await httpRequest(cp.port, path);
      expect(a.status, path).toBeLessThan(400);
      expect(a.headers['content-security-policy'], path).toContain("frame-ancestors 'none'");
      expect(a.headers['content-security-policy'], path).toContain("script-src 'self'");
      expect(a.headers['x-frame-options'], path).toBe('DENY');
      expect(a.headers['x-content-type-options'], path).toBe('nosniff');
    }
    await cp.proc.stop();
  });

  it('the /docs page still renders in Chromium under that CSP, with no violation reported', async () => {
    chromiumPath();
    const cp = await mesh.controlPlane();
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      const violations: string[] = [];
      page.on('console', (m) => {
        if (m.text().includes('Content Security Policy')) violations.push(m.text());
      });
      page.on('pageerror', (e) => violations.push(e.message));
      await page.goto(`${cp.url}/docs`);
      await page.getByText('meshlet admin API').first().waitFor({ timeout: 15_000 });
      await page.locator('.opblock').first().waitFor({ timeout: 15_000 });
      expect(violations).toEqual([]);
    } finally {
      await browser.close();
      await cp.proc.stop();
    }
  });

  it('with auth.protectDocs, /docs and /docs/json need a token (the read-only one will do)', async () => {
    const cp = await mesh.controlPlane({ auth: { adminToken: ADMIN, readOnlyToken: READER, protectDocs: true } });
    for (const path of ['/docs', '/docs/json']) {
      expect((await httpRequest(cp.port, path)).status, path).toBe(401);
      const read = await httpRequest(cp.port, path, { headers: { authorization: `Bearer ${READER}` } });
      expect(read.status, path).toBeLessThan(400);
    }
    // The dashboard page itself stays open: it holds no data.
    expect((await httpRequest(cp.port, '/')).status).toBe(200);
    await cp.proc.stop();
  });
});

describe('locked out by someone else’s mistakes', () => {
  const mesh = withMesh();

  it('after 5 wrong admin tokens from one address, the right token from it still passes; the wrong ones wait', async () => {
    const cp = await mesh.controlPlane({ auth: { adminToken: ADMIN } });
    const as = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });
    for (let i = 0; i < 5; i++)
      expect((await httpRequest(cp.port, '/v1/services', as(`guess-${i}-0123456789abcdef`))).status).toBe(401);
    const sixth = await httpRequest(cp.port, '/v1/services', as('guess-6-0123456789abcdef'));
    expect(sixth.status).toBe(429);
    expect(Number(sixth.headers['retry-after'])).toBeGreaterThan(0);
    expect((await httpRequest(cp.port, '/v1/services', as(ADMIN))).status).toBe(200);
    const write = await httpRequest(cp.port, '/v1/log-level', {
      method: 'PUT',
      headers: { ...as(ADMIN).headers, 'content-type': 'application/json' },
      body: '{"level":"info"}',
    });
    expect(write.status).toBe(200);
    await cp.proc.stop();
  });
});

describe('TLS beyond loopback', () => {
  const { scratch } = withMesh();
  const run = (bin: string, file: string) =>
    spawnSync(process.execPath, [bin, '--config', file], { encoding: 'utf8', timeout: 20_000 });

  it('a control plane on 0.0.0.0 without TLS refuses to start, naming the setting and the fix', () => {
    const file = scratch.config('cp-plain-remote', {
      listen: { host: '0.0.0.0', port: 0 },
      dataDir: `${scratch.dir}/cp-plain`,
      auth: { adminToken: ADMIN },
    });
    const r = run(CP_BIN, file);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('tls.certFile: is required when listen.host is 0.0.0.0');
    expect(r.stderr).toContain('set tls.certFile and tls.keyFile');
    expect(r.stderr).toContain('tls.allowPlaintextRemote: true');
    expect(r.stderr).not.toContain(ADMIN);
  });

  it('with tls.allowPlaintextRemote it starts, and says so loudly; a weak token is named, never shown', async () => {
    const port = await getPort();
    const weak = 'Abcdef0123456789';
    const file = scratch.config('cp-opt-out', {
      listen: { host: '0.0.0.0', port },
      dataDir: `${scratch.dir}/cp-opt-out`,
      auth: { adminToken: ADMIN, readOnlyToken: weak },
      tls: { allowPlaintextRemote: true },
    });
    const proc = new Proc('cp-opt-out', process.execPath, [CP_BIN, '--config', file]);
    await waitFor('the control plane to listen', async () => (await httpRequest(port, '/healthz')).status === 200, {
      timeoutMs: 30_000,
    });
    const lines = proc.output
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { level: number; msg: string; setting?: string; tokenName?: string });
    expect(lines.find((l) => l.msg.startsWith('INSECURE: serving plain HTTP'))).toMatchObject({
      level: 40,
      setting: 'tls.allowPlaintextRemote',
    });
    expect(lines.find((l) => l.msg.startsWith('a bearer token looks weak'))).toMatchObject({
      level: 40,
      tokenName: 'auth.readOnlyToken',
    });
    expect(lines.filter((l) => l.msg.startsWith('a bearer token looks weak'))).toHaveLength(1);
    expect(proc.output).not.toContain(weak);
    await proc.stop();
  });

  it('an agent refuses ws:// to a control plane that is not on loopback, unless told otherwise', () => {
    const file = scratch.config('agent-plain-remote', {
      agentId: 'orders-1',
      service: 'orders',
      dataDir: `${scratch.dir}/agent-plain`,
      controlPlane: { url: 'ws://192.0.2.10:15010/v1/stream', joinToken: 'mjc_0123456789abcdef_secret' },
      listeners: { outbound: { port: 0 }, admin: { port: 0 } },
    });
    const r = run(AGENT_BIN, file);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('controlPlane.url: ws://192.0.2.10:15010/v1/stream is plain ws://');
    expect(r.stderr).toContain('use wss://');
    expect(r.stderr).toContain('controlPlane.allowPlaintextRemote: true');
    expect(r.stderr).not.toContain('mjc_0123456789abcdef_secret');
  });
});
