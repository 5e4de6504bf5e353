import { describe, expect, it } from 'vitest';
import { AdvertisedAddressCheck, addressRangeIssues, normalizeAddress } from './advertised-address-check.js';

const check = (allowedRanges: string[] = [], over: { listensOnLoopback?: boolean; allowHostNames?: boolean } = {}) =>
  new AdvertisedAddressCheck({
    allowedRanges,
    listensOnLoopback: true,
    localAddresses: () => ['127.0.0.1', '10.1.2.3', 'fe80::1'],
    ...over,
  });

describe('AdvertisedAddressCheck', () => {
  it.each([
    ['the source address itself', '10.0.0.7', '10.0.0.7'],
    ['the source as an IPv4-mapped IPv6 address', '10.0.0.7', '::ffff:10.0.0.7'],
    ['loopback from loopback (the agent runs on this host)', '127.0.0.1', '127.0.0.1'],
    ['another loopback address from loopback', '127.0.0.2', '::1'],
    ['localhost from loopback', 'localhost', '::ffff:127.0.0.1'],
    ["one of this host's own addresses from loopback", '10.1.2.3', '127.0.0.1'],
    ['an IPv6 source in another spelling', 'FD00::7', 'fd00::7'],
    ['a link-local source with its zone (multi-homed host)', 'fe80::7', 'fe80::7%eth1'],
    ['a link-local host with its zone', 'fe80::7%2', 'fe80::7'],
  ])('accepts %s', (_name, host, source) => {
    expect(check().check(host, source)).toEqual({ ok: true });
  });

  it.each([
    ['an address pointing elsewhere', '192.0.2.10', '10.0.0.7', 'address_mismatch'],
    ['loopback from another host (its callers would dial themselves)', '127.0.0.1', '10.0.0.7', 'address_mismatch'],
    ["this host's own address from another host", '10.1.2.3', '10.0.0.7', 'address_mismatch'],
    ['a host name', 'orders.internal', '10.0.0.7', 'address_not_ip'],
    ['a host name from loopback', 'evil.example', '127.0.0.1', 'address_not_ip'],
    ['localhost from another host', 'localhost', '10.0.0.7', 'address_mismatch'],
  ])('refuses %s', (_name, host, source, reason) => {
    const verdict = check().check(host, source);
    expect(verdict).toMatchObject({ ok: false, reason });
    if (!verdict.ok) {
      expect(verdict.message).toContain(host);
      expect(verdict.message).toContain('listeners.inbound.advertiseHost');
    }
  });

  it.each([
    ['loopback', '127.0.0.1'],
    ["this host's own address", '10.1.2.3'],
    ['localhost', 'localhost'],
  ])(
    'a loopback source registering %s while the control plane listens beyond loopback (a same-host proxy, a local credential holder) is refused',
    (_name, host) => {
      const verdict = check([], { listensOnLoopback: false }).check(host, '127.0.0.1');
      expect(verdict).toMatchObject({ ok: false, reason: 'address_mismatch' });
      expect(verdict.ok ? '' : verdict.message).toContain('registry.allowedAddressRanges');
    },
  );

  it('a loopback source beyond loopback is accepted where an allowed range covers the host', () => {
    expect(check(['127.0.0.1/32'], { listensOnLoopback: false }).check('127.0.0.1', '127.0.0.1')).toEqual({ ok: true });
    expect(check(['127.0.0.1/32'], { listensOnLoopback: false }).check('10.1.2.3', '127.0.0.1')).toMatchObject({
      ok: false,
    });
  });

  it('refuses any registration from a source that is not an IP address, even one advertising the same string', () => {
    expect(check().check('unknown', 'unknown')).toMatchObject({ ok: false, reason: 'source_not_ip' });
    expect(check([], { allowHostNames: true }).check('unknown', 'unknown')).toMatchObject({ ok: false });
  });

  it('accepts host names only with allowHostNames, never localhost from another host', () => {
    const c = check([], { allowHostNames: true });
    expect(c.check('orders.internal', '10.0.0.7')).toEqual({ ok: true });
    expect(c.check('localhost', '10.0.0.7')).toMatchObject({ ok: false, reason: 'address_mismatch' });
    expect(check().check('orders.internal', '10.0.0.7')).toMatchObject({ ok: false, reason: 'address_not_ip' });
  });

  it('names the fix: the source address, or the allowed ranges', () => {
    const verdict = check().check('192.0.2.10', '::ffff:10.0.0.7');
    expect(verdict.ok ? '' : verdict.message).toBe(
      "the advertised host 192.0.2.10 is not the address this agent connects from (10.0.0.7): set listeners.inbound.advertiseHost to 10.0.0.7, or allow the range of 192.0.2.10 in the control plane's registry.allowedAddressRanges",
    );
  });

  it('accepts any address inside an allowed range, whatever the source', () => {
    const c = check(['192.0.2.0/24', 'fd00::/8', '198.51.100.7']);
    expect(c.check('192.0.2.10', '10.0.0.7')).toEqual({ ok: true });
    expect(c.check('fd12::1', '10.0.0.7')).toEqual({ ok: true });
    expect(c.check('198.51.100.7', '10.0.0.7')).toEqual({ ok: true });
    expect(c.check('198.51.100.8', '10.0.0.7')).toMatchObject({ ok: false });
    expect(c.check('192.0.3.1', '10.0.0.7')).toMatchObject({ ok: false });
  });

  it('refuses a bad range at start, naming the entry and the fix', () => {
    expect(() => check(['10.0.0.0/33'])).toThrow(/registry.allowedAddressRanges: "10.0.0.0\/33" is not a CIDR range/);
    expect(addressRangeIssues(['10.0.0.0/8', 'ten', '::/129', '1.2.3.4/'])).toEqual([
      { path: 'registry.allowedAddressRanges.1', problem: '"ten" is not a CIDR range', fix: expect.any(String) },
      { path: 'registry.allowedAddressRanges.2', problem: '"::/129" is not a CIDR range', fix: expect.any(String) },
      { path: 'registry.allowedAddressRanges.3', problem: '"1.2.3.4/" is not a CIDR range', fix: expect.any(String) },
    ]);
  });

  it('normalises IPv4-mapped addresses and case', () => {
    expect(normalizeAddress('::FFFF:10.0.0.1')).toBe('10.0.0.1');
    expect(normalizeAddress('FE80::1')).toBe('fe80::1');
    expect(normalizeAddress('fe80::1%eth0')).toBe('fe80::1');
  });
});
