import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolvePolicy } from '@meshlet/shared';
import { afterAll, describe, expect, it } from 'vitest';
import { type AdminDeps, registerAdminRoutes } from '../api/admin-routes.js';
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

/**
 * A file store whose writes can be held on their way to the disk, as a slow
 * fsync holds them: the value is in memory at once, the write's promise waits.
 */
class SlowDisk extends FileStore {
  #held: Promise<void> | undefined;
  #release = () => {};
  #reached = () => {};
  /** Holds the next writes; resolves when one of them reaches the store. */
  hold(): Promise<void> {
    this.#held = new Promise((r) => (this.#release = r));
    return new Promise((r) => (this.#reached = r));
  }
  release(): void {
    this.#held = undefined;
    this.#release();
  }
  override async put(key: string, value: unknown): Promise<number> {
    const written = super.put(key, value);
    this.#reached();
    if (this.#held) await this.#held;
    return written;
  }
}

async function setup(o: Partial<ShardRouteDeps> = {}) {
  const d = mkdtempSync(join(tmpdir(), 'meshlet-shards-'));
  dirs.push(d);
  const store = new SlowDisk(d);
  await store.open();
  const config = { kv: resolvePolicy({ sharding: SHARDING, retries: { maxRetries: 4 } }) };
  const events = new EventLog(100, () => 0);
  const policies = new PolicyStore(store, config, { events });
  let changed = 0;
  const app = makeApp();
  // PUT and DELETE /v1/policies: the other paths by which a map changes.
  registerAdminRoutes(app, {
    policies,
    events,
    policiesChanged: () => changed++,
    serviceNames: () => ['kv'],
    following: o.following ?? (() => undefined),
  } as unknown as AdminDeps);
  registerShardRoutes(app, {
    policies,
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
  return { app, store, config, policies, events, post, changes: () => changed };
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

  it('two edits based on the same resourceVersion: exactly one wins, the other 409', async () => {
    const { store, post, policies } = await setup();
    expect((await post('split', { at: 'p', resourceVersion: '0' })).statusCode).toBe(200);
    const rv = policies.item('kv').resourceVersion;
    const reached = store.hold();
    const a = post('split', { at: 'd', instance: 'kv-3', resourceVersion: rv });
    await reached;
    const b = post('split', { at: 't', instance: 'kv-4', resourceVersion: rv });
    store.release();
    const answers = await Promise.all([a, b]);
    expect(answers.map((r) => r.statusCode).sort()).toEqual([200, 409]);
    const won = answers.find((r) => r.statusCode === 200)?.json();
    expect(won.generation).toBe(2);
    expect(policies.policyOf('kv').sharding?.ranges.map((r) => r.from)).toEqual([undefined, 'd', 'm', 'p']);
  });

  it('an edit in flight is not lost: a GET during its write shows its map with its resourceVersion', async () => {
    const { app, store, post, policies } = await setup();
    expect((await post('split', { at: 'p', resourceVersion: '0' })).statusCode).toBe(200);
    const reached = store.hold();
    const a = post('split', { at: 'd', instance: 'kv-3', resourceVersion: policies.item('kv').resourceVersion });
    await reached;
    // The write of A is in the store, not yet on disk: what GET shows must be A's map at A's resourceVersion.
    const seen = (await app.inject({ method: 'GET', url: '/v1/services/kv/shards' })).json();
    const b = post('split', { at: 't', instance: 'kv-4', resourceVersion: seen.resourceVersion });
    store.release();
    const [ra, rb] = await Promise.all([a, b]);
    expect([ra.statusCode, rb.statusCode]).toEqual([200, 200]);
    expect([ra.json().generation, rb.json().generation]).toEqual([2, 3]);
    // Both splits are in the map: neither was lost.
    expect(policies.policyOf('kv').sharding?.ranges.map((r) => r.from)).toEqual([undefined, 'd', 'm', 'p', 't']);
  });

  it('the control plane owns the generation: every change of the map by PUT, DELETE or an edit adds one, never down, each an event', async () => {
    const { app, store, config, policies, events, post } = await setup();
    const generation = async () =>
      (await app.inject({ method: 'GET', url: '/v1/services/kv/shards' })).json().generation;
    const put = (policy: unknown) => app.inject({ method: 'PUT', url: '/v1/policies/kv', payload: { policy } });
    const sharding = () => events.list({ kind: 'sharding' });
    // The same map with another field changed and a generation written: not a change of the map, the written one ignored.
    const same = await put({ sharding: { ...SHARDING, generation: 7 }, retries: { maxRetries: 2 } });
    expect(same.statusCode).toBe(200);
    expect(await generation()).toBe(0);
    expect(sharding()).toEqual([]);
    // Subset labels in another order are the same owner: still no change.
    const labelled = {
      ...SHARDING,
      ranges: [
        { to: 'm', subset: { a: '1', b: '2' } },
        { from: 'm', instance: 'kv-2' },
      ],
    };
    await put({ sharding: labelled });
    const reordered = { ...labelled, ranges: [{ to: 'm', subset: { b: '2', a: '1' } }, labelled.ranges[1]] };
    await put({ sharding: { ...reordered, generation: 0 } });
    expect(await generation()).toBe(1);
    expect(sharding()).toHaveLength(1);
    expect(sharding()[0]).toMatchObject({
      from: 'generation 0',
      to: 'generation 1',
      evidence: { operation: 'put', by: 'no token configured', before: SHARDING.ranges, after: labelled.ranges },
    });
    const rv = policies.item('kv').resourceVersion;
    expect((await post('split', { at: 't', resourceVersion: rv })).json().generation).toBe(2);
    // DELETE: the config file's map applies again, with the next generation, not its own 0.
    expect((await app.inject({ method: 'DELETE', url: '/v1/policies/kv' })).statusCode).toBe(200);
    expect(await generation()).toBe(3);
    expect(sharding()[2]).toMatchObject({
      from: 'generation 2',
      to: 'generation 3',
      evidence: { operation: 'delete', after: SHARDING.ranges },
    });
    // ... also after a restart.
    expect(new PolicyStore(store, config).policyOf('kv').sharding?.generation).toBe(3);
    // A PUT without a map removes it; the next map counts on from there.
    await put({ retries: { maxRetries: 1 } });
    expect((await app.inject({ method: 'GET', url: '/v1/services/kv/shards' })).statusCode).toBe(404);
    expect(sharding()[3]).toMatchObject({ to: 'generation 4', evidence: { after: null } });
    await put({ sharding: SHARDING });
    expect(await generation()).toBe(5);
    const seen = sharding().map((e) => Number(e.to.split(' ')[1]));
    expect(seen).toEqual([1, 2, 3, 4, 5]);
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

  it('leaves policy writes that change a map to the leader too (PUT and DELETE /v1/policies): no event in a follower log', async () => {
    const { app, events } = await setup({
      following: () => ({ leader: { replicaId: 'cp-1', url: 'https://cp-1:15010' } }),
    });
    const put = await app.inject({
      method: 'PUT',
      url: '/v1/policies/kv',
      payload: { policy: { sharding: SHARDING }, resourceVersion: '0' },
    });
    expect(put.statusCode).toBe(503);
    expect(put.json().error).toMatchObject({ code: 'MESHLET_NOT_LEADER', leader: 'https://cp-1:15010' });
    const del = await app.inject({ method: 'DELETE', url: '/v1/policies/kv' });
    expect(del.statusCode).toBe(503);
    expect(events.list({})).toEqual([]);
  });

  it('answers 404 for a service without a map', async () => {
    const { app } = await setup();
    const r = await app.inject({ method: 'GET', url: '/v1/services/other/shards' });
    expect(r.statusCode).toBe(404);
    expect(r.json().error.message).toContain('has no range map');
  });
});
