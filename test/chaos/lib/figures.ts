import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../../harness/mesh.js';

/** What one chaos scenario measured: the columns of the chaos table. */
export interface ChaosFigures {
  scenario: string;
  /** `short` in the suite, `long` from `npm run chaos`. */
  mode: 'short' | 'long';
  requests: number;
  failed: number;
  /** From the fault to the mesh acting on it (marked unhealthy, traffic moved), seconds. */
  detectionS?: number;
  /** From the fault's end (or its detection) to normal service, seconds. */
  recoveryS?: number;
  /** RSS of the watched processes before and after, MB. */
  rssBeforeMb?: number;
  rssAfterMb?: number;
  /** Anything else the scenario measured, one short phrase. */
  note?: string;
}

const DIR = join(ROOT, 'test-results', 'chaos');

/** Whether the long versions run (`npm run chaos` sets `MESHLET_CHAOS_LONG=1`). */
export const LONG = process.env.MESHLET_CHAOS_LONG === '1';

/** `short` in the suite, `long` with {@link LONG}. */
export const pick = <T>(short: T, long: T): T => (LONG ? long : short);

/** Records a scenario's figures (test-results/chaos/<scenario>.json) and prints its row. */
export function record(f: ChaosFigures): void {
  mkdirSync(DIR, { recursive: true });
  writeFileSync(join(DIR, `${f.scenario.replace(/[^a-z0-9]+/gi, '-')}.json`), `${JSON.stringify(f, null, 2)}\n`);
  process.stdout.write(`${header()}\n${row(f)}\n`);
}

/** Every recorded scenario as one markdown table. */
export function table(): string {
  const rows = readdirSync(DIR)
    .filter((f) => f.endsWith('.json'))
    .map((f) => JSON.parse(readFileSync(join(DIR, f), 'utf8')) as ChaosFigures);
  return [header(), ...rows.map(row)].join('\n');
}

function header(): string {
  return [
    '| scenario | mode | requests | failed | detection s | recovery s | RSS before → after MB | note |',
    '|---|---|---|---|---|---|---|---|',
  ].join('\n');
}

function row(f: ChaosFigures): string {
  const n = (v: number | undefined, digits = 1) => (v === undefined ? '' : v.toFixed(digits));
  const rss = f.rssBeforeMb === undefined ? '' : `${n(f.rssBeforeMb)} → ${n(f.rssAfterMb)}`;
  return `| ${f.scenario} | ${f.mode} | ${f.requests} | ${f.failed} | ${n(f.detectionS)} | ${n(f.recoveryS)} | ${rss} | ${f.note ?? ''} |`;
}
