import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AgentHandle, type ControlPlaneHandle, ROOT, withMesh } from './harness/mesh.js';

// outboundTrafficPolicy through the real agent binary: a client agent
// started with allow-any (set through its MESHLET_* variable, which the
// spawned agent inherits) passes a request and a CONNECT for a host outside
// the mesh through to it (a plain HTTP server of the test on loopback stands
// for that host), and never to its own listeners or its control plane.

/** curl with `args`, 20 s at most, never throwing: stdout and stderr. */
function curl(args: string[]): Promise<{ stdout: string; stderr: string }> {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (/^(https?|all|no)_proxy$/i.test(k)) delete env[k];
  return new Promise((resolve) => {
    execFile('curl', ['-sS', ...args], { env, cwd: ROOT, timeout: 20_000, encoding: 'utf8' }, (_e, stdout, stderr) =>
      resolve({ stdout, stderr }),
    );
  });
}

describe('outboundTrafficPolicy allow-any (real agent)', () => {
  const mesh = withMesh();
  let cp: ControlPlaneHandle;
  let client: AgentHandle;
  let proxy: string;
  let outside: Server;
  let outsidePort: number;
  let hits = 0;

  beforeAll(async () => {
    outside = createServer((req, res) => {
      hits++;
      res.end(`outside ${req.url}`);
    });
    outside.listen(0, '127.0.0.1');
    await once(outside, 'listening');
    outsidePort = (outside.address() as AddressInfo).port;
    process.env.MESHLET_OUTBOUND_TRAFFIC_POLICY_MODE = 'allow-any';
    try {
      ({ cp, client } = await mesh.start({ instances: { hello: ['hello-1'] }, client: { calls: ['hello'] } }));
    } finally {
      delete process.env.MESHLET_OUTBOUND_TRAFFIC_POLICY_MODE;
    }
    proxy = `http://127.0.0.1:${client.outboundPort as number}`;
  });
  afterAll(() => new Promise<void>((r) => outside.close(() => r())));

  it('passes a plain request (curl -x) and a CONNECT (curl -p -x) for a host outside the mesh through to it', async () => {
    const url = `http://127.0.0.1:${outsidePort}/ext`;
    expect((await curl(['-x', proxy, url])).stdout).toBe('outside /ext');
    expect((await curl(['-p', '-x', proxy, url])).stdout).toBe('outside /ext');
    expect(hits).toBe(2);
  });

  it('still routes mesh services through the mesh', async () => {
    const r = await curl(['-p', '-x', proxy, 'http://hello/in-mesh']);
    expect(JSON.parse(r.stdout)).toMatchObject({ service: 'hello', instance: 'hello-1' });
  });

  it("never passes through to the agent's own listeners or its control plane: 403 MESHLET_PASSTHROUGH_FORBIDDEN", async () => {
    const targets = {
      admin: client.adminPort,
      outbound: client.outboundPort as number,
      'control plane': cp.port,
    };
    for (const [what, port] of Object.entries(targets)) {
      for (const host of ['127.0.0.1', 'localhost']) {
        const plain = await curl(['-x', proxy, '-D', '-', `http://${host}:${port}/config`]);
        expect(plain.stdout, `${what} ${host}`).toMatch(/^HTTP\/1\.1 403 /);
        expect(plain.stdout, `${what} ${host}`).toContain('MESHLET_PASSTHROUGH_FORBIDDEN');
        const tunnel = await curl([
          '-p',
          '-x',
          proxy,
          '-o',
          '/dev/null',
          '-w',
          '%{http_connect}',
          `http://${host}:${port}/`,
        ]);
        expect(tunnel.stdout, `${what} ${host} CONNECT`).toBe('403');
      }
    }
  });
});
