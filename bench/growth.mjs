#!/usr/bin/env node
// Does a request, a table delta or a hash-table rebuild cost more as the
// mesh grows? (issue 20, "cost flat as the mesh grows"; docs/benchmarks.md,
// "Growth"). Three parts, side by side in one run:
//
//   (a) requests  CPU µs per request of an agent's outbound listener with a
//                 table of 1 service of 3 endpoints against 1000 services, the
//                 called one of 300 endpoints (real agents, a real app at a
//                 loopback alias per endpoint; bench/lib/growth/request-cost.mjs)
//   (b) deltas    µs to apply one table delta (a health change) in a table of
//                 10 services against 1000, on the agent's own applier in
//                 process (bench/lib/growth/delta-apply.mjs)
//   (c) rebuilds  the longest event-loop block (monitorEventLoopDelay max and
//                 p99, and the longest gap between 0 ms ticks, wall and CPU)
//                 while a ring_hash or maglev table over 300 endpoints is
//                 rebuilt on an install, an ejection and a subset's first use
//                 (bench/lib/growth/rebuild-block.mjs; bench/hash-rebuild.mjs
//                 covers 4 endpoints)
//
// Targets: (a) large within 10% of small; (b) 1000 services no dearer than
// 10; (c) no block over 5 ms. Figures, not assertions: the process exits 1
// only when a request failed or a pick went where it must not.
//
// usage: node bench/growth.mjs [--duration 5] [--connections 16] [--rounds 4] [--deltas 400]
//                              [--parts requests,deltas,rebuilds] [--cpu-prof DIR] [--smoke]
//        --cpu-prof DIR: the agents of (a) write V8 CPU profiles (agent-small, agent-large) into DIR.
//        --smoke: 200 requests per agent, 1 round, 20 deltas, the small hash tables only.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { deltaCost } from './lib/growth/delta-apply.mjs';
import { rebuildBlocks } from './lib/growth/rebuild-block.mjs';
import { requestCost } from './lib/growth/request-cost.mjs';
import { benchScratch } from './lib/process-group.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '5' },
    connections: { type: 'string', default: '16' },
    rounds: { type: 'string', default: '4' },
    deltas: { type: 'string', default: '400' },
    parts: { type: 'string', default: 'requests,deltas,rebuilds' },
    smoke: { type: 'boolean', default: false },
    'cpu-prof': { type: 'string' },
  },
});
const smoke = values.smoke;
const parts = new Set(values.parts.split(','));
const log = (line) => process.stdout.write(`${line}\n`);
const f1 = (x) => x.toFixed(1);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ratio = (a, b) => `${(a / b).toFixed(2)}x`;
let wrong = false;
const answered = [];

log(`command: node bench/growth.mjs ${process.argv.slice(2).join(' ')}`.trim());

if (parts.has('requests')) {
  const { group, dir, cleanup } = benchScratch('meshlet-growth-', log);
  try {
    const agents = await requestCost({
      group,
      dir,
      root,
      sizes: [
        { name: 'small', services: 1, endpoints: 3 },
        { name: 'large', services: 1000, endpoints: 300 },
      ],
      connections: smoke ? 2 : Number(values.connections),
      seconds: Number(values.duration),
      amount: smoke ? 200 : undefined,
      warmup: smoke ? 0 : 1,
      rounds: smoke ? 1 : Number(values.rounds),
      cpuProfDir: values['cpu-prof'],
    });
    log('\n(a) requests through the outbound listener (agent CPU µs per request, per round; median)');
    log('| table | endpoints the app saw | µs/req per round | median µs/req | req/s (median) | errors |');
    log('|---|---|---|---|---|---|');
    for (const a of agents) {
      log(
        `| ${a.services} service(s), hello of ${a.endpoints} | ${a.seen} | ${a.us.map(f1).join(', ')} | ${f1(median(a.us))} | ${Math.round(median(a.rps))} | ${a.errors} |`,
      );
      if (a.errors > 0) wrong = true;
      else answered.push(`requests-${a.name}`);
    }
    const [small, large] = agents;
    log(`large / small: ${ratio(median(large.us), median(small.us))} (target: within 1.10x)`);
  } finally {
    await cleanup();
  }
}

if (parts.has('deltas')) {
  const deltas = smoke ? 20 : Number(values.deltas);
  const rows = [];
  for (const services of [10, 1000, 10, 1000]) rows.push(await deltaCost(services, { deltas, warmup: smoke ? 5 : 50 }));
  log(`\n(b) one table delta (a health change), in process; median of ${deltas}, runs alternate`);
  log(
    '| services | applier + route table + ring checksums µs (median) | p90 µs | Agent#install rest µs (agent.ts) | JSON of the table to persist µs |',
  );
  log('|---|---|---|---|---|');
  for (const r of rows)
    log(`| ${r.services} | ${f1(r.medianUs)} | ${f1(r.p90Us)} | ${f1(r.agentInstallUs)} | ${f1(r.persistUs)} |`);
  const of = (n) => median(rows.filter((r) => r.services === n).map((r) => r.medianUs));
  log(`1000 / 10 services: ${ratio(of(1000), of(10))} (target: 1.00x or less)`);
  answered.push('deltas');
}

if (parts.has('rebuilds')) {
  const balancers = smoke
    ? [
        { kind: 'ring_hash', ringMinSize: 1024 },
        { kind: 'maglev', maglevTableSize: 65537 },
      ]
    : [
        { kind: 'ring_hash', ringMinSize: 1024 },
        { kind: 'ring_hash', ringMinSize: 32768 },
        { kind: 'ring_hash', ringMinSize: 131072 },
        { kind: 'maglev', maglevTableSize: 65537 },
        { kind: 'maglev', maglevTableSize: 655373 },
      ];
  log(
    '\n(c) rebuilds of a hash table over 300 endpoints: longest event-loop block, ms (median of the runs after a first)',
  );
  log('| balancer | rebuild | loop delay max | loop delay p99 | longest tick gap (wall) | longest tick gap (CPU) |');
  log('|---|---|---|---|---|---|');
  // One run first, not reported (the code's first run compiles it); then the median of each figure over the runs.
  const runs = smoke ? 1 : 3;
  for (const b of balancers) {
    const all = [];
    for (let run = 0; run <= runs; run++) {
      const { rows, wrong: w } = await rebuildBlocks(b, 300);
      if (w) wrong = true;
      if (run > 0) all.push(rows);
    }
    const name = b.kind === 'maglev' ? `maglev ${b.maglevTableSize}` : `ring_hash ${b.ringMinSize}`;
    for (let i = 0; i < all[0].length; i++) {
      const m = (key) => f1(median(all.map((rows) => rows[i][key])));
      log(`| ${name} | ${all[0][i].what} | ${m('maxMs')} | ${m('p99Ms')} | ${m('longestMs')} | ${m('longestCpuMs')} |`);
    }
  }
  if (!wrong) answered.push('rebuilds');
}

if (wrong) {
  log('a request failed, or a pick during a rebuild went to an ejected endpoint, outside the subset, or to nothing');
  process.exit(1);
}
log(`\nsmoke: every path answered (${answered.join(', ')})`);
