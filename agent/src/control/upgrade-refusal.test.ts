import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { onUpgradeRefused, type UpgradeRefusal } from './upgrade-refusal.js';

/** A server that refuses every upgrade with `status`, `headers` and `body`, as the control plane's limits do. */
async function refusing(status: number, headers: Record<string, string>, body: string): Promise<Server> {
  const server = createServer();
  server.on('upgrade', (_req, socket: Socket) => {
    const head = Object.entries({ 'content-type': 'application/json', ...headers })
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('');
    socket.end(`HTTP/1.1 ${status} Refused\r\n${head}content-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return server;
}

describe('onUpgradeRefused', () => {
  let server: Server | undefined;
  afterEach(() => server?.close());

  async function refusalOf(srv: Server): Promise<{ refusal: UpgradeRefusal | undefined; code: number }> {
    const ws = new WebSocket(`ws://127.0.0.1:${(srv.address() as { port: number }).port}/v1/stream`);
    let refusal: UpgradeRefusal | undefined;
    onUpgradeRefused(ws, (r) => (refusal = r));
    // ws reports the ended handshake as an error too (events.once would reject on it), then closes.
    ws.on('error', () => {});
    const code = await new Promise<number>((resolve) => ws.on('close', resolve));
    return { refusal, code };
  }

  it("keeps the control plane's code and message, and its Retry-After", async () => {
    const error = { code: 'MESHLET_TOO_MANY_JOIN_FAILURES', message: 'too many wrong join credentials came from x' };
    server = await refusing(429, { 'retry-after': '42' }, JSON.stringify({ error }));
    const { refusal, code } = await refusalOf(server);
    expect(refusal).toEqual({
      status: 429,
      reason: 'HTTP 429 MESHLET_TOO_MANY_JOIN_FAILURES: too many wrong join credentials came from x',
      retryAfterMs: 42_000,
    });
    expect(code).toBe(1006);
  });

  it('says the status alone for a body that is not meshlet JSON (a proxy page)', async () => {
    server = await refusing(502, {}, '<html>bad gateway</html>');
    expect((await refusalOf(server)).refusal).toEqual({ status: 502, reason: 'HTTP 502' });
  });
});
