// Part (b) of bench/growth.mjs: what applying one routing-table delta costs
// the agent, in process, on a table of N services.
//
// The agent's own applier (agent/dist/control/agent-table-applier.js: ring
// checksums prepared, hash tables built ahead) installs into a RouteTable as Agent#install does (the table, the
// ring checksums, the origins and the endpoint ids the agent then retains).
// Each delta changes one service (an endpoint's health flips), as a health
// change does; the time is from `apply()` to its ACK, median of many, less
// the part of Agent#install outside this slice (agent.ts: the origins and
// endpoint ids retained), reported apart, as is what persisting the table
// costs (TableCache.save serializes the whole table).
import { performance } from 'node:perf_hooks';
import { EndpointStatsMap } from '../../../agent/dist/balancer/endpoint-stats.js';
import { HashTableCache } from '../../../agent/dist/balancer/hash-table-cache.js';
import { RingChecksums } from '../../../agent/dist/control/ring-checksums.js';
import { agentTableApplier } from '../../../agent/dist/control/agent-table-applier.js';
import { RouteTable } from '../../../agent/dist/route/route-table.js';
import { growthTable } from './tables.mjs';

const quiet = { info() {}, warn() {}, error() {}, debug() {}, child: () => quiet };

/** An applier over an empty agent state; `held()` is the table installed last. */
export function agentLike() {
  const tables = new HashTableCache();
  const rings = new RingChecksums();
  const stats = new EndpointStatsMap();
  let table;
  /** Time spent in the part of Agent#install outside this slice (origins retained, endpoint ids retained). */
  let agentUs = 0;
  const deps = { random: Math.random, clock: () => performance.now(), stats, zone: undefined, tables };
  const install = (routes) => {
    table = new RouteTable(routes, 'control-plane', performance.now(), deps, table);
    rings.update(table);
    const t0 = performance.now();
    table.origins();
    const ids = new Set();
    for (const name of table.serviceNames()) for (const e of table.service(name)?.endpoints ?? []) ids.add(e.id);
    stats.retain(ids);
    agentUs += (performance.now() - t0) * 1000;
  };
  const applier = agentTableApplier({
    config: { tableBudget: { maxHashEntries: 16_777_216, maxServices: 10_000, maxEndpoints: 100_000 } },
    log: quiet,
    // Persisting is asynchronous file work off the measured path; nothing is written here.
    cache: { path: '(not persisted)', save: async () => {} },
    rings,
    tables,
    held: () => table?.routes,
    install,
  });
  return {
    applier,
    table: () => table,
    close: () => table?.close(),
    takeAgentUs: () => ((t) => ((agentUs = 0), t))(agentUs),
  };
}

/** µs per delta (median, p90) on a table of `services` services; `deltas` deltas after `warmup`. */
export async function deltaCost(services, { deltas = 400, warmup = 50 } = {}) {
  const { applier, close, takeAgentUs } = agentLike();
  const full = growthTable({ services, calledEndpoints: 3, appPort: 1 });
  const first = await applier.apply(full);
  if (!first.ok) throw new Error(`the full table of ${services} services was refused: ${first.error}`);
  const names = Object.keys(full.services);
  const times = [];
  const rest = [];
  let version = 1;
  for (let i = 0; i < warmup + deltas; i++) {
    const name = names[(i * 7919) % names.length];
    const s = full.services[name];
    const endpoints = s.endpoints.map((e, j) => (j === 0 && i % 2 === 0 ? { ...e, health: 'unhealthy' } : e));
    const delta = {
      type: 'routes',
      version: version + 1,
      baseVersion: version,
      nonce: `d${version + 1}`,
      services: { [name]: { ...s, endpoints } },
    };
    takeAgentUs();
    const t0 = performance.now();
    const r = await applier.apply(delta);
    const t1 = performance.now();
    if (!r.ok) throw new Error(`delta ${version + 1} was refused: ${r.error}`);
    version++;
    const agentPart = takeAgentUs();
    if (i >= warmup) {
      times.push((t1 - t0) * 1000 - agentPart);
      rest.push(agentPart);
    }
  }
  // What persisting the table costs (TableCache.save serializes the whole table before writing it).
  const persistUs = median(Array.from({ length: 20 }, () => timed(() => JSON.stringify(full, null, 2))));
  close();
  return {
    services,
    deltas,
    medianUs: median(times),
    p90Us: quantile(times, 0.9),
    agentInstallUs: median(rest),
    persistUs,
  };
}

function quantile(xs, q) {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))];
}

function median(xs) {
  return quantile(xs, 0.5);
}

function timed(fn) {
  const t0 = performance.now();
  fn();
  return (performance.now() - t0) * 1000;
}
