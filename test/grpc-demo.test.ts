import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { type GrpcAppHandle, startGrpcDemoApp } from './harness/grpc-app.js';
import { endpointIds, ROOT, withMesh } from './harness/mesh.js';
import { waitFor } from './harness/wait.js';

// The README's gRPC tour, as a user runs it: deploy/local/grpc-call.mjs (grpc-js, one channel, h2c to the client
// agent's outbound listener with `greeter` as the :authority) against two gRPC demo apps behind their agents.

const run = promisify(execFile);
const GRPC_CALL = join(ROOT, 'deploy', 'local', 'grpc-call.mjs');

describe('the gRPC demo tour (deploy/local/grpc-call.mjs)', () => {
  const mesh = withMesh();

  it('makes every kind of call through the mesh, spreads one channel over both instances (directly and through grpc_proxy), and drills a fault', async () => {
    const cp = await mesh.controlPlane({ services: { greeter: { protocol: 'grpc' } } });
    const apps: GrpcAppHandle[] = [];
    for (const id of ['greeter-1', 'greeter-2']) {
      const app = await startGrpcDemoApp({ instance: id });
      apps.push(app);
      await mesh.agent({ agentId: id, cp, instance: { service: 'greeter', app, healthCheck: { kind: 'grpc' } } });
    }
    const client = await mesh.agent({ agentId: 'client', cp, outbound: true, calls: ['greeter'] });
    await waitFor('the client to see both greeters', async () => (await endpointIds(client, 'greeter')).length === 2);
    const call = async (...args: string[]) =>
      (await run(process.execPath, [GRPC_CALL, '--target', `127.0.0.1:${client.outboundPort}`, ...args])).stdout;

    expect(await call('hello', 'tour')).toMatch(/^Hello, tour, from greeter-[12]\n$/);
    expect((await call('count', '3')).trim().split('\n')).toEqual([
      expect.stringMatching(/^1 \(from greeter-[12]\)$/),
      expect.stringMatching(/^2 \(from greeter-[12]\)$/),
      expect.stringMatching(/^3 \(from greeter-[12]\)$/),
    ]);
    expect(await call('sum', '1', '2', '3', '4')).toMatch(/^sum 10 of 4 numbers \(from greeter-[12]\)\n$/);
    expect((await call('echo', 'a', 'b')).trim().split('\n')).toEqual([
      expect.stringMatching(/^greeter-[12]: a$/),
      expect.stringMatching(/^greeter-[12]: b$/),
    ]);
    const spread = await call('spread', '40');
    expect(spread).toMatch(/greeter-1 {2}\d+/);
    expect(spread).toMatch(/greeter-2 {2}\d+/);
    expect(spread).not.toMatch(/failed/);
    expect(await call('health')).toBe('SERVING\n');

    // grpc-js's own proxy support, as an app with grpc_proxy set uses it: a CONNECT tunnel to greeter:80 on the
    // outbound listener, the calls inside it balanced per call as on a direct channel.
    const proxied = async (...args: string[]) =>
      (await run(process.execPath, [GRPC_CALL, '--proxy', `http://127.0.0.1:${client.outboundPort}`, ...args])).stdout;
    expect(await proxied('hello', 'proxy')).toMatch(/^Hello, proxy, from greeter-[12]\n$/);
    const proxiedSpread = await proxied('spread', '40');
    expect(proxiedSpread).toMatch(/greeter-1 {2}\d+/);
    expect(proxiedSpread).toMatch(/greeter-2 {2}\d+/);
    expect(proxiedSpread).not.toMatch(/failed/);

    // The drill goes straight to one app (its Drill service), not through the mesh.
    const direct = async (...args: string[]) =>
      (await run(process.execPath, [GRPC_CALL, '--target', `127.0.0.1:${apps[0]?.port}`, ...args])).stdout;
    expect(await direct('fault', 'internal')).toBe('fault mode internal (delay 2000 ms)\n');
    const failed = await run(process.execPath, [GRPC_CALL, '--target', `127.0.0.1:${apps[0]?.port}`, 'hello']).catch(
      (e: { code: number; stderr: string }) => e,
    );
    expect(failed).toMatchObject({
      code: 1,
      stderr: 'grpc-call: hello failed: INTERNAL: injected fault: greeter-1 answers INTERNAL\n',
    });
    expect(await direct('fault', 'none')).toBe('fault mode none (delay 2000 ms)\n');
    expect(JSON.parse(await direct('stats'))).toMatchObject({ instance: 'greeter-1', cancelled: 0 });
  });
});
