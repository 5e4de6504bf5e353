import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../../harness/mesh.js';
import type { Contender } from './coord-mesh.js';

/** Whether the long run is on (`npm run chaos:locks` sets `MESHLET_LOCKS_LONG=1`). */
export const LONG = process.env.MESHLET_LOCKS_LONG === '1';

/** How long the faults go on: 60 s in the suite (two rounds of the three faults), `MESHLET_LOCKS_MINUTES` (default 5) in the long run. */
export const RUN_MS = LONG ? Math.max(1, Number(process.env.MESHLET_LOCKS_MINUTES ?? 5)) * 60_000 : 60_000;

/** Each contender's history file, read now (an app may still be appending: a torn last line is dropped). */
export const historyText = (c: Contender): string => {
  try {
    return readFileSync(c.history, 'utf8');
  } catch {
    return '';
  }
};

/** Writes a run's figures to test-results/coordination/<name>.json and prints them. */
export function recordRun(name: string, figures: Record<string, unknown>): void {
  const dir = join(ROOT, 'test-results', 'coordination');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${name}.json`), `${JSON.stringify(figures, null, 2)}\n`);
  process.stdout.write(`coordination figures (${name}): ${JSON.stringify(figures)}\n`);
}

/** Runs `fn`; a failure gets the tail of every contender's history and app output appended, for the report. */
export async function withReport<T>(contenders: readonly Contender[], fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    const tails = contenders.map(
      (c) =>
        `--- ${c.id}: history\n${historyText(c).split('\n').slice(-6).join('\n')}\n--- ${c.id}: app output\n${c.app?.output.slice(-600) ?? ''}\n--- ${c.id}: agent output\n${c.agent?.output.slice(-800) ?? ''}`,
    );
    (e as Error).message += `\n${tails.join('\n')}`;
    throw e;
  }
}
