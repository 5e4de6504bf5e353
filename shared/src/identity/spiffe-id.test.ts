import { describe, expect, it } from 'vitest';
import { SharedErrorCodes } from '../errors.js';
import { DEFAULT_TRUST_DOMAIN, formatSpiffeId, isTrustDomain, parseSpiffeId, sameSpiffeId } from './spiffe-id.js';

describe('SPIFFE IDs', () => {
  it('formats and parses spiffe://<trustDomain>/svc/<service>', () => {
    const uri = formatSpiffeId({ trustDomain: DEFAULT_TRUST_DOMAIN, service: 'orders' });
    expect(uri).toBe('spiffe://meshlet.local/svc/orders');
    expect(parseSpiffeId(uri)).toEqual({ trustDomain: 'meshlet.local', service: 'orders' });
    expect(parseSpiffeId('spiffe://prod_1.example-co.com/svc/user-api')).toEqual({
      trustDomain: 'prod_1.example-co.com',
      service: 'user-api',
    });
  });

  it.each([
    ['another scheme', 'https://meshlet.local/svc/orders', 'does not start with "spiffe://"'],
    ['an upper-case scheme', 'SPIFFE://meshlet.local/svc/orders', 'does not start'],
    ['an upper-case trust domain', 'spiffe://Meshlet.local/svc/orders', 'trust domain "Meshlet.local"'],
    ['a port', 'spiffe://meshlet.local:8443/svc/orders', 'trust domain "meshlet.local:8443"'],
    ['user info', 'spiffe://me@meshlet.local/svc/orders', 'trust domain'],
    ['an empty trust domain', 'spiffe:///svc/orders', 'trust domain ""'],
    ['no path', 'spiffe://meshlet.local', 'path other than /svc/<service>'],
    ['another path', 'spiffe://meshlet.local/ns/default/sa/orders', 'path other than'],
    ['a trailing slash', 'spiffe://meshlet.local/svc/orders/', 'path other than'],
    ['a dot segment', 'spiffe://meshlet.local/svc/../orders', 'path other than'],
    ['a query', 'spiffe://meshlet.local/svc/orders?x=1', 'not a service name'],
    ['a fragment', 'spiffe://meshlet.local/svc/orders#x', 'not a service name'],
    ['an upper-case service', 'spiffe://meshlet.local/svc/Orders', 'not a service name'],
    ['a service over 63 characters', `spiffe://meshlet.local/svc/${'a'.repeat(64)}`, 'not a service name'],
  ])('refuses %s, saying what is wrong and the fix', (_what, uri, problem) => {
    let caught: unknown;
    try {
      parseSpiffeId(uri, 'peer.uri');
    } catch (e) {
      caught = e;
    }
    expect(caught).toMatchObject({ code: SharedErrorCodes.SPIFFE_ID_INVALID });
    const message = (caught as Error).message;
    expect(message).toContain('peer.uri');
    expect(message).toContain(problem);
  });

  it('refuses to format an identity that would not parse back', () => {
    expect(() => formatSpiffeId({ trustDomain: 'Bad Domain', service: 'orders' })).toThrow(/trustDomain "Bad Domain"/);
    expect(() => formatSpiffeId({ trustDomain: 'meshlet.local', service: 'no_underscores' })).toThrow(
      /service "no_underscores" is not a service name; use a DNS label/,
    );
  });

  it('knows a trust domain by the SPIFFE rule', () => {
    expect(isTrustDomain('meshlet.local')).toBe(true);
    expect(isTrustDomain('a'.repeat(255))).toBe(true);
    expect(isTrustDomain('a'.repeat(256))).toBe(false);
    expect(isTrustDomain('')).toBe(false);
    expect(isTrustDomain('mesh let')).toBe(false);
  });

  it('compares identities by trust domain and service', () => {
    const a = { trustDomain: 'meshlet.local', service: 'orders' };
    expect(sameSpiffeId(a, { ...a })).toBe(true);
    expect(sameSpiffeId(a, { ...a, service: 'hello' })).toBe(false);
    expect(sameSpiffeId(a, { ...a, trustDomain: 'other.local' })).toBe(false);
  });
});
