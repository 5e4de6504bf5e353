import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolvePolicy } from '@meshlet/shared';
import { afterAll, describe, expect, it } from 'vitest';
import { useApiApps } from '../api/test-support/api-app.js';
import { EventLog } from '../events/event-log.js';
import { PolicyStore } from '../policies/policy-store.js';
import { FileStore } from '../store/file-store.js';
import { registerShardRoutes, type ShardRouteDeps } from './shard-routes.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const SHARDING = {
  kind: 'range',
  key: { header: 'x-key' },
  ranges: [
    { to: 'm', instance: 'kv-1' },
    { from: 'm', instance: 'kv-2' },
  ],
};

const makeApp = useApiApps();

async function setup(o: Partial<ShardRouteDeps> = {}) {
  const d = mkdtempSync(join(tmpdir(), 'meshlet-shards-'));
  dirs.push(d);
  const store = new FileStore(d);
  await store.open();
  const policies = new PolicyStore(store, { kv: resolvePolicy({ sharding: SHARDING, retries: { maxRetries: 4 } }) });
  const events = new EventLog(100, () => 0);
  let changed = 0;
  const app = makeApp();
  registerShardRoutes(app, {
    policies,
    events,
    changed: () => changed++,
    inTable: () => undefined,
    endpoints: () => [
      { id: 'kv-1', labels: {} },
      { id: 'kv-2', labels: {} },
    ],
    ...o,
  });
  const post = (op: string, payload: unknown) =>
    app.inject({ method: 'POST', url: `/v1/services/kv/shards/${op}`, payload: payload as object });
  return { app, policies, events, post, changes: () => changed };
}

describe('shard routes', () => {
  it('turns a config map into an API policy on the first edit, keeping the rest of the policy', async () => {
    const { app, policies, events, post, changes } = await setup();
    const got = await app.inject({ method: 'GET', url: '/v1/services/kv/shards' });
    expect(got.json()).toMatchObject({ source: 'config', resourceVersion: '0', generation: 0, tableVersion: null });
    const split = await post('split', { at: 't', instance: 'kv-3', resourceVersion: '0' });
    expect(split.statusCode).toBe(200);
    expect(split.json()).toMatchObject({ source: 'api', generation: 1 });
    expect(split.json().warnings[0]).toContain('instance "kv-3"');
    expect(policies.policyOf('kv').retries.maxRetries).toBe(4);
    expect(policies.policyOf('kv').sharding?.ranges).toHaveLength(3);
    expect(changes()).toBe(1);
    expect(events.list({ kind: 'sharding' })[0]).toMatchObject({
      service: 'kv',
      from: 'generation 0',
      to: 'generation 1',
      evidence: { operation: 'split', by: 'no token configured' },
    });
    // The version it was based on is gone now.
    const stale = await post('merge', { at: 't', resourceVersion: '0' });
    expect(stale.statusCode).toBe(409);
    expect(stale.json().error).toMatchObject({ code: 'MESHLET_CONFLICT', field: 'resourceVersion' });
  });

  it('validates bodies: one owner at most, a to with exactly one, a bound', async () => {
    const { post } = await setup();
    expect((await post('split', { at: 't', instance: 'a', subset: { s: 'x' }, resourceVersion: '0' })).statusCode).toBe(
      400,
    );
    expect((await post('move', { from: 'm', to: {}, resourceVersion: '0' })).json().error.field).toBe('to');
    expect((await post('merge', { resourceVersion: '0' })).json().error.code).toBe('MESHLET_API_INVALID');
    expect((await post('move', { from: 'q', to: { instance: 'x' }, resourceVersion: '0' })).statusCode).toBe(404);
  });

  it('leaves edits to the leader replica (503 naming it), where the event log and the table are', async () => {
    const { post, events } = await setup({
      following: () => ({ leader: { replicaId: 'cp-1', url: 'https://cp-1:15010' } }),
    });
    const r = await post('split', { at: 't', resourceVersion: '0' });
    expect(r.statusCode).toBe(503);
    expect(r.json().error).toMatchObject({ code: 'MESHLET_NOT_LEADER', leader: 'https://cp-1:15010' });
    expect(events.list({})).toEqual([]);
  });

  it('answers 404 for a service without a map', async () => {
    const { app } = await setup();
    const r = await app.inject({ method: 'GET', url: '/v1/services/other/shards' });
    expect(r.statusCode).toBe(404);
    expect(r.json().error.message).toContain('has no range map');
  });
});
