import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { requestTarget } from './request-target.js';

const req = (url: string | undefined, host?: string) =>
  ({ url, headers: host === undefined ? {} : { host } }) as IncomingMessage;

describe('requestTarget', () => {
  it('reads the service from an absolute-form URL (HTTP_PROXY style), keeping path and query', () => {
    expect(requestTarget(req('http://Hello/a/b?x=1', '127.0.0.1:15001'))).toEqual({
      service: 'hello',
      path: '/a/b?x=1',
    });
    expect(requestTarget(req('http://orders:8080'))).toEqual({ service: 'orders', path: '/' });
  });

  it('reads the service from the Host header, without its port', () => {
    expect(requestTarget(req('/x', 'orders:80'))).toEqual({ service: 'orders', path: '/x' });
    expect(requestTarget(req('/', '[::1]:15001'))).toEqual({ service: '::1', path: '/' });
  });

  it('finds no target without a host', () => {
    expect(requestTarget(req('/'))).toBeUndefined();
    expect(requestTarget(req('/', ''))).toBeUndefined();
    expect(requestTarget(req('http://'))).toBeUndefined();
  });
});

// Case, ports, IPv6 in both forms, and the query string, which a proxy must
// pass through untouched.
describe('requestTarget: absolute form (HTTP_PROXY style)', () => {
  it.each([
    ['http://orders/api/v1/items?id=7&sort=asc', 'orders', '/api/v1/items?id=7&sort=asc'],
    ['http://ORDERS:8080/A/B', 'orders', '/A/B'],
    ['https://user-api/', 'user-api', '/'],
    ['http://orders?x=1', 'orders', '/?x=1'],
    ['http://[::1]:15001/x', '::1', '/x'],
    ['http://[::FFFF:7F00:1]/x', '::ffff:7f00:1', '/x'],
  ])('%s goes to %s with path %s', (url, service, path) => {
    expect(requestTarget(req(url, 'ignored-host'))).toEqual({ service, path });
  });

  it('prefers the URL over the Host header', () => {
    expect(requestTarget(req('http://orders/x', 'billing'))?.service).toBe('orders');
  });

  it('finds no target in a URL it cannot parse', () => {
    expect(requestTarget(req('*', 'orders'))).toBeUndefined();
    expect(requestTarget(req('http://exa mple/x', 'orders'))).toBeUndefined();
  });
});

describe('requestTarget: origin form with Host', () => {
  it.each([
    ['orders', 'orders'],
    ['Orders', 'orders'],
    ['USER-API:15001', 'user-api'],
    ['orders:', 'orders'],
    ['[::1]', '::1'],
    ['[::1]:80', '::1'],
  ])('Host %s names service %s', (host, service) => {
    expect(requestTarget(req('/p', host))).toEqual({ service, path: '/p' });
  });

  it('keeps the path and query exactly as sent', () => {
    expect(requestTarget(req('/a%20b/c?q=%2F&x=1&x=2#frag', 'orders'))?.path).toBe('/a%20b/c?q=%2F&x=1&x=2#frag');
    expect(requestTarget(req('//double', 'orders'))?.path).toBe('//double');
  });

  it('uses / when the request has no URL', () => {
    expect(requestTarget(req(undefined, 'orders'))).toEqual({ service: 'orders', path: '/' });
  });

  it('finds no target without a usable host', () => {
    expect(requestTarget(req('/x'))).toBeUndefined();
    expect(requestTarget(req('/x', ''))).toBeUndefined();
    expect(requestTarget(req('/x', ':8080'))).toBeUndefined();
    expect(requestTarget(req('/x', '[]:8080'))).toBeUndefined();
  });
});
