import type { BalancerKind } from '@meshlet/shared';
import { describe, expect, it } from 'vitest';
import { createBalancer } from './create-balancer.js';
import { LeastRequestBalancer } from './least-request.js';
import { MaglevBalancer } from './maglev.js';
import { PeakEwmaBalancer } from './peak-ewma.js';
import { RandomBalancer } from './random.js';
import { RingHashBalancer } from './ring-hash.js';
import { RoundRobinBalancer } from './round-robin.js';
import { balancerDeps, balancerPolicy, endpoints } from './test-support/fixtures.js';
import { WeightedBalancer } from './weighted.js';

const policy = (kind: BalancerKind) => balancerPolicy(kind, { ringMinSize: 64, maglevTableSize: 251 });
const deps = () => balancerDeps(1);
const three = endpoints('a', 'b', 'c');

describe('createBalancer', () => {
  it.each([
    ['round_robin', RoundRobinBalancer],
    ['weighted', WeightedBalancer],
    ['random', RandomBalancer],
    ['least_request', LeastRequestBalancer],
    ['peak_ewma', PeakEwmaBalancer],
    ['ring_hash', RingHashBalancer],
    ['maglev', MaglevBalancer],
  ] as const)('builds a working %s balancer', (kind, cls) => {
    const b = createBalancer(policy(kind), three, deps(), 0);
    expect(b).toBeInstanceOf(cls);
    expect(three.map((e) => e.id)).toContain(b.pick({ hash: 42 })?.id);
    expect(b.pick({ hash: 42, exclude: new Set(['a', 'b', 'c']) })).toBeUndefined();
    expect(createBalancer(policy(kind), [], deps()).pick()).toBeUndefined();
  });

  it('starts round robin at the given position, else at one drawn from deps.random', () => {
    expect(createBalancer(policy('round_robin'), three, deps(), 2).pick()?.id).toBe('c');
    expect(createBalancer(policy('round_robin'), three, { ...deps(), random: () => 0.5 }).pick()?.id).toBe('b');
  });

  it('refuses a kind it does not know', () => {
    expect(() => createBalancer({ ...policy('random'), kind: 'fastest' as BalancerKind }, three, deps())).toThrow(
      TypeError,
    );
  });
});
