import type { Endpoint, Routes } from '@meshlet/shared';
import { describe, expect, it } from 'vitest';
import { applyDelta } from './routes-delta.js';

const ep = (id: string): Endpoint => ({ id, host: '127.0.0.1', port: 1, tier: 0, weight: 1, labels: {} });

const full: Routes = {
  type: 'routes',
  version: 5,
  nonce: 'n5',
  services: { orders: { endpoints: [ep('o1')] }, users: { endpoints: [ep('u1')] }, stock: { endpoints: [ep('s1')] } },
};

describe('applyDelta', () => {
  it('returns a full table unchanged', () => {
    expect(applyDelta(full, { ...full, version: 6 })).toEqual({ ok: true, routes: { ...full, version: 6 } });
  });

  it('overlays the changed services, drops the removed ones, and keeps the rest', () => {
    const delta: Routes = {
      type: 'routes',
      version: 6,
      nonce: 'n6',
      baseVersion: 5,
      services: { orders: { endpoints: [ep('o1'), ep('o2')] }, pay: { endpoints: [ep('p1')] } },
      removed: ['stock'],
    };
    const r = applyDelta(full, delta);
    expect(r).toEqual({
      ok: true,
      routes: {
        type: 'routes',
        version: 6,
        nonce: 'n6',
        services: {
          orders: { endpoints: [ep('o1'), ep('o2')] },
          users: { endpoints: [ep('u1')] },
          pay: { endpoints: [ep('p1')] },
        },
      },
    });
    // The table held is not touched: a NACK later must still find it whole.
    expect(Object.keys(full.services)).toEqual(['orders', 'users', 'stock']);
  });

  it('drops a service named both in services and removed', () => {
    const delta: Routes = {
      type: 'routes',
      version: 6,
      nonce: 'n6',
      baseVersion: 5,
      services: { users: { endpoints: [ep('u2')] } },
      removed: ['users'],
    };
    const r = applyDelta(full, delta);
    expect(r.ok && Object.keys(r.routes.services).sort()).toEqual(['orders', 'stock']);
  });

  it('refuses a delta built on another version, with MESHLET_DELTA_BASE_MISMATCH', () => {
    const r = applyDelta(full, { type: 'routes', version: 7, nonce: 'n7', baseVersion: 6, services: {} });
    expect(r).toMatchObject({ ok: false, code: 'MESHLET_DELTA_BASE_MISMATCH' });
    expect(!r.ok && r.error).toContain('built on table version 6, but this agent holds version 5');
  });

  it('refuses a delta when no table is held, unless it is built on version 0', () => {
    expect(
      applyDelta(undefined, { type: 'routes', version: 2, nonce: 'n', baseVersion: 1, services: {} }),
    ).toMatchObject({ ok: false, error: expect.stringContaining('holds no table') });
    expect(
      applyDelta(undefined, {
        type: 'routes',
        version: 1,
        nonce: 'n',
        baseVersion: 0,
        services: { orders: { endpoints: [] } },
      }),
    ).toEqual({
      ok: true,
      routes: { type: 'routes', version: 1, nonce: 'n', services: { orders: { endpoints: [] } } },
    });
  });
});
