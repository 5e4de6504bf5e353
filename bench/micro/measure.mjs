// The timing loop of the micro-benchmarks (bench/micro.mjs): operations per
// second as the median of batches, with the spread, and heap bytes
// allocated per operation.
//
// Written over process.hrtime.bigint() rather than taken from tinybench or
// mitata: tinybench (2.x, here through vitest) awaits and times every call on
// its own, a cost of tens of ns against operations of 5 to 500 ns; mitata
// batches as this does but would be a new dependency in bench/package.json
// and the lock file for about 60 lines.
import { GCProfiler, getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

// A full collection on demand, without --expose-gc on the command line: the
// flag set at run time exposes `gc` to contexts made afterwards.
setFlagsFromString('--expose-gc');
/** @type {() => void} */
const gc = runInNewContext('gc');

/**
 * The loop that calls `fn` `n` times and returns its last result. Each case
 * gets a loop compiled on its own, so that its call site sees one function
 * (monomorphic, inlinable) instead of every case's in turn.
 *
 * @param {(i: number) => unknown} fn
 * @returns {(n: number) => unknown}
 */
function loopOf(fn) {
  return new Function('fn', 'return function loop(n) { let r; for (let i = 0; i < n; i++) r = fn(i); return r; }')(fn);
}

/**
 * Nanoseconds that `loop(n)` takes: the lesser of the wall time and the
 * process's CPU time. On a shared machine a batch that lost the core to
 * another process only grows in wall time, one during which V8's helper
 * threads (concurrent marking, compilation) ran on the other core only in
 * CPU time; the lesser is the closer to the loop's own time.
 */
function timed(loop, n) {
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  loop(n);
  const wall = Number(process.hrtime.bigint() - t0);
  const c = process.cpuUsage(c0);
  return Math.min(wall, (c.user + c.system) * 1000);
}

/**
 * Heap bytes allocated per call of `loop`'s function: the heap in use after
 * n and after 2n calls, from a collected heap, in runs where no GC ran in
 * between (v8.GCProfiler says), so the difference is what the n more calls
 * allocated. Undefined when every try saw a GC.
 */
function allocated(loop, n) {
  for (let tries = 0; tries < 10; tries++, n = Math.max(1, n >> 1)) {
    const sizes = [];
    let collected = false;
    for (const k of [n, 2 * n]) {
      gc();
      const profiler = new GCProfiler();
      profiler.start();
      const before = getHeapStatistics().used_heap_size;
      loop(k);
      const after = getHeapStatistics().used_heap_size;
      if (profiler.stop().statistics.length > 0) collected = true;
      sizes.push(after - before);
    }
    if (!collected) return Math.max(0, (sizes[1] - sizes[0]) / n);
  }
  return undefined;
}

/**
 * Measures one case: warms it up for `warmupMs`, sizes a batch to last about
 * `batchMs`, times `batches` batches, then measures its allocation over
 * at most `allocOps` calls (fewer when a GC comes in between), the median
 * of `allocRepeats` estimates (default 1).
 *
 * @param {(i: number) => unknown} fn - one operation; `i` counts the calls
 * @param {{ warmupMs: number, batchMs: number, batches: number, allocOps: number, allocRepeats?: number }} o
 * @returns {{ opsPerSec: number, min: number, max: number, nsPerOp: number, bytesPerOp: number | undefined, ops: number, last: unknown }}
 */
export function measure(fn, o) {
  const loop = loopOf(fn);
  // Warm-up, which also finds how many calls fill a batch.
  let n = 1;
  const warmupEnd = process.hrtime.bigint() + BigInt(Math.round(o.warmupMs * 1e6));
  let ns = timed(loop, n);
  while (process.hrtime.bigint() < warmupEnd || ns < o.batchMs * 1e6 * 0.5) {
    n = ns < o.batchMs * 1e6 * 0.5 ? n * 2 : n;
    ns = timed(loop, n);
    if (n > 2 ** 30) break;
  }
  n = Math.max(1, Math.round((n * o.batchMs * 1e6) / Math.max(ns, 1)));
  const rates = [];
  let ops = 0;
  for (let b = 0; b < o.batches; b++) {
    rates.push((n * 1e9) / Math.max(timed(loop, n), 1));
    ops += n;
  }
  rates.sort((a, b) => a - b);
  const mid = rates.length >> 1;
  const median = rates.length % 2 ? rates[mid] : (rates[mid - 1] + rates[mid]) / 2;
  // The median of a few estimates: one in a full run now and then reads half as much again (incremental marking, a
  // pretenured allocation site), never less.
  const estimates = [];
  for (let k = 0; k < (o.allocRepeats ?? 1); k++) {
    const x = allocated(loop, Math.min(n, o.allocOps));
    if (x !== undefined) estimates.push(x);
  }
  estimates.sort((a, b) => a - b);
  const bytesPerOp = estimates.length === 0 ? undefined : estimates[estimates.length >> 1];
  return {
    opsPerSec: median,
    min: rates[0],
    max: rates[rates.length - 1],
    nsPerOp: 1e9 / median,
    bytesPerOp,
    ops,
    last: loop(1),
  };
}
