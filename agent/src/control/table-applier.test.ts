import { setImmediate as turn } from 'node:timers/promises';
import { createLogger, type Routes, resolvePolicy } from '@meshlet/shared';
import { describe, expect, it } from 'vitest';
import { HashTableCache } from '../balancer/hash-table-cache.js';
import { TableApplier } from './table-applier.js';

const budget = { maxHashEntries: 1_000_000, maxServices: 100, maxEndpoints: 100 };
const maglev = resolvePolicy({ balancer: { kind: 'maglev', maglevTableSize: 655_373 } });
const ep = (id: string) => ({ id, host: '127.0.0.1', port: 1, tier: 0, weight: 1, labels: {} });

function setup() {
  let held: Routes | undefined;
  const installed: number[] = [];
  const tables = new HashTableCache();
  const applier = new TableApplier({
    held: () => held,
    install: (routes) => {
      held = routes;
      installed.push(routes.version);
    },
    persist: () => undefined,
    ack: () => ({ ok: true }),
    budget,
    zone: undefined,
    tables,
    log: createLogger('test', 'silent'),
  });
  return { applier, installed, tables };
}

describe('TableApplier', () => {
  it('applies tables in the order they came, a delta onto the table installed before it, even while one builds', async () => {
    const { applier, installed, tables } = setup();
    const first = applier.apply({
      type: 'routes',
      version: 1,
      nonce: 'a',
      services: { big: { endpoints: [ep('b1'), ep('b2')], policy: maglev } },
    });
    const delta = applier.apply({
      type: 'routes',
      version: 2,
      nonce: 'b',
      baseVersion: 1,
      services: { small: { endpoints: [ep('s1')] } },
    });
    expect(await first).toEqual({ ok: true });
    expect(await delta).toEqual({ ok: true });
    expect(installed).toEqual([1, 2]);
    expect(tables.size).toBe(0);
  });

  it('refuses a table over budget before building anything, naming the limit', async () => {
    const { applier, installed } = setup();
    const services: Routes['services'] = {};
    for (let i = 0; i < 2; i++) services[`s${i}`] = { endpoints: [ep(`e${i}`)], policy: maglev };
    const r = await applier.apply({ type: 'routes', version: 1, nonce: 'a', services });
    expect(r).toMatchObject({ ok: false, code: 'MESHLET_TABLE_OVER_BUDGET' });
    expect(r.ok === false && r.error).toContain('tableBudget.maxHashEntries (1000000)');
    expect(installed).toEqual([]);
  });

  it('installs nothing once stopped', async () => {
    const { applier, installed } = setup();
    const pending = applier.apply({
      type: 'routes',
      version: 1,
      nonce: 'a',
      services: { big: { endpoints: [ep('b')], policy: maglev } },
    });
    applier.stop();
    expect(await pending).toMatchObject({ ok: false });
    expect(installed).toEqual([]);
  });

  it('stops building the slices of a table at once when stopped', async () => {
    const { applier, installed, tables } = setup();
    const endpoints = Array.from({ length: 20 }, (_, i) => ep(`b${i}`));
    const pending = applier.apply({
      type: 'routes',
      version: 1,
      nonce: 'a',
      services: { big: { endpoints, policy: maglev } },
    });
    let done = false;
    void pending.finally(() => {
      done = true;
    });
    await turn();
    await turn();
    applier.stop();
    let turns = 0;
    while (!done && turns < 100_000) {
      await turn();
      turns++;
    }
    // Left to run, the 655373-entry table takes tens of slices (one turn each).
    expect(turns).toBeLessThanOrEqual(2);
    expect(await pending).toMatchObject({ ok: false, error: 'the agent is stopping' });
    expect(installed).toEqual([]);
    expect(tables.size).toBe(0);
  });
});
