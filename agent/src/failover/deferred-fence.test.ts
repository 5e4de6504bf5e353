import { describe, expect, it } from 'vitest';
import { DeferredFence } from './deferred-fence.js';
import type { PrimaryFence } from './primary-fence.js';

describe('DeferredFence', () => {
  it('with instance.failover: refuses role primary until the manager is attached, then asks it and relays its fences', () => {
    const fence = new DeferredFence(true);
    let fenced = 0;
    fence.onFence(() => fenced++);
    expect(fence.admit({ service: 'pg', role: 'primary', term: 3 })).toMatchObject({
      ok: false,
      code: 'MESHLET_PRIMARY_FENCED',
    });
    expect(fence.admit({ service: 'pg', role: 'replica' })).toEqual({ ok: true });
    const listeners: Array<() => void> = [];
    const manager: PrimaryFence = {
      admit: (r) => (r.term === 3 ? { ok: true } : { ok: false, code: 'MESHLET_PRIMARY_FENCED', message: 'no' }),
      onFence: (l) => {
        listeners.push(l);
        return () => undefined;
      },
    };
    fence.attach(manager);
    expect(fence.admit({ service: 'pg', role: 'primary', term: 3 })).toEqual({ ok: true });
    expect(fence.admit({ service: 'pg', role: 'primary', term: 2 })).toMatchObject({ ok: false });
    for (const l of listeners) l();
    expect(fenced).toBe(1);
  });

  it('without instance.failover: open', () => {
    expect(new DeferredFence(false).admit({ service: 'pg', role: 'primary', term: 1 })).toEqual({ ok: true });
  });
});
