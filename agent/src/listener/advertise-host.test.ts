import { networkInterfaces } from 'node:os';
import { describe, expect, it } from 'vitest';
import { advertiseHost } from './advertise-host.js';

const firstIpv4 = () => {
  for (const list of Object.values(networkInterfaces()))
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  return '127.0.0.1';
};

describe('advertiseHost', () => {
  it('uses the configured host, else a bind host that is not a wildcard', () => {
    expect(advertiseHost('0.0.0.0', '10.0.0.9', '10.0.0.7')).toBe('10.0.0.9');
    expect(advertiseHost('10.0.0.8', undefined, '10.0.0.7')).toBe('10.0.0.8');
  });

  it('a dual-stack or multi-homed host bound to a wildcard advertises the address its control-plane stream comes from', () => {
    // TEST-NET-3: never one of this machine's interface addresses, so only the stream's local address yields it.
    expect(advertiseHost('0.0.0.0', undefined, '203.0.113.7')).toBe('203.0.113.7');
    expect(advertiseHost('::', undefined, '::ffff:203.0.113.7')).toBe('203.0.113.7');
    expect(advertiseHost('::', undefined, '2001:db8::7')).toBe('2001:db8::7');
    expect(advertiseHost('::', undefined, 'fe80::7%eth1')).toBe('fe80::7');
  });

  it('a loopback stream (the control plane on this host) falls back to the first non-internal IPv4 address', () => {
    expect(advertiseHost('0.0.0.0', undefined, '127.0.0.1')).toBe(firstIpv4());
    expect(advertiseHost('0.0.0.0', undefined, '::1')).toBe(firstIpv4());
    expect(advertiseHost('0.0.0.0', undefined)).toBe(firstIpv4());
  });
});
