import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { requestTarget } from './request-target.js';

const req = (url: string, host?: string) => ({ url, headers: host === undefined ? {} : { host } }) as IncomingMessage;

describe('requestTarget', () => {
  it('reads the service from an absolute-form URL (HTTP_PROXY style), keeping path and query', () => {
    expect(requestTarget(req('http://Hello/a/b?x=1', '127.0.0.1:15001'))).toEqual({ service: 'hello', path: '/a/b?x=1' });
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
