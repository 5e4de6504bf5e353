import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { connectionNamed, rawUpstreamHeaders } from './hop-headers.js';

const HOP_BY_HOP = [
  'Connection',
  'Keep-Alive',
  'Proxy-Connection',
  'Proxy-Authenticate',
  'Proxy-Authorization',
  'TE',
  'Trailer',
  'Transfer-Encoding',
  'Upgrade',
  'Expect',
];
const req = (raw: string[]) => ({ rawHeaders: raw }) as unknown as IncomingMessage;

describe('rawUpstreamHeaders', () => {
  it.each(HOP_BY_HOP)('drops %s', (name) => {
    expect([...rawUpstreamHeaders(req([name, 'v', 'Accept', 'text/plain']), 'orders')]).toEqual([
      'Accept',
      'text/plain',
      'host',
      'orders',
    ]);
  });

  it('drops headers named in Connection whatever their case and spacing', () => {
    const out = rawUpstreamHeaders(
      req(['Connection', 'Keep-Alive ,  X-Hop-One,x-hop-two', 'X-Hop-One', '1', 'x-hop-two', '2', 'X-End-To-End', '3']),
      'orders',
    );
    expect([...out]).toEqual(['X-End-To-End', '3', 'host', 'orders']);
  });

  it('drops what every Connection header names, not only the last one (RFC 9110 7.6.1)', () => {
    // Before issue 20 only the last Connection header counted: X-Secret, named by the first, went on to the app.
    const out = rawUpstreamHeaders(
      req(['Connection', 'x-secret', 'X-Secret', 's3cret', 'Connection', 'keep-alive', 'Accept', '*/*']),
      'orders',
    );
    expect([...out]).toEqual(['Accept', '*/*', 'host', 'orders']);
  });

  it('keeps end-to-end headers, repeated ones included, and replaces Host with the service name', () => {
    const out = rawUpstreamHeaders(
      req(['Host', '127.0.0.1:15001', 'Authorization', 'Bearer t', 'Cookie', 'a=1', 'X-List', 'a', 'X-List', 'b']),
      'orders',
    );
    expect([...out]).toEqual([
      'Authorization',
      'Bearer t',
      'Cookie',
      'a=1',
      'X-List',
      'a',
      'X-List',
      'b',
      'host',
      'orders',
    ]);
  });

  it('keeps the original Host when no service is given', () => {
    expect([...rawUpstreamHeaders(req(['Host', 'orders:15006']))]).toEqual(['Host', 'orders:15006']);
  });

  it('says whether the request has a body', () => {
    expect(rawUpstreamHeaders(req([])).hasBody).toBeUndefined();
    expect(rawUpstreamHeaders(req(['Content-Length', '0'])).hasBody).toBeUndefined();
    expect(rawUpstreamHeaders(req(['Content-Length', '3'])).hasBody).toBe(true);
    expect(rawUpstreamHeaders(req(['Transfer-Encoding', 'chunked'])).hasBody).toBe(true);
  });
});

describe('whether a request has a body', () => {
  const withHeaders = (headers: Record<string, string>) =>
    ({ rawHeaders: Object.entries(headers).flat() }) as IncomingMessage;

  it.each([
    [{}, false],
    [{ 'content-length': '0' }, false],
    [{ 'content-length': '12' }, true],
    [{ 'transfer-encoding': 'chunked' }, true],
    [{ 'transfer-encoding': 'chunked', 'content-length': '0' }, true],
  ])('rawUpstreamHeaders(%o).hasBody is %s', (headers, expected) => {
    expect(rawUpstreamHeaders(withHeaders(headers)).hasBody ?? false).toBe(expected);
  });
});

describe('connectionNamed', () => {
  it.each([
    ['keep-alive', undefined],
    ['Keep-Alive, Upgrade', undefined],
    ['close', ['close']],
    [' Keep-Alive ,  X-Hop-One,x-hop-two,', ['x-hop-one', 'x-hop-two']],
    ['', undefined],
  ])('%j names %j beyond the hop-by-hop headers', (value, named) => {
    expect(connectionNamed(value)).toEqual(named);
  });
});
