#!/usr/bin/env node
// Micro-benchmarks of the data path's hot pieces (issue 20), each called in
// a loop in this process through the functions and classes the agent
// exports from agent/dist (what runs, built): route lookup, a balancer pick
// of every kind, header rewrite, trace context, metrics update and the
// authorization decision. One file per piece under bench/micro/.
//
// Each case: a warm-up, then --batches batches of about --batch-ms each,
// each timed by the lesser of its wall and its CPU time (a batch that lost
// the core to another process is not counted slower); operations per
// second are the median of the batches, with the slowest and fastest batch
// beside it; ns/op is 1e9 / the median. --rounds N runs every case N
// times, rounds apart, and keeps each case's round with the highest median:
// other processes' load only ever slows a round down. Heap bytes per
// operation: the heap in use after n and after 2n calls from a collected
// heap, in runs where V8's GC profiler saw no collection (bench/micro/measure.mjs).
//
// usage: node bench/micro.mjs [--batches 21] [--batch-ms 20] [--warmup-ms 200] [--rounds 1] [--filter REGEX]
//                             [--json] [--compare before.json [--to after.json]]
//                             [--write [--doc docs/benchmarks.md]] [--smoke]
//
// --json: the results as JSON on stdout (progress goes to stderr), to keep
//   for a later --compare.
// --compare FILE: runs, then prints each case's ops/s beside FILE's and
//   their ratio (after / before; above 1 is faster), marked noise when the
//   two runs' batch spreads overlap or the ratio is within 1.15x either way;
//   with --to FILE2 compares the two files without running.
// --write: replaces the table between <!-- micro:begin --> and
//   <!-- micro:end --> in --doc.
// --smoke: every case for a few ms (3 batches of 0.5 ms, allocation over
//   100 calls), checking only that each ran, returned what a working agent
//   returns, and gave finite figures; for the test suite
//   (test/bench-smoke.test.ts). --write is refused with it.
import { cpus } from 'node:os';
import { execFileSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { measure } from './micro/measure.mjs';
import { comparison, comparisonTable, rate, readRun, table, writeDoc } from './micro/report.mjs';
import * as routeLookup from './micro/route-lookup.mjs';
import * as balancerPick from './micro/balancer-pick.mjs';
import * as headerRewrite from './micro/header-rewrite.mjs';
import * as traceContext from './micro/trace-context.mjs';
import * as metricsUpdate from './micro/metrics-update.mjs';
import * as authzDecision from './micro/authz-decision.mjs';

const PIECES = [routeLookup, balancerPick, headerRewrite, traceContext, metricsUpdate, authzDecision];
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

const { values } = parseArgs({
  options: {
    batches: { type: 'string', default: '21' },
    rounds: { type: 'string', default: '1' },
    'batch-ms': { type: 'string', default: '20' },
    'warmup-ms': { type: 'string', default: '200' },
    filter: { type: 'string' },
    json: { type: 'boolean', default: false },
    compare: { type: 'string' },
    to: { type: 'string' },
    write: { type: 'boolean', default: false },
    doc: { type: 'string', default: join(root, 'docs', 'benchmarks.md') },
    smoke: { type: 'boolean', default: false },
  },
});
const log = (line) => (values.json ? process.stderr : process.stdout).write(`${line}\n`);

function fail(message) {
  console.error(`micro failed: ${message}`);
  process.exit(1);
}

if (values.smoke && values.write) fail('--write is refused with --smoke: a smoke run measures nothing worth keeping');
if (values.filter !== undefined && values.write)
  fail('--write is refused with --filter: the table must list every case');
if (values.to !== undefined) {
  if (values.compare === undefined) fail('--to needs --compare');
  console.log(comparisonTable(comparison(readRun(values.compare), readRun(values.to))));
  process.exit(0);
}

const options = values.smoke
  ? { warmupMs: 1, batchMs: 0.5, batches: 3, allocOps: 100 }
  : {
      warmupMs: Number(values['warmup-ms']),
      batchMs: Number(values['batch-ms']),
      batches: Number(values.batches),
      allocOps: 2_000,
      allocRepeats: 3,
    };
const rounds = values.smoke ? 1 : Math.max(1, Number(values.rounds));
const filter = values.filter === undefined ? undefined : new RegExp(values.filter, 'i');

/** Figures a case that ran could give: finite, positive, the median within the spread. */
function sane(r) {
  return (
    r.ops > 0 &&
    Number.isFinite(r.opsPerSec) &&
    r.opsPerSec > 0 &&
    r.min <= r.opsPerSec &&
    r.opsPerSec <= r.max &&
    r.nsPerOp < 1e8 &&
    (r.bytesPerOp === undefined || (Number.isFinite(r.bytesPerOp) && r.bytesPerOp >= 0))
  );
}

/** Each case's result: from the round where its median was highest (others' load only ever slows a round). */
const best = new Map();
const ran = new Map();
for (let round = 0; round < rounds; round++) {
  // Allocation is measured in the first round only: it does not change with the load.
  const o = round === 0 ? options : { ...options, allocRepeats: 0 };
  for (const piece of PIECES) {
    const { list, close, verify } = piece.cases();
    try {
      let count = 0;
      for (const c of list) {
        const key = `${piece.group}: ${c.name}`;
        if (filter !== undefined && !filter.test(key)) continue;
        const r = measure(c.fn, o);
        if (!c.check(r.last)) fail(`${key} returned ${String(r.last)}, not what a working agent returns`);
        if (!sane(r)) fail(`${key} gave figures no run can give: ${JSON.stringify(r)}`);
        const { last: _last, ...figures } = r;
        const before = best.get(key);
        if (before === undefined || figures.opsPerSec > before.opsPerSec)
          best.set(key, {
            group: piece.group,
            name: c.name,
            ...figures,
            bytesPerOp: before?.bytesPerOp ?? r.bytesPerOp,
          });
        count++;
        log(
          `${rounds > 1 ? `round ${round + 1}: ` : ''}${key}: ${rate(r.opsPerSec)} ops/s (${rate(r.min)} – ${rate(r.max)}), ${r.nsPerOp.toFixed(1)} ns/op${round === 0 ? `, ${r.bytesPerOp === undefined ? '—' : r.bytesPerOp.toFixed(0)} B/op` : ''}`,
        );
      }
      if (count > 0) ran.set(piece.group, count);
      if (verify !== undefined && count > 0 && !(await verify()))
        fail(`${piece.group}: the cases ran but what they should have recorded is not there`);
    } finally {
      close();
    }
  }
}
const results = [...best.values()];
if (results.length === 0) fail(`no case matches --filter ${values.filter}`);

let commit;
try {
  commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim();
} catch {
  commit = undefined;
}
const run = {
  date: new Date().toISOString(),
  node: process.version,
  cpu: `${cpus()[0]?.model ?? 'unknown'} x ${cpus().length}`,
  commit,
  options: { ...options, rounds },
  results,
};
const compared = values.compare === undefined ? undefined : comparison(readRun(values.compare), run);

if (values.json) process.stdout.write(`${JSON.stringify(compared ? { ...run, compared } : run, null, 2)}\n`);
else {
  log('');
  log(table(results));
  if (compared) {
    log('');
    log(`compared with ${values.compare} (ratio: after / before ops/s; above 1 is faster):`);
    log(comparisonTable(compared));
  }
}
if (values.write) {
  const head = `Run ${run.date.slice(0, 16).replace('T', ' ')} UTC, commit ${commit ?? 'unknown'}, Node ${run.node}, ${run.cpu} (shared, noisy: compare runs, not single figures); \`node bench/micro.mjs${rounds > 1 ? ` --rounds ${rounds}` : ''} --write\`, ${options.batches} batches of ${options.batchMs} ms per case${rounds > 1 ? `, the best of ${rounds} rounds` : ''}.`;
  writeDoc(values.doc, `${head}\n\n${table(results)}`);
  log(`wrote the table to ${values.doc}`);
}
if (values.smoke) {
  const counts = [...ran].map(([g, n]) => `${g} ${n}`).join(', ');
  log(`smoke: every path answered (${counts})`);
}
process.exit(0);
