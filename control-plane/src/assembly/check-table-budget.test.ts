import { ControlPlaneConfig, compileValidator } from '@meshlet/shared';
import { describe, expect, it } from 'vitest';
import { checkTableBudget } from './check-table-budget.js';

describe('checkTableBudget', () => {
  const config = (services: Record<string, unknown>) => {
    const r = compileValidator(ControlPlaneConfig, { useDefaults: true })({ services });
    if (!r.ok) throw new Error(JSON.stringify(r.issues));
    return r.value;
  };

  it('refuses a config file whose 1000 services each ask for maglevTableSize 655373, naming the limit', () => {
    const services = Object.fromEntries(
      Array.from({ length: 1000 }, (_, i) => [`s${i}`, { balancer: { kind: 'maglev', maglevTableSize: 655_373 } }]),
    );
    const issues = checkTableBudget(config(services));
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatchObject({
      path: 'services',
      problem: expect.stringContaining('tableBudget.maxHashEntries'),
    });
  });

  it('accepts the defaults', () => {
    expect(checkTableBudget(config({ orders: { balancer: { kind: 'maglev' } } }))).toEqual([]);
  });
});
