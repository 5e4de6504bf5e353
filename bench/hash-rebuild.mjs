#!/usr/bin/env node
// How long the agent's event loop is blocked when a hash table is rebuilt
// outside a table install (docs/security.md, "Large tables do not block
// requests"): an endpoint ejected by outlier detection from a Maglev service
// of --size slots, a route's subset asked for the first time, and the control
// plane's expected checksum of such a table, published as a ring and ACKed.
//
// One ServiceRuntime from agent/dist (the service as the agent holds it),
// 4 endpoints, outlier detection ejecting after one failure. A 0 ms timer
// ticks throughout, and the longest gap between two ticks is the longest
// block; monitorEventLoopDelay's max is reported beside it. Picks are made
// on every tick while the rebuild runs: none may go to the ejected endpoint,
// and every one must be answered. Figures, not assertions (the process exits
// 1 only when a pick was wrong).
//
// usage: node bench/hash-rebuild.mjs [--size 655373] [--runs 3] [--smoke]
//        --smoke: a 65537-slot table, one run.
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { resolvePolicy } from '@meshlet/shared';
import { EndpointStatsMap } from '../agent/dist/balancer/endpoint-stats.js';
import { ServiceRuntime } from '../agent/dist/route/service-runtime.js';
import { RingPublisher } from '../control-plane/dist/rings/ring-publisher.js';

const { values } = parseArgs({
  options: {
    size: { type: 'string', default: '655373' },
    runs: { type: 'string', default: '3' },
    smoke: { type: 'boolean', default: false },
  },
});
const SIZE = values.smoke ? 65_537 : Number(values.size);
const RUNS = values.smoke ? 1 : Number(values.runs);

const endpoint = (id, labels = {}) => ({
  id,
  host: '127.0.0.1',
  port: 1,
  weight: 1,
  tier: 0,
  health: 'healthy',
  labels,
});

/**
 * Ticks a 0 ms timer, runs `work` (which starts a rebuild) after 20 ticks, and ticks on until `done()`: the longest
 * gap between two ticks from then on, the event-loop delay histogram's max, and the picks made meanwhile.
 */
async function measure(work, done, pick) {
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  let last = performance.now();
  let longest = 0;
  let ticks = 0;
  let picks = 0;
  const picked = new Map();
  await new Promise((resolve) => {
    const tick = () => {
      const now = performance.now();
      ticks++;
      if (ticks === 20) {
        last = performance.now();
        work();
      } else if (ticks > 20) {
        longest = Math.max(longest, now - last);
        last = now;
        if (pick !== undefined) {
          const e = pick();
          picks++;
          picked.set(e?.id, (picked.get(e?.id) ?? 0) + 1);
        }
        if (done()) return resolve();
      }
      setTimeout(tick, 0);
    };
    setTimeout(tick, 0);
  });
  h.disable();
  return { longestMs: Math.round(longest), loopDelayMaxMs: Math.round(h.max / 1e6), picks, picked };
}

let wrong = false;
const rows = [];
for (let run = 0; run < RUNS; run++) {
  const policy = resolvePolicy({
    balancer: { kind: 'maglev', maglevTableSize: SIZE },
    outlierDetection: { consecutiveFailures: 1, maxEjectionPercent: 50, baseEjectionMs: 600_000 },
  });
  const endpoints = ['e0', 'e1', 'e2', 'e3'].map((id, i) => endpoint(id, { v: i < 2 ? '1' : '2' }));
  const runtime = new ServiceRuntime('svc', { endpoints }, policy, {
    random: Math.random,
    clock: () => performance.now(),
    stats: new EndpointStatsMap(),
    zone: undefined,
  });
  let hash = 0;
  const ejection = await measure(
    () => runtime.outcome('e1', true),
    () => runtime.lb.describe()[0].healthy === 3,
    () => runtime.lb.pick({ hash: (hash = (hash + 2654435761) >>> 0) }),
  );
  if (ejection.picked.has('e1') || ejection.picked.has(undefined)) wrong = true;
  rows.push({ what: 'ejection', ...ejection, picked: Object.fromEntries(ejection.picked) });
  let subsetLb;
  const subset = await measure(
    () => (subsetLb = runtime.subsetLb({ v: '2' })),
    () =>
      runtime.subsetLb({ v: '2' }).describe !== undefined && runtime.subsetLb({ v: '2' }).describe()[0]?.total === 2,
    () => (subsetLb ?? runtime.subsetLb({ v: '2' })).pick({ hash: (hash = (hash + 2654435761) >>> 0) }),
  );
  if ([...subset.picked.keys()].some((id) => id !== 'e2' && id !== 'e3')) wrong = true;
  rows.push({ what: 'subset', ...subset, picked: Object.fromEntries(subset.picked) });
  runtime.close();
  const rings = new RingPublisher();
  const published = { endpoints, policy };
  const ack = () => rings.agrees('svc', policy.balancer, { version: 7, checksum: 'reported' });
  const checksum = await measure(
    () => {
      rings.attach('svc', published, undefined, 7);
      ack();
    },
    () => ack() !== undefined,
  );
  rows.push({ what: 'control-plane checksum', ...checksum, picked: {} });
}
for (const r of rows)
  console.log(
    `${r.what}: ${SIZE} slots, longest gap between 0 ms ticks ${r.longestMs} ms (loop delay max ${r.loopDelayMaxMs} ms)${r.picks > 0 ? `, ${r.picks} picks meanwhile ${JSON.stringify(r.picked)}` : ''}`,
  );
if (wrong) {
  console.log('a pick during the rebuild went to an ejected endpoint, outside the subset, or to nothing');
  process.exit(1);
}
console.log('smoke: every path answered');
