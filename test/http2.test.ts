import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import getPort from 'get-port';
import { describe, expect, it } from 'vitest';
import { type AgentHandle, endpointIds, ROOT, withMesh } from './harness/mesh.js';
import { Proc } from './harness/process.js';
import { waitFor } from './harness/wait.js';

// Cleartext HTTP/2 from apps, HTTP/2 between agents and to apps that speak it, with real curl and real processes.

const run = promisify(execFile);
const H2C_APP = join(ROOT, 'test', 'fixtures', 'h2c-app.mjs');

async function curl(...args: string[]): Promise<{ status: number; body: string; version: string }> {
  const { stdout } = await run('curl', [
    '-sS',
    '-o',
    '-',
    '-w',
    '\n%{http_code} %{http_version}',
    '--max-time',
    '10',
    ...args,
  ]);
  const at = stdout.lastIndexOf('\n');
  const [status, version] = stdout.slice(at + 1).split(' ');
  return { status: Number(status), body: stdout.slice(0, at), version: version ?? '' };
}

describe('HTTP/2 through the mesh', () => {
  const mesh = withMesh();
  let client: AgentHandle;
  let web: AgentHandle;

  it('starts an HTTP/1.1 service, an HTTP/2 one and a client with a dedicated port', async () => {
    const cp = await mesh.controlPlane({ services: { web: { protocol: 'http2' } } });
    await mesh.instance(cp, 'hello', 'hello-1');
    const port = await getPort();
    const proc = new Proc('web-1-app', process.execPath, [H2C_APP, String(port), 'web-1']);
    await waitFor('the h2c app to listen', () => proc.output.includes('h2c app listening'));
    web = await mesh.agent({ agentId: 'web-1', cp, instance: { service: 'web', app: { proc, port } as never } });
    client = await mesh.agent({ agentId: 'client', cp, outbound: true, calls: ['web'], upstreams: { hello: 'free' } });
    await waitFor(
      'the client to see both',
      async () => (await endpointIds(client, 'web')).length === 1 && (await endpointIds(client, 'hello')).length === 1,
    );
  });

  it('answers curl --http2-prior-knowledge on the outbound listener and on a dedicated port', async () => {
    const viaHost = await curl(
      '--http2-prior-knowledge',
      '-H',
      'Host: hello',
      `http://127.0.0.1:${client.outboundPort}/x`,
    );
    expect(viaHost).toMatchObject({ status: 200, version: '2' });
    expect(JSON.parse(viaHost.body)).toMatchObject({ instance: 'hello-1', path: '/x' });
    const dedicated = await curl('--http2-prior-knowledge', `http://127.0.0.1:${client.upstreamPorts.hello}/y`);
    expect(dedicated).toMatchObject({ status: 200, version: '2' });
    expect(JSON.parse(dedicated.body)).toMatchObject({ instance: 'hello-1', path: '/y' });
    // HTTP/1.1 on the same ports, as before.
    expect(await curl('-H', 'Host: hello', `http://127.0.0.1:${client.outboundPort}/`)).toMatchObject({
      status: 200,
      version: '1.1',
    });
  });

  it('speaks HTTP/2 to an app whose service declares it, from HTTP/2 and HTTP/1.1 callers alike, naming the caller', async () => {
    const h2 = await curl('--http2-prior-knowledge', '-H', 'Host: web', `http://127.0.0.1:${client.outboundPort}/a`);
    expect(h2.status).toBe(200);
    expect(JSON.parse(h2.body)).toMatchObject({
      protocol: 'h2',
      path: '/a',
      caller: 'spiffe://meshlet.local/svc/client',
    });
    const h1 = await curl('-x', `http://127.0.0.1:${client.outboundPort}`, 'http://web/b');
    expect(h1.status).toBe(200);
    expect(JSON.parse(h1.body)).toMatchObject({
      protocol: 'h2',
      path: '/b',
      caller: 'spiffe://meshlet.local/svc/client',
    });
  });

  it('attack: a caller forging x-meshlet-caller over HTTP/2 is not believed (the app sees the mTLS identity)', async () => {
    const forged = await curl(
      '--http2-prior-knowledge',
      '-H',
      'Host: web',
      '-H',
      'x-meshlet-caller: spiffe://meshlet.local/svc/admin',
      `http://127.0.0.1:${client.outboundPort}/c`,
    );
    expect(JSON.parse(forged.body)).toMatchObject({ caller: 'spiffe://meshlet.local/svc/client' });
  });

  it('attack: cleartext HTTP/2 straight to an inbound listener in strict mTLS mode is refused, never relayed', async () => {
    const direct = await curl('--http2-prior-knowledge', '-H', 'Host: web', `http://127.0.0.1:${web.inboundPort}/d`);
    expect(direct.status).toBe(403);
    expect(JSON.parse(direct.body)).toMatchObject({ error: { code: 'MESHLET_MTLS_REQUIRED' } });
  });
});
