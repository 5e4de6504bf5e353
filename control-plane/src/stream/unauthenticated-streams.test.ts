import { describe, expect, it } from 'vitest';
import { UnauthenticatedStreams } from './unauthenticated-streams.js';

describe('UnauthenticatedStreams', () => {
  it('caps the streams of one address, and gives a place back once however often it is released', () => {
    const streams = new UnauthenticatedStreams({ perAddress: 2, total: 10 });
    const a = streams.take('10.0.0.1');
    const b = streams.take('10.0.0.1');
    expect(a.ok && b.ok).toBe(true);
    expect(streams.take('10.0.0.1')).toEqual({ ok: false, limit: 'address' });
    expect(streams.take('10.0.0.2').ok).toBe(true);
    if (!a.ok) throw new Error('unreachable');
    a.release();
    a.release();
    expect(streams.heldBy('10.0.0.1')).toBe(1);
    expect(streams.size).toBe(2);
    expect(streams.take('10.0.0.1').ok).toBe(true);
  });

  it('caps the streams of all addresses together, and reports the count', () => {
    const counts: number[] = [];
    const streams = new UnauthenticatedStreams({ perAddress: 5, total: 2 }, (n) => counts.push(n));
    const first = streams.take('10.0.0.1');
    streams.take('10.0.0.2');
    expect(streams.take('10.0.0.3')).toEqual({ ok: false, limit: 'total' });
    if (first.ok) first.release();
    expect(streams.take('10.0.0.3').ok).toBe(true);
    expect(counts).toEqual([1, 2, 1, 2]);
    // A released address is forgotten: the map does not grow with addresses that came and went.
    expect(streams.heldBy('10.0.0.1')).toBe(0);
  });
});

describe('UnauthenticatedStreams, an IPv6 caller with a whole /64', () => {
  it('counts many unauthenticated streams from distinct addresses of one /64 against one cap', () => {
    const streams = new UnauthenticatedStreams({ perAddress: 4, total: 1000 });
    const taken = Array.from({ length: 40 }, (_, i) => streams.take(`2001:db8:1:2::${(i + 1).toString(16)}`));
    expect(taken.filter((p) => p.ok)).toHaveLength(4);
    expect(taken[39]).toEqual({ ok: false, limit: 'address' });
    // Another /64, an IPv4-mapped caller and the same IPv4 caller unmapped are apart from it; the last two are one.
    expect(streams.take('2001:db8:1:3::1').ok).toBe(true);
    expect(streams.take('::ffff:10.0.0.1').ok).toBe(true);
    expect(streams.heldBy('10.0.0.1')).toBe(1);
    expect(streams.heldBy('2001:db8:1:2:ffff::9')).toBe(4);
  });

  it('keys each IPv6 address apart with an ipv6PrefixLength of 128', () => {
    const streams = new UnauthenticatedStreams({ perAddress: 1, total: 1000, ipv6PrefixLength: 128 });
    expect(streams.take('2001:db8:1:2::1').ok).toBe(true);
    expect(streams.take('2001:db8:1:2::2').ok).toBe(true);
    expect(streams.take('2001:db8:1:2::2').ok).toBe(false);
  });
});
