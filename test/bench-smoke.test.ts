import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT } from './harness/mesh.js';

// Every benchmark in bench/ runs here for about a second of load (its
// --smoke mode, as `npm run bench:smoke` runs it), as a real process on the
// built agent and control plane: a script that no longer starts, a path
// that fails a request or a proxy that is not installed fails the suite
// instead of breaking unseen. No timing is asserted.

/** The scripts that have a smoke mode, with the paths each must report as answered. */
const SMOKE_RUNS: Record<string, { answered: string[] }> = {
  'proxy-compare.mjs': {
    answered: [
      'direct',
      'agent',
      'agent-mtls',
      'mesh',
      'mesh-plain',
      'haproxy',
      'haproxy-tls',
      'nginx',
      'nginx-tls',
      'fastify',
      'h2-direct',
      'h2-haproxy',
      'h2-node',
      'h2-agent',
      'h2-mesh',
    ],
  },
  'proxy-overhead.mjs': { answered: ['direct', 'inbound', 'mesh'] },
  'scale.mjs': { answered: [] },
  'connection-flood.mjs': { answered: [] },
  'hash-rebuild.mjs': { answered: [] },
  'growth.mjs': { answered: ['requests-small', 'requests-large', 'deltas', 'rebuilds'] },
  'failover-compare.mjs': { answered: ['sentinel-tuned'] },
  'flame.mjs': { answered: [] },
  'micro.mjs': {
    answered: ['route-lookup', 'balancer-pick', 'header-rewrite', 'trace-context', 'metrics-update', 'authz'],
  },
  'agent-memory.mjs': { answered: ['inbound', 'table'] },
};
/** Servers that only run under another script, which smoke-tests them. */
const SERVED_BY: Record<string, string> = {
  'app-1k.mjs': 'proxy-compare.mjs',
  'fastify-proxy.mjs': 'proxy-compare.mjs',
};

/**
 * Each script runs detached, as the leader of a process group of its own
 * that its children (control planes, agents, etcd, proxies) join: whatever
 * it leaves behind, even after being killed, is found and killed by group.
 */
const groups = new Set<number>();

/** Sends `signal` to every process of group `pgid`, if any is left. */
function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // ESRCH: nothing left in the group
  }
}

afterAll(() => {
  for (const pgid of groups) signalGroup(pgid, 'SIGKILL');
});

/**
 * Runs `node bench/<script> --smoke` to its end, bounded: after `timeoutMs`
 * its group gets SIGINT (the script stops what it started and exits), and
 * SIGKILL `graceMs` later. When the script has exited, whatever is left in
 * its group is killed.
 */
async function smoke(
  script: string,
  timeoutMs = 90_000,
  graceMs = 10_000,
): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, [join(ROOT, 'bench', script), '--smoke'], {
    cwd: ROOT,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (chunk: Buffer) => {
    output += chunk.toString('utf8');
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const closed = once(child, 'close').catch(() => undefined);
  const pgid = child.pid;
  if (pgid === undefined) {
    const [err] = (await once(child, 'error')) as [Error];
    return { code: null, output: `could not start bench/${script}: ${err.message}` };
  }
  groups.add(pgid);
  let kill: NodeJS.Timeout | undefined;
  const timer = setTimeout(() => {
    signalGroup(pgid, 'SIGINT');
    kill = setTimeout(() => signalGroup(pgid, 'SIGKILL'), graceMs);
  }, timeoutMs);
  try {
    const [code] = (await once(child, 'exit')) as [number | null];
    signalGroup(pgid, 'SIGKILL'); // what is left now was orphaned
    await closed; // the rest of the output
    return { code, output };
  } finally {
    clearTimeout(timer);
    clearTimeout(kill);
  }
}

describe('bench/ smoke runs', () => {
  it('covers every script in bench/: a smoke mode, or a server run by a script that has one', () => {
    const scripts = readdirSync(join(ROOT, 'bench'))
      .filter((f) => f.endsWith('.mjs'))
      .sort();
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
