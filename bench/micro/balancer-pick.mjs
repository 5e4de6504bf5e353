// Balancer pick: one pick of every balancer kind over 3 and 300 endpoints
// of equal weight, and 300 of mixed weights (every third weighs 2), built
// as the agent builds them (createBalancer with the policy's
// defaults), with the context of a first attempt (nothing excluded yet; a
// hash for the hash kinds). Then the same pick through a service's endpoint
// selection (tiers, zones and ejections around the balancer), which is what
// a request calls.
import { BalancerKind, resolvePolicy } from '@meshlet/shared';
import { createBalancer } from '../../agent/dist/balancer/create-balancer.js';
import { endpoints, expect, routeTable, runtimeDeps } from './fixtures.mjs';

/** Every kind the policy schema allows, so that a kind added later is measured too. */
const KINDS = BalancerKind.anyOf.map((s) => s.const);
const HASHED = new Set(['ring_hash', 'maglev']);

export const group = 'balancer-pick';

export function cases() {
  const list = [];
  const tables = [];
  for (const [size, mixed] of [
    [3, false],
    [300, false],
    [300, true],
  ]) {
    const eps = endpoints(size, 'e', mixed);
    const label = `${size} endpoints${mixed ? ', mixed weights' : ''}`;
    for (const kind of KINDS) {
      const policy = resolvePolicy({ balancer: { kind } }).balancer;
      const lb = createBalancer(policy, eps, runtimeDeps());
      const ctx = { exclude: new Set(), hash: undefined };
      const fn = HASHED.has(kind)
        ? (i) => {
            // A different key per request: Knuth's multiplicative hash of the call's index.
            ctx.hash = Math.imul(i, 2654435761) >>> 0;
            return lb.pick(ctx);
          }
        : () => lb.pick(ctx);
      expect(fn(1) !== undefined, `${kind} over ${label} picked nothing`);
      list.push({ name: `${kind}, ${label}`, fn, check: (e) => typeof e?.id === 'string' });
    }
  }
  for (const size of [3, 300]) {
    const table = routeTable({ services: 0, orderEndpoints: size });
    tables.push(table);
    const svc = table.service('orders');
    const ctx = { exclude: new Set(), hash: undefined };
    list.push({
      name: `service selection (round_robin), ${size} endpoints`,
      fn: () => svc.lb.pick(ctx),
      check: (e) => typeof e?.id === 'string',
    });
  }
  return { close: () => tables.forEach((t) => t.close()), list };
}
