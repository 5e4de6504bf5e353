import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type CoordReason, type CoordState, createLogger } from '@meshlet/shared';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { createMetrics } from '../metrics.js';
import { FileStore } from '../store/file-store.js';
import { Coordinator } from './coordinator.js';
import { FileLockBackend } from './file-lock-backend.js';
import { FakePeer, ManualTimers } from './test-support.js';

// The two hooks managed failover uses: a refusal of an acquire by name and instance, and every change told.

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('Coordinator hooks (refuseAcquire, changed)', () => {
  it('refuses an acquire the hook names with refusal not-candidate and the state; tells every change with its reason', async () => {
    const d = mkdtempSync(join(tmpdir(), 'meshlet-coord-hooks-'));
    dirs.push(d);
    const store = new FileStore(d);
    await store.open();
    const timers = new ManualTimers();
    const changes: Array<[CoordState, CoordReason]> = [];
    const coordinator = new Coordinator({
      backend: new FileLockBackend({ store, clock: timers.clock, timers }),
      peerOf: () => undefined,
      metrics: createMetrics(),
      log: createLogger('test', 'silent'),
      clock: timers.clock,
      refuseAcquire: (at, instance) =>
        at.name === 'meshlet.failover' && instance === 'lagging' ? 'lagging is not a candidate' : undefined,
      changed: (s, reason) => changes.push([s, reason]),
    });
    await coordinator.open();
    const lagging = new FakePeer({ agentId: 'a1', instanceId: 'lagging', service: 'pg' });
    const fresh = new FakePeer({ agentId: 'a2', instanceId: 'fresh', service: 'pg' });
    const election = { type: 'coord', kind: 'election', name: 'meshlet.failover', ttlMs: 3000 } as const;
    await coordinator.request(lagging, { ...election, id: 1, op: 'acquire' });
    expect(lagging.result(1)).toMatchObject({
      ok: false,
      code: 'MESHLET_COORDINATION_REFUSED',
      refusal: 'not-candidate',
      message: 'lagging is not a candidate',
      state: { name: 'meshlet.failover', revision: 0 },
    });
    // Other names are the hook's to decide: here, allowed.
    await coordinator.request(lagging, { ...election, name: 'app-leader', id: 2, op: 'acquire' });
    expect(lagging.result(2)).toMatchObject({ ok: true });
    await coordinator.request(fresh, { ...election, id: 3, op: 'acquire' });
    const token = fresh.result(3)?.state?.token;
    expect(token).toBeGreaterThan(0);
    timers.advance(3001);
    await vi.waitFor(() => expect(changes).toHaveLength(4));
    expect(changes.map(([s, r]) => [s.name, s.holder?.instanceId, r])).toEqual([
      ['app-leader', 'lagging', 'acquired'],
      ['meshlet.failover', 'fresh', 'acquired'],
      ['app-leader', undefined, 'expired'],
      ['meshlet.failover', undefined, 'expired'],
    ]);
    await coordinator.close();
  });
});
