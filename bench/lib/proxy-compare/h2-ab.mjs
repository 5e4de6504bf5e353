#!/usr/bin/env node
// Before/after for the HTTP/2 paths on a busy machine: two builds of the
// agent side by side, each with its own control plane, app and agents (the
// processes of processes.mjs and h2-paths.mjs), and h2load rounds that
// alternate between them (4 clients x 4 streams, as proxy-compare.mjs),
// so that both builds see the same load from the machine's other work.
// Prints each build's proxy CPU µs per request, per path and per agent.
//
// BEFORE is the root of a copy of the repository with the build to compare
// against: agent/dist and agent/package.json copied there, and
// node_modules, shared and control-plane linked to this repository's.
// AFTER is this repository. Not a benchmark of its own (no --smoke): the
// method behind the "HTTP/2 hop (issue 20)" figures in docs/benchmarks.md.
//
// usage: node bench/lib/proxy-compare/h2-ab.mjs --before DIR [--paths h2-agent,h2-mesh] [--rounds 4] [--seconds 3]
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { benchScratch, CLK_TCK } from '../process-group.mjs';
import { h2Paths } from './h2-paths.mjs';
import { proxyPaths } from './paths.mjs';

const { values } = parseArgs({
  options: {
    before: { type: 'string' },
    paths: { type: 'string', default: 'h2-agent,h2-mesh' },
    rounds: { type: 'string', default: '4' },
    seconds: { type: 'string', default: '3' },
  },
});
if (values.before === undefined) {
  process.stderr.write('usage: h2-ab.mjs --before DIR [--paths h2-agent,h2-mesh] [--rounds 4] [--seconds 3]\n');
  process.exit(2);
}
const bench = resolve(import.meta.dirname, '..', '..');
const roots = [resolve(values.before), resolve(bench, '..')];
const names = ['before', 'after'];
const paths = values.paths.split(',');
const rounds = Number(values.rounds);
const log = (s) => process.stderr.write(`${s}\n`);
const { group, dir, cleanup } = benchScratch('meshlet-h2-ab-', log);

/** utime + stime of `pid`, in clock ticks. */
const ticks = (pid) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(f[11]) + Number(f[12]);
};
const TICK_US = 1e6 / CLK_TCK;

try {
  const builds = [];
  for (const [i, root] of roots.entries()) {
    const d = join(dir, names[i]);
    mkdirSync(d);
    const { processes } = proxyPaths({ group, dir: d, root, bench, connections: 16 });
    const defs = h2Paths({ p: processes, group, dir: d, bench, root });
    const ready = {};
    for (const n of paths) ready[n] = await defs[n].setup();
    builds.push(ready);
  }
  const sums = builds.map(() => Object.fromEntries(paths.map((n) => [n, { n: 0, ticks: {} }])));
  const run = (b, name, seconds) => {
    const p = builds[b][name];
    const pids = p.proxies.flatMap((x) => x.pids().map((pid) => [x.label, pid]));
    const before = pids.map(([, pid]) => ticks(pid));
    const auth = p.authority ? ['-H', `:authority: ${p.authority}`] : [];
    const out = execFileSync('h2load', ['-c', '4', '-m', '4', '-D', seconds, ...auth, p.url], { encoding: 'utf8' });
    const s = sums[b][name];
    s.n += Number(/requests: (\d+) total/.exec(out)?.[1] ?? 0);
    pids.forEach(([label, pid], i) => (s.ticks[label] = (s.ticks[label] ?? 0) + ticks(pid) - before[i]));
  };
  for (const name of paths) for (const b of [0, 1]) run(b, name, '1'); // warm-up
  for (let k = 0; k < rounds; k++)
    for (const name of paths) for (const b of k % 2 ? [1, 0] : [0, 1]) run(b, name, values.seconds);
  for (const name of paths)
    for (const b of [0, 1]) {
      const s = sums[b][name];
      const us = (t) => ((t * TICK_US) / s.n).toFixed(1);
      const total = Object.values(s.ticks).reduce((x, y) => x + y, 0);
      const per = Object.entries(s.ticks).map(([label, t]) => `${label} ${us(t)}`);
      process.stdout.write(`${name} ${names[b]}: ${s.n} requests, ${us(total)} µs/req (${per.join(' + ')})\n`);
    }
} finally {
  await cleanup();
}
