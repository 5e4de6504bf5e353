// The simulated mesh of bench/scale.mjs: who is an instance of what, who
// calls whom, and which health changes are injected. Every process of a run
// builds it from the same (agents, seed) and gets the same answer, so only
// those two numbers cross process boundaries.
import { seededRandom } from '@meshlet/shared';

/** The service every agent calls: a change to it reaches the whole mesh. */
export const POPULAR_SERVICE = 'svc-0';

/** Fake ports start here; port i is never dialled, it only has to be unique. */
const FIRST_PORT = 20000;

/**
 * N agents, one instance each, spread round robin over S = max(5, N/10)
 * services ("svc-0"...), so about 10 instances per service. Each agent calls
 * svc-0 and 2 other services (not svc-0, not its own), chosen by a seeded
 * random source: a change to svc-0 concerns all N callers, a change to
 * another service about 2N/(S-1) of them (plus its own instances' agents
 * when the control plane sends whole tables).
 *
 * Returns `{ agents, services, agent(i), instancesOf(service), callersOf(service) }`.
 */
export function scaleTopology({ agents, seed }) {
  if (!Number.isInteger(agents) || agents < 2 || agents > 45000)
    throw new Error(`agents must be an integer in 2..45000, got ${agents}`);
  const services = Math.max(5, Math.floor(agents / 10));
  const random = seededRandom(seed);
  const list = [];
  const instances = new Map();
  const callers = new Map();
  for (let s = 0; s < services; s++) {
    instances.set(`svc-${s}`, []);
    callers.set(`svc-${s}`, 0);
  }
  for (let i = 0; i < agents; i++) {
    const own = i % services;
    const service = `svc-${own}`;
    const upstreams = [POPULAR_SERVICE];
    while (upstreams.length < 3) {
      const pick = 1 + Math.floor(random() * (services - 1));
      const name = `svc-${pick}`;
      if (pick !== own && !upstreams.includes(name)) upstreams.push(name);
    }
    const a = {
      index: i,
      agentId: `sim-${i}`,
      instance: {
        service,
        id: `${service}-${Math.floor(i / services)}`,
        host: '127.0.0.1',
        port: FIRST_PORT + i,
        tier: 0,
        weight: 1,
        labels: {},
      },
      upstreams,
    };
    list.push(a);
    instances.get(service).push(a);
    for (const u of upstreams) callers.set(u, callers.get(u) + 1);
  }
  return {
    agents,
    services,
    agent: (i) => list[i],
    instancesOf: (service) => instances.get(service) ?? [],
    callersOf: (service) => callers.get(service) ?? 0,
  };
}

/**
 * The health changes to inject, alternating the popular service ("all"
 * class) and another one ("few" class), in rounds of four:
 * A unhealthy, B unhealthy, A healthy, B healthy — every send is a change,
 * and each round leaves the mesh as it found it. A is the next instance of
 * svc-0, B an instance of a service picked at random (seeded).
 *
 * Returns `[{ index, cls: 'all' | 'few', service, instanceId, agentIndex, status }]`.
 */
export function changePlan(topology, count, seed) {
  const random = seededRandom(seed ^ 0x5ca1e);
  const popular = topology.instancesOf(POPULAR_SERVICE);
  const others = [];
  for (let s = 1; s < topology.services; s++) if (topology.instancesOf(`svc-${s}`).length > 0) others.push(`svc-${s}`);
  if (popular.length === 0 || others.length === 0)
    throw new Error('changePlan needs instances of svc-0 and of another service: use at least 2 agents');
  const plan = [];
  let a;
  let b;
  for (let k = 0; k < count; k++) {
    const round = Math.floor(k / 4);
    if (k % 4 === 0) {
      a = popular[round % popular.length];
      const pool = topology.instancesOf(others[Math.floor(random() * others.length)]);
      b = pool[Math.floor(random() * pool.length)];
    }
    const target = k % 2 === 0 ? a : b;
    plan.push({
      index: k,
      cls: k % 2 === 0 ? 'all' : 'few',
      service: target.instance.service,
      instanceId: target.instance.id,
      agentIndex: target.index,
      status: k % 4 < 2 ? 'unhealthy' : 'healthy',
    });
  }
  return plan;
}
