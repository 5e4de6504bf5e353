import { createServer as createHttp1Server } from 'node:http';
import { createServer as createH2Server, type Http2Server } from 'node:http2';
import type { AddressInfo } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { startGrpcDemoApp } from '@meshlet/test-harness/grpc-app';
import { killAll } from '@meshlet/test-harness/process';
import { afterAll, describe, expect, it } from 'vitest';
import { GrpcHealthCheck } from './grpc-health-check.js';

// Against a real grpc-js server process (deploy/local/grpc-demo-app.mjs) on
// loopback: what an app with the standard health service answers.
afterAll(() => killAll());

const app = (port: number) => ({ host: '127.0.0.1', port });

// Each test starts a process (grpc-js loads in about a second): more than the unit tests' 5 s default on a loaded machine.
describe('GrpcHealthCheck against the gRPC demo app', { timeout: 30_000 }, () => {
  it('passes on SERVING, for the whole server and for a named service, over one kept connection', async () => {
    const demo = await startGrpcDemoApp({ instance: 'hc-serving' });
    const whole = new GrpcHealthCheck(app(demo.port), '', 2_000);
    const named = new GrpcHealthCheck(app(demo.port), 'meshlet.demo.Greeter', 2_000);
    try {
      for (let i = 0; i < 3; i++)
        expect(await whole.probe()).toEqual({ ok: true, detail: 'gRPC Health/Check("") answered SERVING' });
      expect(await named.probe()).toMatchObject({ ok: true });
      expect((await demo.stats()).healthChecks).toBe(4);
    } finally {
      whole.close();
      named.close();
      await demo.proc.stop();
    }
  });

  it('fails on NOT_SERVING and on an unknown service, naming what the app answered', async () => {
    const demo = await startGrpcDemoApp({ instance: 'hc-not-serving', fault: 'not-serving' });
    const whole = new GrpcHealthCheck(app(demo.port), '', 2_000);
    const unknown = new GrpcHealthCheck(app(demo.port), 'nosuch.Service', 2_000);
    try {
      expect(await whole.probe()).toEqual({ ok: false, detail: 'gRPC Health/Check("") answered NOT_SERVING' });
      const r = await unknown.probe();
      expect(r.ok).toBe(false);
      expect(r.detail).toContain('answered NOT_FOUND: unknown service "nosuch.Service"');
      await demo.setFault('none');
      expect(await whole.probe()).toMatchObject({ ok: true });
    } finally {
      whole.close();
      unknown.close();
      await demo.proc.stop();
    }
  });

  it('fails a probe with no answer within the timeout, then passes once the app answers in time', async () => {
    const demo = await startGrpcDemoApp({ instance: 'hc-slow', fault: 'slow-health', delayMs: 3_000 });
    const check = new GrpcHealthCheck(app(demo.port), '', 200);
    try {
      expect(await check.probe()).toEqual({
        ok: false,
        detail: 'gRPC Health/Check("") failed: no answer within 200 ms',
      });
      await demo.setFault('none');
      expect(await check.probe()).toMatchObject({ ok: true });
    } finally {
      check.close();
      await demo.proc.stop();
    }
  });

  it('fails while the app is down (connection refused) and passes again once it is back on its port', async () => {
    const demo = await startGrpcDemoApp({ instance: 'hc-restart' });
    const check = new GrpcHealthCheck(app(demo.port), '', 2_000);
    try {
      expect(await check.probe()).toMatchObject({ ok: true });
      await demo.proc.stop('SIGKILL');
      const down = await check.probe();
      expect(down.ok).toBe(false);
      expect(down.detail).toBe('gRPC Health/Check("") failed: ECONNREFUSED');
      const again = await startGrpcDemoApp({ instance: 'hc-restart', port: demo.port });
      expect(await check.probe()).toMatchObject({ ok: true });
      await again.proc.stop();
    } finally {
      check.close();
    }
  });
});

describe('GrpcHealthCheck against servers that are not a gRPC health service', () => {
  it('fails on UNIMPLEMENTED from a gRPC server without the health service', async () => {
    const server = new grpc.Server();
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
    );
    const check = new GrpcHealthCheck(app(port), '', 2_000);
    try {
      const r = await check.probe();
      expect(r.ok).toBe(false);
      expect(r.detail).toMatch(/^gRPC Health\/Check\(""\) answered UNIMPLEMENTED/);
    } finally {
      check.close();
      server.forceShutdown();
    }
  });

  it('fails on a plain HTTP/2 answer, a SERVING message without grpc-status, and a health answer flood (1 MiB) it stops reading', async () => {
    let mode: 'http404' | 'no-trailer' | 'huge' = 'http404';
    const h2: Http2Server = createH2Server((req, res) => {
      if (mode === 'http404') {
        res.writeHead(404, { 'content-type': 'text/plain' });
        return res.end('nothing here');
      }
      res.writeHead(200, { 'content-type': 'application/grpc' });
      if (mode === 'huge') return res.end(Buffer.alloc(1 << 20, 0x41));
      res.end(Buffer.from([0, 0, 0, 0, 2, 0x08, 0x01]));
    });
    await new Promise<void>((r) => h2.listen(0, '127.0.0.1', r));
    const check = new GrpcHealthCheck(app((h2.address() as AddressInfo).port), '', 2_000);
    try {
      expect(await check.probe()).toEqual({ ok: false, detail: 'gRPC Health/Check("") answered HTTP 404, not gRPC' });
      mode = 'no-trailer';
      expect(await check.probe()).toEqual({
        ok: false,
        detail: 'gRPC Health/Check("") answered without a grpc-status',
      });
      mode = 'huge';
      expect(await check.probe()).toEqual({
        ok: false,
        detail: 'gRPC Health/Check("") failed: an answer over 65536 bytes',
      });
    } finally {
      check.close();
      await new Promise((r) => h2.close(r));
    }
  });

  it('fails on an app that speaks only HTTP/1.1 (an http check pointed at the wrong kind of app)', async () => {
    const h1 = createHttp1Server((_req, res) => res.end('ok'));
    await new Promise<void>((r) => h1.listen(0, '127.0.0.1', r));
    const check = new GrpcHealthCheck(app((h1.address() as AddressInfo).port), '', 2_000);
    try {
      const r = await check.probe();
      expect(r.ok).toBe(false);
      expect(r.detail).toMatch(/^gRPC Health\/Check\(""\) failed: ERR_HTTP2_ERROR \(Protocol error\)/);
    } finally {
      check.close();
      h1.closeAllConnections();
      await new Promise((r) => h1.close(r));
    }
  });
});
