// Part (c) of bench/growth.mjs: the longest event-loop block while a ring or
// Maglev table of a service of N endpoints is rebuilt, in process, on the
// agent's own code (agent/dist): monitorEventLoopDelay (resolution 1 ms;
// max and p99) and the longest gap between two 0 ms timer ticks, as
// bench/hash-rebuild.mjs measures it, for three rebuilds:
//
//   install    a table delta adds an endpoint to the service (the agent's
//              applier builds the new tables ahead, then installs)
//   ejection   outlier detection ejects an endpoint (the selections rebuild)
//   subset     a route's subset is asked for the first time
//
// Picks are made on every tick meanwhile; a pick must never go to the
// ejected endpoint or outside the subset (the previous complete table, or
// a stand-in that skips, serves until the new one is in).
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { resolvePolicy } from '@meshlet/shared';
import { EndpointStatsMap } from '../../../agent/dist/balancer/endpoint-stats.js';
import { ServiceRuntime } from '../../../agent/dist/route/service-runtime.js';
import { agentLike } from './delta-apply.mjs';
import { endpoint } from './tables.mjs';

/**
 * Ticks a 0 ms timer, runs `work` after 20 ticks, and ticks on until `done()`:
 * the longest gap between ticks (wall, and the process's CPU time over it:
 * what the block itself cost, whatever else the machine runs), the
 * loop-delay histogram's max and p99 (ms), and what `pick` (if given)
 * answered on each tick.
 */
export async function measureBlock(work, done, pick) {
  const h = monitorEventLoopDelay({ resolution: 1 });
  let last = performance.now();
  let lastCpu = process.cpuUsage();
  let longest = 0;
  let longestCpu = 0;
  let ticks = 0;
  let doneAt = -1;
  const picked = new Map();
  // On from the start, reset when the work starts: a histogram enabled just before a block may miss it.
  h.enable();
  await new Promise((resolve, reject) => {
    const tick = () => {
      const now = performance.now();
      ticks++;
      if (ticks === 20) {
        h.reset();
        last = performance.now();
        lastCpu = process.cpuUsage();
        Promise.resolve(work()).catch(reject);
      } else if (ticks > 20) {
        longest = Math.max(longest, now - last);
        last = now;
        const cpu = process.cpuUsage(lastCpu);
        longestCpu = Math.max(longestCpu, (cpu.user + cpu.system) / 1000);
        lastCpu = process.cpuUsage();
        if (pick !== undefined) {
          const e = pick();
          picked.set(e?.id, (picked.get(e?.id) ?? 0) + 1);
        }
        // A few ticks more after the rebuild, so that the histogram's own timer has fired after the last block.
        if (doneAt < 0 && done()) doneAt = now;
        if (doneAt >= 0 && now - doneAt >= 5) return resolve();
      }
      setTimeout(tick, 0);
    };
    setTimeout(tick, 0);
  });
  h.disable();
  return { longestMs: longest, longestCpuMs: longestCpu, maxMs: h.max / 1e6, p99Ms: h.percentile(99) / 1e6, picked };
}

const ids = (n) => Array.from({ length: n }, (_, i) => `e${String(i).padStart(4, '0')}`);

/** The three rebuilds for a service of `endpoints` endpoints under `balancer`; `{ rows, wrong }`. */
export async function rebuildBlocks(balancer, endpoints) {
  const rows = [];
  let wrong = false;
  let hash = 0;
  const nextHash = () => (hash = (hash + 2654435761) >>> 0);

  // install: the agent's applier, a delta adding one endpoint.
  const policy = { balancer };
  const eps = ids(endpoints).map((id) => endpoint(id, '127.0.0.1', 1));
  const { applier, close, table } = agentLike();
  const full = { type: 'routes', version: 1, nonce: 'n1', services: { svc: { endpoints: eps, policy } } };
  const first = await applier.apply(full);
  if (!first.ok) throw new Error(first.error);
  let acked = false;
  const delta = {
    type: 'routes',
    version: 2,
    baseVersion: 1,
    nonce: 'n2',
    services: { svc: { endpoints: [...eps, endpoint('extra', '127.0.0.1', 1)], policy } },
  };
  const install = await measureBlock(
    () => applier.apply(delta).then((r) => (acked = r.ok)),
    () => acked,
    () => table().service('svc').lb.pick({ hash: nextHash() }),
  );
  if (install.picked.has(undefined)) wrong = true;
  rows.push({ what: 'install', ...install });
  close();

  // ejection and subset: one ServiceRuntime, outlier detection ejecting after one failure.
  const resolved = resolvePolicy({
    balancer,
    outlierDetection: { consecutiveFailures: 1, maxEjectionPercent: 50, baseEjectionMs: 600_000 },
  });
  const labelled = ids(endpoints).map((id, i) =>
    endpoint(id, '127.0.0.1', 1, { labels: { v: i % 2 === 0 ? '1' : '2' } }),
  );
  const runtime = new ServiceRuntime('svc', { endpoints: labelled }, resolved, {
    random: Math.random,
    clock: () => performance.now(),
    stats: new EndpointStatsMap(),
    zone: undefined,
  });
  const victim = labelled[1].id;
  const ejection = await measureBlock(
    () => runtime.outcome(victim, true),
    () => runtime.lb.describe()[0].healthy === endpoints - 1 && runtime.ejected.has(victim),
    () => runtime.lb.pick({ hash: nextHash() }),
  );
  await runtime.settled();
  if (ejection.picked.has(victim) || ejection.picked.has(undefined)) wrong = true;
  rows.push({ what: 'ejection', ...ejection });
  let built = false;
  const subset = await measureBlock(
    () => {
      runtime.subsetLb({ v: '2' });
      return runtime.settled().then(() => (built = true));
    },
    () => built,
    () => runtime.subsetLb({ v: '2' }).pick({ hash: nextHash() }),
  );
  const inSubset = new Set(labelled.filter((e) => e.labels.v === '2').map((e) => e.id));
  if ([...subset.picked.keys()].some((id) => !inSubset.has(id) || id === victim)) wrong = true;
  rows.push({ what: 'subset', ...subset });
  runtime.close();
  return { rows, wrong };
}
