import { connect } from 'node:net';
import { createLogger } from '@meshlet/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAdminServer } from './admin-server.js';

// Found by the admin listener fuzz test (admin-api.fuzz.test.ts): an unknown
// route, a broken percent-encoding and a request node's parser refuses were
// answered in fastify's shape, with no MESHLET_* code.

/** Sends raw bytes and reads the whole answer until the server closes. */
function raw(port: number, bytes: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port }, () => socket.write(bytes));
    let text = '';
    socket.on('data', (c: Buffer) => (text += c.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(text));
  });
}

describe("the admin listener's refusals before any route", () => {
  const app = createAdminServer(
    {
      agentId: 'a1',
      table: () => undefined,
      listening: () => true,
      controlPlane: () => ({ connected: true, url: 'ws://x', urls: ['ws://x'], lastClose: undefined }),
      appHealth: () => undefined,
      subscriptions: () => ({ declared: [], learned: [] }),
      ringChecksums: () => undefined,
    },
    createLogger('test', 'silent'),
  );
  let port: number;
  beforeAll(async () => {
    await app.listen({ host: '127.0.0.1', port: 0 });
    port = (app.server.address() as { port: number }).port;
  });
  afterAll(() => app.close());

  it.each([
    ['an unknown method on a route', 'POST', '/ready', 404, /no route POST \/ready/],
    ['an unknown path', 'GET', '/nope', 404, /GET \/ready, \/config/],
    ['a broken percent-encoding in the path', 'GET', '/%zz', 400, /write %25 for "%"/],
  ])('answers %s with MESHLET_BAD_REQUEST and the fix', async (_attack, method, url, status, message) => {
    const r = await app.inject({ method: method as 'GET', url, headers: { 'x-meshlet-request': '1' } });
    expect(r.statusCode).toBe(status);
    expect(r.json().error).toMatchObject({ code: 'MESHLET_BAD_REQUEST', message });
  });

  it('answers a query string over the header size limit with 431 MESHLET_BAD_REQUEST, then closes', async () => {
    const answer = await raw(port, `GET /config?x=${'a'.repeat(70_000)} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
    expect(answer.split('\r\n')[0]).toBe('HTTP/1.1 431 Request Header Fields Too Large');
    const body = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as { error: { code: string } };
    expect(body.error.code).toBe('MESHLET_BAD_REQUEST');
  });
});
