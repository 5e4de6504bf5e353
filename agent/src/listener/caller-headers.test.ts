import { describe, expect, it } from 'vitest';
import type { IncomingMessage } from 'node:http';
import { appRequestHeaders, CALLER_HEADER, withCallerHeader } from './caller-headers.js';
import { rawUpstreamHeaders } from './hop-headers.js';

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

describe('appRequestHeaders', () => {
  const req = (raw: string[]) => ({ rawHeaders: raw }) as unknown as IncomingMessage;
  const raw = [
    'Host',
    'hello',
    'Connection',
    'keep-alive, X-Hop',
    'X-Hop',
    '1',
    'X-Meshlet-Caller',
    'spiffe://meshlet.local/svc/admin',
    'X-Forwarded-Client-Cert',
    'By=x',
    'x-meshlet-error',
    'MESHLET_X',
    'Content-Length',
    '3',
    'x-request-id',
    'r1',
  ];

  it.each([['spiffe://meshlet.local/svc/orders'], [undefined]])(
    'gives in one pass what withCallerHeader(rawUpstreamHeaders(req)) gives (caller %s)',
    (caller) => {
      const one = appRequestHeaders(req(raw), caller);
      const two = withCallerHeader(rawUpstreamHeaders(req(raw)), caller);
      expect([...one]).toEqual([...two]);
      expect(one.hasBody).toBe(true);
      expect([...one]).toEqual(
        ['Host', 'hello', 'Content-Length', '3', 'x-request-id', 'r1'].concat(
          caller === undefined ? [] : [CALLER_HEADER, caller],
        ),
      );
    },
  );
});
