import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { httpRequest } from './harness/http.js';
import { ROOT } from './harness/mesh.js';
import { Proc } from './harness/process.js';
import { waitFor } from './harness/wait.js';

/** Processes whose working directory is inside `dir`: what the demo started and left behind. */
function processesUnder(dir: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readlinkSync(`/proc/${entry}/cwd`).startsWith(dir)) pids.push(Number(entry));
    } catch {
      // gone, or not ours to read
    }
  }
  return pids;
}

function hasCurl(): boolean {
  return spawnSync('curl', ['--version']).status === 0;
}

// `npm ci && npm start` in a fresh copy of the tree (the tracked and
// unignored files, as a clone would have them, without node_modules or
// dist), then the README's curl, then SIGTERM and a check for orphans.
describe('npm start from a fresh copy', () => {
  const dir = mkdtempSync(join(tmpdir(), 'meshlet-fresh-'));
  let npm: Proc | undefined;

  afterAll(async () => {
    if (npm?.running) await npm.stop('SIGKILL');
    for (const pid of processesUnder(dir)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('brings the demo up, the README curl answers 200, and SIGTERM leaves no process behind', async () => {
    const files = execFileSync('git', ['ls-files', '-co', '--exclude-standard', '-z'], { cwd: ROOT, encoding: 'utf8' })
      .split('\0')
      .filter((f) => f && !f.startsWith('node_modules/'));
    for (const f of files) {
      mkdirSync(dirname(join(dir, f)), { recursive: true });
      try {
        cpSync(join(ROOT, f), join(dir, f));
      } catch {
        // listed by git but deleted in the work tree
      }
    }
    execFileSync('npm', ['ci', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'], {
      cwd: dir,
      stdio: 'pipe',
      timeout: 300_000,
    });

    npm = new Proc('npm-start', 'npm', ['start'], { cwd: dir });
    await waitFor(
      '"The mesh is up."',
      () => npm?.output.includes('The mesh is up.') || (!npm?.running && Promise.reject(new Error(npm?.output))),
      {
        timeoutMs: 90_000,
        intervalMs: 200,
      },
    );
    const readmeCurl = 'curl -x http://127.0.0.1:15001 http://hello/';
    expect(npm.output).toContain(readmeCurl);

    let body: string;
    if (hasCurl()) {
      const r = spawnSync(
        'curl',
        ['-sS', '-o', '-', '-w', '\n%{http_code}', '-x', 'http://127.0.0.1:15001', 'http://hello/'],
        { encoding: 'utf8', timeout: 10_000 },
      );
      const lines = r.stdout.trimEnd().split('\n');
      expect(lines.at(-1)).toBe('200');
      body = lines.slice(0, -1).join('\n');
    } else {
      const a = await httpRequest(15001, 'http://hello/');
      expect(a.status).toBe(200);
      body = a.body;
    }
    expect(JSON.parse(body)).toMatchObject({ service: 'hello' });
    expect((await httpRequest(15001, '/', { headers: { host: 'orders' } })).status).toBe(200);

    const started = processesUnder(dir);
    expect(started.length).toBeGreaterThanOrEqual(10);
    const exit = await npm.stop('SIGTERM', 15_000);
    expect(exit.signal === null || exit.signal === 'SIGTERM').toBe(true);
    await waitFor('every demo process to exit', () => processesUnder(dir).length === 0, { timeoutMs: 15_000 });
  });
});
