import { describe, expect, it } from 'vitest';
import { ServiceExpiry } from './service-expiry.js';

describe('ServiceExpiry', () => {
  const setup = (expiryMs: number) => {
    let now = 0;
    const remembered = new Set(Array.from({ length: 500 }, (_, i) => `fake-${i}`));
    remembered.add('orders').add('configured');
    const instances = new Set(['orders']);
    const policies = new Set(['configured']);
    const expiry = new ServiceExpiry({
      clock: () => now,
      expiryMs,
      remembered: () => [...remembered],
      heldBy: (s) => (instances.has(s) ? 'an instance' : policies.has(s) ? 'a policy' : undefined),
      forget: (names) => names.forEach((n) => remembered.delete(n)),
    });
    return { expiry, remembered, instances, advance: (ms: number) => (now += ms) };
  };

  it('forgets 500 fake names idle for expiryMs, and keeps those with an instance or a policy', () => {
    const { expiry, remembered, advance } = setup(86_400_000);
    expect(expiry.sweep()).toEqual([]);
    advance(86_399_999);
    expect(expiry.sweep()).toEqual([]);
    advance(1);
    expect(expiry.sweep()).toHaveLength(500);
    expect([...remembered].sort()).toEqual(['configured', 'orders']);
  });

  it('starts the count again when a service is used in between', () => {
    const { expiry, remembered, instances, advance } = setup(1000);
    expiry.sweep();
    advance(600);
    instances.add('fake-1');
    expiry.sweep();
    instances.delete('fake-1');
    advance(600);
    expiry.sweep();
    expect(remembered.has('fake-1')).toBe(true);
    expect(remembered.has('fake-2')).toBe(false);
    advance(1000);
    expect(expiry.sweep()).toEqual(['fake-1']);
  });

  it('forgets nothing with expiryMs 0', () => {
    const { expiry, advance } = setup(0);
    expiry.sweep();
    advance(1e12);
    expect(expiry.sweep()).toEqual([]);
  });
});
