import { connect } from 'node:net';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiClientErrors } from './api-client-errors.js';

// Found by the admin API fuzz test (admin-api.fuzz.test.ts): requests node's
// parser refuses were answered in fastify's shape, with no MESHLET_* code.

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

describe('apiClientErrors', () => {
  const app = Fastify({ clientErrorHandler: apiClientErrors });
  app.get('/v1/policies', async () => ({ items: [] }));
  let port: number;
  beforeAll(async () => {
    await app.listen({ host: '127.0.0.1', port: 0 });
    port = (app.server.address() as { port: number }).port;
  });
  afterAll(() => app.close());

  it.each([
    [
      'a query string over the header size limit',
      `GET /v1/policies?service=${'a'.repeat(70_000)} HTTP/1.1\r\nHost: x\r\n\r\n`,
      431,
      'MESHLET_API_TOO_LARGE',
      /shorter URL/,
    ],
    [
      'a malformed request line',
      'GET /v1/policies HTTP/9.9x\r\n\r\n',
      400,
      'MESHLET_API_INVALID',
      /not valid HTTP\/1\.1/,
    ],
    [
      'both Content-Length and Transfer-Encoding',
      'POST /v1/policies HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
      400,
      'MESHLET_API_INVALID',
      /not valid HTTP\/1\.1/,
    ],
  ])('answers %s in the admin API shape, then closes', async (_attack, bytes, status, code, message) => {
    const answer = await raw(port, bytes);
    expect(answer.split('\r\n')[0]).toMatch(new RegExp(`^HTTP/1.1 ${status} `));
    const body = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as {
      error: { code: string; message: string };
    };
    expect(body.error.code).toBe(code);
    expect(body.error.message).toMatch(message);
  });
});
