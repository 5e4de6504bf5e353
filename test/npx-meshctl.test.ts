import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT } from './harness/mesh.js';

// `npx meshctl` right after `npm ci` asked the registry (404): the bin
// pointed into cli/dist/, which no build had made yet, so npm linked nothing.
// As a new user does it: a fresh copy of the tree (tracked and unignored
// files, as a clone has them: no node_modules, no dist), `npm ci`, then npx.

describe('npx meshctl right after npm ci', () => {
  const dir = mkdtempSync(join(tmpdir(), 'meshlet-npx-'));

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('links node_modules/.bin/meshctl at install, and the first run builds meshctl and runs it', () => {
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
    expect(existsSync(join(dir, 'cli', 'dist'))).toBe(false);
    const ci = spawnSync('npm', ['ci', '--prefer-offline', '--no-audit', '--no-fund'], {
      cwd: dir,
      encoding: 'utf8',
      timeout: 300_000,
    });
    expect(ci.status, ci.stderr).toBe(0);
    // The Node versions package.json promises (test/node-engines.test.ts): no package refuses the one running this.
    expect(ci.stderr).not.toContain('EBADENGINE');

    const bin = join(dir, 'node_modules', '.bin', 'meshctl');
    expect(existsSync(bin), 'node_modules/.bin/meshctl after npm ci').toBe(true);
    expect(realpathSync(bin)).toBe(realpathSync(join(dir, 'cli', 'bin', 'meshctl.js')));

    // --no: never ask the registry; the local bin or a failure.
    const first = spawnSync('npx', ['--no', 'meshctl', 'version', '-o', 'json'], {
      cwd: dir,
      encoding: 'utf8',
      timeout: 180_000,
    });
    expect(first.status, first.stderr).toBe(0);
    expect(JSON.parse(first.stdout)).toEqual({ meshctl: '0.1.0', node: process.version });
    expect(first.stderr).toContain('meshctl: first run since install: building meshctl');
    expect(existsSync(join(dir, 'cli', 'dist', 'main.js'))).toBe(true);

    const again = spawnSync('npx', ['--no', 'meshctl', 'version'], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
    expect(again).toMatchObject({ status: 0, stderr: '', stdout: `meshctl 0.1.0 (node ${process.version})\n` });
  });

  it('says what to run when meshctl is not built and there is no compiler to build it', () => {
    // The bin as an install without dev dependencies has it: no dist/, no typescript beside it.
    const lone = join(dir, 'lone');
    mkdirSync(join(lone, 'cli', 'bin'), { recursive: true });
    cpSync(join(ROOT, 'cli', 'bin', 'meshctl.js'), join(lone, 'cli', 'bin', 'meshctl.js'));
    const r = spawnSync(process.execPath, [join(lone, 'cli', 'bin', 'meshctl.js'), 'version'], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(
      `meshctl: ${join(lone, 'cli', 'dist', 'main.js')} is missing and there is no TypeScript compiler to build it: run \`npm ci && npm run build\` in ${lone}\n`,
    );
  });
});
