import { describe, expect, it } from 'vitest';
import { CALLER_HEADER, withCallerHeader } from './caller-headers.js';

describe('withCallerHeader', () => {
  it('drops every x-meshlet-* header and x-forwarded-client-cert from outside, in any case, and names the caller', () => {
    const headers = [
      'Host',
      'hello',
      'X-Meshlet-Caller',
      'spiffe://meshlet.local/svc/admin',
      'x-forwarded-client-cert',
      'By=spiffe://meshlet.local/svc/hello;URI=spiffe://meshlet.local/svc/admin',
      'x-meshlet-error',
      'MESHLET_X',
      'x-request-id',
      'r1',
    ];
    expect(withCallerHeader(headers, 'spiffe://meshlet.local/svc/orders')).toEqual([
      'Host',
      'hello',
      'x-request-id',
      'r1',
      CALLER_HEADER,
      'spiffe://meshlet.local/svc/orders',
    ]);
  });

  it('names no caller for a plaintext request, and keeps the list’s hasBody mark', () => {
    const headers: string[] & { hasBody?: boolean } = ['x-meshlet-caller', 'spiffe://meshlet.local/svc/admin'];
    headers.hasBody = true;
    const out = withCallerHeader(headers, undefined);
    expect([...out]).toEqual([]);
    expect(out.hasBody).toBe(true);
  });
});
