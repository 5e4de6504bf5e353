import { describe, expect, it } from 'vitest';
import { type AdminGuardOptions, adminRequestRefusal, hostName } from './admin-request-guard.js';

const TOKENLESS: AdminGuardOptions = {
  tokenless: true,
  allowedHosts: ['mesh.internal'],
  allowedHostsSetting: 'auth.allowedHosts',
  orElse: ', or configure an admin token',
};
const WITH_TOKEN: AdminGuardOptions = { ...TOKENLESS, tokenless: false };
const refusal = (method: string, headers: Record<string, string>, options = TOKENLESS) =>
  adminRequestRefusal({ method, headers }, options)?.kind;

describe('adminRequestRefusal', () => {
  it('refuses a write from a page of another site: foreign Origin, Origin null, Sec-Fetch-Site cross-site', () => {
    const host = '127.0.0.1:15010';
    const json = { host, 'content-type': 'application/json' };
    expect(refusal('POST', { ...json, origin: 'http://evil.example' })).toBe('cross-site');
    expect(refusal('POST', { ...json, origin: 'null' })).toBe('cross-site');
    expect(refusal('DELETE', { ...json, 'sec-fetch-site': 'cross-site' })).toBe('cross-site');
    expect(refusal('PUT', { ...json, origin: 'http://127.0.0.1:3000' })).toBe('cross-site');
    // Even with a token configured: a foreign Origin is never an operator's tool.
    expect(refusal('POST', { ...json, origin: 'http://evil.example', authorization: 'Bearer x' }, WITH_TOKEN)).toBe(
      'cross-site',
    );
    // A WebSocket from another site's page, too.
    expect(refusal('GET', { host, upgrade: 'websocket', origin: 'http://evil.example' })).toBe('cross-site');
  });

  it('lets the same origin write, and reads through whatever their Origin', () => {
    const host = '127.0.0.1:15010';
    expect(refusal('POST', { host, 'content-type': 'application/json', origin: 'http://127.0.0.1:15010' })).toBe(
      undefined,
    );
    // Behind a proxy that ends TLS the page is https and the server sees plain http: the authority decides.
    expect(refusal('POST', { host, 'x-meshlet-request': '1', origin: 'https://127.0.0.1:15010' })).toBe(undefined);
    expect(refusal('GET', { host, origin: 'http://evil.example' })).toBe(undefined);
    expect(refusal('GET', { host, 'sec-fetch-site': 'same-origin', upgrade: 'websocket' })).toBe(undefined);
  });

  it('without a token, a write needs content-type application/json, x-meshlet-request or Authorization', () => {
    const host = 'localhost:15010';
    expect(refusal('POST', { host })).toBe('cross-site');
    expect(refusal('POST', { host, 'content-type': 'text/plain' })).toBe('cross-site');
    expect(refusal('POST', { host, 'content-type': 'application/x-www-form-urlencoded' })).toBe('cross-site');
    expect(refusal('POST', { host, 'content-type': 'Application/JSON; charset=utf-8' })).toBe(undefined);
    expect(refusal('POST', { host, 'x-meshlet-request': 'meshctl' })).toBe(undefined);
    expect(refusal('POST', { host, authorization: 'Bearer x' })).toBe(undefined);
    // With a token the token check decides (401), not this one.
    expect(refusal('POST', { host }, WITH_TOKEN)).toBe(undefined);
  });

  it('without a token, answers only IP addresses, localhost and the allowed names as Host (DNS rebinding)', () => {
    for (const host of [
      '127.0.0.1:15010',
      '[::1]:15010',
      '10.0.0.5',
      'localhost',
      'LOCALHOST.:80',
      'mesh.internal:15010',
    ])
      expect(refusal('GET', { host }), host).toBe(undefined);
    for (const host of ['evil.example', 'evil.example:15010', '127.0.0.1.evil.example', 'localhost.evil.example'])
      expect(refusal('GET', { host }), host).toBe('host');
    expect(adminRequestRefusal({ method: 'GET', headers: { host: 'evil.example' } }, TOKENLESS)?.message).toContain(
      'add the name to auth.allowedHosts, or configure an admin token',
    );
    // A token makes a rebound page harmless: it holds no token.
    expect(refusal('GET', { host: 'evil.example' }, WITH_TOKEN)).toBe(undefined);
    // No Host at all is no browser's request.
    expect(refusal('GET', {})).toBe(undefined);
  });

  it('reads the host name of a Host header', () => {
    expect(hostName('[::1]:15010')).toBe('::1');
    expect(hostName('Example.COM.:80')).toBe('example.com');
    expect(hostName('a b')).toBe(undefined);
  });
});
