import { describe, expect, it } from 'vitest';
import { TableBudgetConfig } from '../config/table-budget-config.js';
import { MeshletError } from '../errors.js';
import { compileValidator } from '../validation.js';
import { checkTableBudget, hashTableEntries, tableBudgetProblem } from './table-budget.js';

const defaults = (() => {
  const r = compileValidator(TableBudgetConfig, { useDefaults: true })({});
  if (!r.ok) throw new Error('no defaults');
  return r.value;
})();
const maglev = (size: number, endpoints = 0) => ({
  policy: { balancer: { kind: 'maglev' as const, maglevTableSize: size } },
  endpoints: Array.from({ length: endpoints }, () => ({ weight: 1 })),
});

describe('tableBudgetProblem', () => {
  it('refuses 1000 services each with maglevTableSize 655373, naming tableBudget.maxHashEntries, without building a table', () => {
    const services = Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`svc-${i}`, maglev(655_373, 3)]));
    expect(() => checkTableBudget(services, defaults)).toThrow(MeshletError);
    const problem = tableBudgetProblem(services, defaults) as string;
    expect(problem).toContain('tableBudget.maxHashEntries (16777216)');
    expect(problem).toContain('655373000 entries');
    expect(problem).toContain('maglevTableSize');
  });

  it('accepts what fits: 255 maglev services at the default size', () => {
    const services = Object.fromEntries(Array.from({ length: 255 }, (_, i) => [`svc-${i}`, maglev(65_537, 2)]));
    expect(tableBudgetProblem(services, defaults)).toBeUndefined();
  });

  it('names tableBudget.maxServices and tableBudget.maxEndpoints when those are exceeded', () => {
    const budget = { ...defaults, maxServices: 2, maxEndpoints: 4 };
    const plain = (n: number) => ({ endpoints: Array.from({ length: n }, () => ({ weight: 1 })) });
    expect(tableBudgetProblem({ a: plain(0), b: plain(0), c: plain(0) }, budget)).toContain(
      'tableBudget.maxServices (2)',
    );
    expect(tableBudgetProblem({ a: plain(3), b: plain(2) }, budget)).toContain('tableBudget.maxEndpoints (4)');
  });

  it('counts a ring at its minimum size, or the weights when they add up to more', () => {
    const ring = (min: number, weights: number[]) => ({
      policy: { balancer: { kind: 'ring_hash' as const, ringMinSize: min } },
      endpoints: weights.map((weight) => ({ weight })),
    });
    expect(hashTableEntries(ring(1024, []))).toBe(1024);
    expect(hashTableEntries(ring(1024, [1, 1, 1]))).toBeGreaterThanOrEqual(1024);
    expect(hashTableEntries(ring(16, [5000, 5000]))).toBe(10_000);
    expect(hashTableEntries({ policy: { balancer: { kind: 'maglev' } }, endpoints: [] })).toBe(65_537);
    expect(hashTableEntries({ endpoints: [{ weight: 1 }] })).toBe(0);
  });
});
