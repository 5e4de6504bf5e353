import type { ControlPlaneConfig } from '@meshlet/shared';
import { describe, expect, it } from 'vitest';
import { checkStore } from './create-store.js';

const store = (s: unknown) => ({ store: s }) as Pick<ControlPlaneConfig, 'store'>;

describe('checkStore', () => {
  it('names store.etcd.endpoints when the etcd store has none', () => {
    expect(checkStore(store({ kind: 'etcd', etcd: { endpoints: [], prefix: '/meshlet/', requestTimeoutMs: 3000 } }))).toEqual([
      expect.objectContaining({ path: 'store.etcd.endpoints', problem: 'is required with store.kind etcd' }),
    ]);
  });

  it('accepts the file store without endpoints, and etcd with them', () => {
    expect(checkStore(store({ kind: 'file', etcd: { endpoints: [], prefix: '/meshlet/', requestTimeoutMs: 3000 } }))).toEqual([]);
    expect(checkStore(store({ kind: 'etcd', etcd: { endpoints: ['http://127.0.0.1:2379'], prefix: '/meshlet/', requestTimeoutMs: 3000 } }))).toEqual([]);
  });
});
