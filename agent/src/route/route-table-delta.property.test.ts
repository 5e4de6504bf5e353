import { type Endpoint, type Routes, resolvePolicy, type ServiceRoutes } from '@meshlet/shared';
import { fuzzRuns } from '@meshlet/test-harness/fuzz-values';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EndpointStatsMap } from '../balancer/endpoint-stats.js';
import { RingChecksums } from '../control/ring-checksums.js';
import { applyDelta } from '../control/routes-delta.js';
import { resolveTable } from './resolved-table.js';
import { RouteTable } from './route-table.js';
import type { RuntimeDeps } from './service-runtime.js';

// Tables made by deltas are installed in proportion to the delta (the runtimes, origins, budget totals and
// ring checksums of the services a delta left alone are carried over): after any sequence of deltas, full
// tables (resyncs) and refused deltas, they answer as a table built from scratch. From the independent review
// of the growth slice; `constructor` is in the names (a plain-object lookup once made such a delta throw).

const NAMES = ['a', 'b', 'c', 'constructor'];
const POLICIES = [
  undefined,
  resolvePolicy({ balancer: { kind: 'ring_hash', ringMinSize: 64 } }),
  resolvePolicy({ balancer: { kind: 'maglev', maglevTableSize: 251 } }),
  resolvePolicy({ outlierDetection: { consecutiveFailures: 2 } }),
];
const endpointArb = fc.record({
  n: fc.integer({ min: 0, max: 6 }),
  port: fc.constantFrom(1, 2),
  health: fc.constantFrom('healthy' as const, 'unhealthy' as const),
});
const serviceArb: fc.Arbitrary<ServiceRoutes> = fc
  .record({
    eps: fc.uniqueArray(endpointArb, { selector: (e) => e.n, maxLength: 4 }),
    policy: fc.integer({ min: 0, max: POLICIES.length - 1 }),
    ringVersion: fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined }),
  })
  .map(({ eps, policy, ringVersion }) => {
    const endpoints: Endpoint[] = eps.map((e) => ({
      id: `i${e.n}`,
      host: `10.0.0.${e.n}`,
      port: e.port,
      tier: 0,
      weight: 1,
      labels: {},
      health: e.health,
    }));
    const p = POLICIES[policy];
    const ring = ringVersion
      ? { ring: { version: ringVersion, members: endpoints.map((e) => ({ id: e.id, weight: 1 })) } }
      : {};
    return { endpoints, ...(p ? { policy: p } : {}), ...ring };
  });
const servicesArb = fc.dictionary(fc.constantFrom(...NAMES), serviceArb, { maxKeys: 4 });
/** A ring whose only member has weight 0: it resolves and fits any budget, and its balancer cannot be built. */
const unbuildable: ServiceRoutes = {
  endpoints: [{ id: 'x', host: '10.0.0.9', port: 1, tier: 0, weight: 0, labels: {} }],
  policy: resolvePolicy({ balancer: { kind: 'ring_hash', ringMinSize: 16 } }),
};
const stepArb = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('delta' as const),
      services: servicesArb,
      removed: fc.subarray([...NAMES, 'zz']),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('full' as const), services: servicesArb }) },
  // A delta whose install throws, after changing (and, in its place, removing) other services.
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('refused' as const),
      services: servicesArb,
      removed: fc.subarray(NAMES),
      at: fc.constantFrom(...NAMES),
    }),
  },
);

const deps = (): RuntimeDeps => ({ random: () => 0, clock: () => 0, stats: new EndpointStatsMap(), zone: undefined });

/** What a table answers: names, origins, and per service its endpoints, policy, tier and balanced endpoints. */
function view(t: RouteTable) {
  return {
    names: t.serviceNames(),
    origins: [...t.origins()].sort(),
    services: t.serviceNames().map((n) => {
      const s = t.service(n);
      return [n, s?.endpoints, s?.policy, s?.activeTier, s?.lb.endpoints.map((e) => e.id)];
    }),
  };
}

describe('RouteTable over deltas, full tables and refused deltas', () => {
  it('answers as a table built from scratch; the tables it replaced answer as they did', () => {
    fc.assert(
      fc.property(fc.array(stepArb, { minLength: 1, maxLength: 12 }), (steps) => {
        const d = deps();
        const rings = new RingChecksums();
        let table: RouteTable | undefined;
        const tables: RouteTable[] = [];
        let version = 0;
        for (const step of steps) {
          version++;
          const base = table === undefined ? {} : { baseVersion: table.version };
          const msg: Routes =
            step.kind === 'full' || table === undefined
              ? { type: 'routes', version, nonce: `n${version}`, services: step.services }
              : step.kind === 'delta'
                ? {
                    type: 'routes',
                    version,
                    nonce: `n${version}`,
                    ...base,
                    services: step.services,
                    removed: step.removed,
                  }
                : {
                    type: 'routes',
                    version,
                    nonce: `n${version}`,
                    ...base,
                    services: { ...step.services, [step.at]: unbuildable },
                    removed: step.removed.filter((n) => n !== step.at),
                  };
          const r = applyDelta(table?.routes, msg);
          if (!r.ok) throw new Error(r.error);
          if (step.kind === 'refused' && table !== undefined) {
            const before = view(table);
            const held = table;
            expect(() => new RouteTable(r.routes, 'control-plane', version, d, held)).toThrow(/weight/);
            expect(view(table)).toEqual(before);
            continue;
          }
          table = new RouteTable(r.routes, 'control-plane', version, d, table);
          tables.push(table);
          rings.update(table);
          const copy: Routes = { ...r.routes, services: { ...r.routes.services } };
          const fresh = new RouteTable(copy, 'control-plane', version, deps());
          const freshRings = new RingChecksums();
          freshRings.update(fresh);
          expect(view(table)).toEqual(view(fresh));
          expect(rings.current).toEqual(freshRings.current);
          const a = resolveTable(r.routes);
          const b = resolveTable(copy);
          expect([a.endpoints, a.entries, a.policies.size]).toEqual([b.endpoints, b.entries, b.policies.size]);
          fresh.close();
          // Every table still answers exactly its own service names (a request may still hold an old one).
          for (const t of tables)
            for (const n of NAMES)
              expect(t.service(n) !== undefined, `v${t.version} ${n}`).toBe(Object.hasOwn(t.routes.services, n));
        }
        table?.close();
      }),
      { numRuns: fuzzRuns(300) },
    );
  });
});
