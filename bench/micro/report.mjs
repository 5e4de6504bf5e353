// How bench/micro.mjs shows its results: the table, the comparison of two
// runs (--compare), and the section of docs/benchmarks.md (--write).
import { readFileSync, writeFileSync } from 'node:fs';

const BEGIN = '<!-- micro:begin -->';
const END = '<!-- micro:end -->';

/** 1234567 -> "1.23 M", 12345 -> "12.3 k". */
export function rate(x) {
  if (x >= 1e6) return `${(x / 1e6).toFixed(x >= 1e8 ? 0 : x >= 1e7 ? 1 : 2)} M`;
  if (x >= 1e3) return `${(x / 1e3).toFixed(x >= 1e5 ? 0 : x >= 1e4 ? 1 : 2)} k`;
  return x.toFixed(0);
}

/** Nanoseconds with 3 significant digits at most. */
function ns(x) {
  return x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2);
}

/** Bytes per operation, or a dash when no run was free of GC. */
function bytes(x) {
  return x === undefined ? '—' : x < 1 ? '0' : x.toFixed(0);
}

/** Ratios between 1 / NOISE and NOISE are read as noise, whatever the spreads: runs of one build differ that much. */
export const NOISE = 1.15;

/** A result's key in a comparison: its group and case. */
const keyOf = (r) => `${r.group}: ${r.name}`;

/** The results as a Markdown table. */
export function table(results) {
  const lines = ['| piece | case | ops/s (median) | min – max | ns/op | heap B/op |', '|---|---|--:|--:|--:|--:|'];
  for (const r of results)
    lines.push(
      `| ${r.group} | ${r.name} | ${rate(r.opsPerSec)} | ${rate(r.min)} – ${rate(r.max)} | ${ns(r.nsPerOp)} | ${bytes(r.bytesPerOp)} |`,
    );
  return lines.join('\n');
}

/** Reads a run saved with --json. */
export function readRun(file) {
  const run = JSON.parse(readFileSync(file, 'utf8'));
  if (!Array.isArray(run?.results)) throw new Error(`${file} is not the output of node bench/micro.mjs --json`);
  return run;
}

/**
 * The cases of both runs side by side: ops/s before and after, their ratio
 * (after / before: above 1 is faster), and whether the difference is
 * noise: the two runs' batch spreads overlap, or the ratio is within
 * {@link NOISE} either way.
 */
export function comparison(before, after) {
  const old = new Map(before.results.map((r) => [keyOf(r), r]));
  const rows = [];
  for (const a of after.results) {
    const b = old.get(keyOf(a));
    if (b === undefined) continue;
    // Batch spreads are narrow (CPU time, see measure.mjs) but two runs of one build still differ by more.
    const ratio = a.opsPerSec / b.opsPerSec;
    const noise = (a.min <= b.max && b.min <= a.max) || (ratio > 1 / NOISE && ratio < NOISE);
    rows.push({
      group: a.group,
      name: a.name,
      before: b.opsPerSec,
      after: a.opsPerSec,
      ratio,
      bytesBefore: b.bytesPerOp,
      bytesAfter: a.bytesPerOp,
      noise,
    });
  }
  return rows;
}

/** A comparison as a Markdown table. */
export function comparisonTable(rows, labels = ['before', 'after']) {
  const lines = [
    `| piece | case | ops/s ${labels[0]} | ops/s ${labels[1]} | ratio | heap B/op | |`,
    '|---|---|--:|--:|--:|--:|---|',
  ];
  for (const r of rows)
    lines.push(
      `| ${r.group} | ${r.name} | ${rate(r.before)} | ${rate(r.after)} | ${r.ratio.toFixed(2)}x | ${bytes(r.bytesBefore)} → ${bytes(r.bytesAfter)} | ${r.noise ? 'noise' : r.ratio > 1 ? 'faster' : 'slower'} |`,
    );
  return lines.join('\n');
}

/** Replaces the text between the micro-benchmark markers of `file` with `text`. */
export function writeDoc(file, text) {
  const doc = readFileSync(file, 'utf8');
  const b = doc.indexOf(BEGIN);
  const e = doc.indexOf(END);
  if (b < 0 || e < b)
    throw new Error(`${file} has no ${BEGIN} ... ${END} block; add it to the Micro-benchmarks section and run again`);
  writeFileSync(file, `${doc.slice(0, b + BEGIN.length)}\n${text}\n${doc.slice(e)}`);
}
