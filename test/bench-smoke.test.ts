import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT } from './harness/mesh.js';
import { killAll, Proc } from './harness/process.js';

// Every benchmark in bench/ runs here for about a second of load (its
// --smoke mode, as `npm run bench:smoke` runs it), as a real process on the
// built agent and control plane: a script that no longer starts, a path
// that fails a request or a proxy that is not installed fails the suite
// instead of breaking unseen. No timing is asserted.

/** The scripts that have a smoke mode, with the paths each must report as answered. */
const SMOKE_RUNS: Record<string, { answered: string[] }> = {
  'proxy-compare.mjs': { answered: ['direct', 'agent', 'mesh', 'haproxy', 'nginx', 'fastify'] },
  'proxy-overhead.mjs': { answered: ['direct', 'inbound', 'mesh'] },
  'scale.mjs': { answered: [] },
};
/** Servers that only run under another script, which smoke-tests them. */
const SERVED_BY: Record<string, string> = {
  'app-1k.mjs': 'proxy-compare.mjs',
  'fastify-proxy.mjs': 'proxy-compare.mjs',
};

afterAll(async () => {
  await killAll();
});

/** Runs `node bench/<script> --smoke` to its end (bounded: it is killed after `timeoutMs`). */
async function smoke(script: string, timeoutMs = 90_000): Promise<{ code: number | null; output: string }> {
  const proc = new Proc(`bench/${script} --smoke`, process.execPath, [join(ROOT, 'bench', script), '--smoke'], { cwd: ROOT });
  const timer = setTimeout(() => void proc.stop('SIGINT'), timeoutMs);
  try {
    const { code } = await proc.exited();
    return { code, output: proc.output };
  } finally {
    clearTimeout(timer);
  }
}

describe('bench/ smoke runs', () => {
  it('covers every script in bench/: a smoke mode, or a server run by a script that has one', () => {
    const scripts = readdirSync(join(ROOT, 'bench')).filter((f) => f.endsWith('.mjs')).sort();
    const covered = scripts.filter((s) => s in SMOKE_RUNS || SMOKE_RUNS[SERVED_BY[s] ?? ''] !== undefined);
    expect(covered).toEqual(scripts);
  });

  for (const [script, { answered }] of Object.entries(SMOKE_RUNS)) {
    it(`${script} --smoke: every path answers, no error`, async () => {
      const { code, output } = await smoke(script);
      expect(code, `bench/${script} --smoke exited ${code}; its output ended with:\n${output.slice(-4_000)}`).toBe(0);
      expect(output).toMatch(/smoke: every path answered/);
      // "proxy-compare failed: ...", "N=10, 3 replicas failed: ..." (the progress lines say "0 failed,").
      expect(output).not.toMatch(/ failed: /);
      for (const path of answered) expect(output).toMatch(new RegExp(`every path answered \\(.*\\b${path}\\b`));
    });
  }
});
