import { describe, expect, it } from 'vitest';
import { addressKey } from './address-key.js';

describe('addressKey', () => {
  it('keys an IPv6 caller by its /64, whatever the spelling of the rest', () => {
    const keys = new Set(
      ['2001:db8:1:2::1', '2001:db8:1:2:ffff:ffff:ffff:ffff', '2001:DB8:1:2:0:0:0:7', '2001:db8:1:2::a%eth0'].map((a) =>
        addressKey(a),
      ),
    );
    expect([...keys]).toEqual(['2001:db8:1:2::/64']);
    expect(addressKey('2001:db8:1:3::1')).toBe('2001:db8:1:3::/64');
  });

  it('reads an IPv4-mapped IPv6 address as the IPv4 address, and keeps IPv4 per address', () => {
    expect(addressKey('::ffff:10.0.0.1')).toBe('10.0.0.1');
    expect(addressKey('::ffff:a00:2')).toBe('10.0.0.2');
    expect(addressKey('10.0.0.1')).toBe('10.0.0.1');
    expect(addressKey('10.0.0.2')).not.toBe(addressKey('10.0.0.1'));
  });

  it('drops the zone, which names the local interface', () => {
    expect(addressKey('fe80::1%eth0')).toBe(addressKey('fe80::2%lo'));
    expect(addressKey('fe80::1%eth0')).toBe('fe80::/64');
  });

  it('takes other prefix lengths, down to the bit; 128 keys each address', () => {
    expect(addressKey('2001:db8:1:2::1', 48)).toBe('2001:db8:1::/48');
    expect(addressKey('2001:db8:1:ab12::1', 56)).toBe('2001:db8:1:ab00::/56');
    expect(addressKey('2001:db8:1:ff::1', 60)).toBe('2001:db8:1:f0::/60');
    expect(addressKey('2001:db8::1', 128)).toBe('2001:db8::1/128');
    expect(addressKey('::1')).toBe('::/64');
  });

  it('returns what is no address as it came', () => {
    expect(addressKey(undefined)).toBe('');
    expect(addressKey('unknown')).toBe('unknown');
    expect(addressKey('1.2')).toBe('1.2');
  });
});
