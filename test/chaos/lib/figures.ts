import { mkdirSync, writeFileSync } from 'node:fs';
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

/** A scenario's test timeout: the suite's two minutes, or half an hour for a long version (the soak runs 11 minutes). */
export const SCENARIO_TIMEOUT_MS = pick(120_000, 1_800_000);

/**
 * Records a scenario's figures (test-results/chaos/<scenario>.json, which
 * `test/chaos/print-table.mjs` turns into the chaos table) and prints them.
 */
export function record(f: ChaosFigures): void {
  mkdirSync(DIR, { recursive: true });
  writeFileSync(join(DIR, `${f.scenario.replace(/[^a-z0-9]+/gi, '-')}.json`), `${JSON.stringify(f, null, 2)}\n`);
  process.stdout.write(`chaos figures: ${JSON.stringify(f)}\n`);
}
