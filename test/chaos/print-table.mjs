#!/usr/bin/env node
// Prints the figures the chaos scenarios recorded (test-results/chaos/*.json,
// written by test/chaos/lib/figures.ts) as one markdown table: what
// `npm run chaos` ends with, and what docs/reliability.md records.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = join(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '..', '..', 'test-results', 'chaos');
const rows = existsSync(dir)
  ? readdirSync(dir)
      .filter((f) => f.endsWith('.json'))
      .sort()
      .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')))
  : [];
if (rows.length === 0) {
  console.log(`no chaos figures in ${dir}: run the scenarios first (npm run chaos)`);
  process.exit(1);
}
const n = (v, digits = 1) => (v === undefined ? '' : Number(v).toFixed(digits));
console.log('| scenario | mode | requests | failed | detection s | recovery s | RSS before → after MB | note |');
console.log('|---|---|---|---|---|---|---|---|');
for (const f of rows) {
  const rss = f.rssBeforeMb === undefined ? '' : `${n(f.rssBeforeMb)} → ${n(f.rssAfterMb)}`;
  console.log(
    `| ${f.scenario} | ${f.mode} | ${f.requests} | ${f.failed} | ${n(f.detectionS)} | ${n(f.recoveryS)} | ${rss} | ${f.note ?? ''} |`,
  );
}
