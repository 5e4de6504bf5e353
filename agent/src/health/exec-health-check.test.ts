import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EXEC_OUTPUT_BYTES, ExecHealthCheck, execCheckEnv, parseExecOutput } from './exec-health-check.js';

// Real programs, spawned without a shell.
const env = execCheckEnv(process.env, { service: 'pg', id: 'pg-1', app: { host: '127.0.0.1', port: 5432 } });
const check = (argv: string[], timeoutMs = 5_000) => new ExecHealthCheck(argv, timeoutMs, env);

describe('ExecHealthCheck', { timeout: 30_000 }, () => {
  it('passes on exit 0 and takes the role (and offset) from the first words of stdout', async () => {
    expect(await check(['/bin/echo', 'primary', '1234']).probe()).toEqual({
      ok: true,
      role: 'primary',
      replicationOffset: 1234,
      detail: 'exec /bin/echo exited 0: primary 1234',
    });
    expect(await check(['/bin/echo', 'Replica']).probe()).toMatchObject({ ok: true, role: 'replica' });
    const plain = await check(['/bin/echo', 'all good']).probe();
    expect(plain).toEqual({ ok: true, detail: 'exec /bin/echo exited 0: all good' });
  });

  it('fails on another exit status, quoting stderr', async () => {
    const r = await check(['/bin/sh', '-c', 'echo primary; echo "not ready" >&2; exit 3']).probe();
    expect(r).toEqual({ ok: false, detail: 'exec /bin/sh exited 3: not ready' });
  });

  it('runs without a shell: its arguments are not expanded', async () => {
    expect((await check(['/bin/echo', '$HOME', '*']).probe()).detail).toBe('exec /bin/echo exited 0: $HOME *');
  });

  it("passes only PATH, LANG and the instance's names in the environment, not the agent's", async () => {
    process.env.MESHLET_TEST_SECRET = 'hunter2';
    try {
      const agentEnv = { ...process.env, PATH: '/usr/bin:/bin' };
      const own = execCheckEnv(agentEnv, { service: 'pg', id: 'pg-1', app: { host: '127.0.0.1', port: 5432 } });
      const r = await new ExecHealthCheck(['/usr/bin/env'], 5_000, own).probe();
      expect(r.detail).not.toContain('hunter2');
      expect(r.detail).toContain('MESHLET_SERVICE=pg');
      expect(r.detail).toContain('MESHLET_APP_PORT=5432');
      expect(Object.keys(env).sort()).toEqual([
        'LANG',
        'MESHLET_APP_HOST',
        'MESHLET_APP_PORT',
        'MESHLET_INSTANCE_ID',
        'MESHLET_SERVICE',
        'PATH',
      ]);
    } finally {
      delete process.env.MESHLET_TEST_SECRET;
    }
  });

  it('kills the program (and what it started) at the timeout', async () => {
    const r = await check(['/bin/sh', '-c', 'sleep 30 & sleep 30'], 200).probe();
    expect(r).toEqual({ ok: false, detail: 'exec /bin/sh killed: no exit within 200 ms' });
  });

  it('ends when the program exits, killing what it left running in the background', async () => {
    const r = await check(['/bin/sh', '-c', 'sleep 30 & echo primary'], 20_000).probe();
    expect(r).toMatchObject({ ok: true, role: 'primary' });
  });

  it(
    'attack: a check whose program leaves a daemon holding its output (setsid, out of its process group): the probe still ends at its timeout',
    { timeout: 10_000 },
    async () => {
      const dir = await mkdtemp(join(tmpdir(), 'exec-check-'));
      const pidFile = join(dir, 'pid');
      // The daemon writes its pid once it is in a session of its own; the program waits for that, then exits 0.
      const script = `setsid /bin/sh -c 'echo $$ > ${pidFile}; exec sleep 30' & while [ ! -s ${pidFile} ]; do sleep 0.01; done; echo primary; exit 0`;
      try {
        const r = await check(['/bin/sh', '-c', script], 1000).probe();
        expect(r).toEqual({
          ok: false,
          detail:
            'exec /bin/sh exited 0, but its output was still held open 1000 ms later (a process it started outside its process group, such as one in a new session, keeps it)',
        });
      } finally {
        const pid = Number(await readFile(pidFile, 'utf8').catch(() => ''));
        if (pid > 0) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // gone already
          }
        }
        await rm(dir, { recursive: true, force: true });
      }
    },
  );

  it('fails when the program cannot run', async () => {
    expect(await check(['/nonexistent/check']).probe()).toEqual({
      ok: false,
      detail: 'exec /nonexistent/check could not run: ENOENT',
    });
  });

  it('an exec check whose program floods stdout: bounded, the agent stays up', async () => {
    // `yes` writes as fast as the pipe takes it, for ever: read and dropped past the bound, killed at the timeout.
    const before = process.memoryUsage().rss;
    const forever = await check(['/usr/bin/yes', 'primary'], 1_500).probe();
    expect(forever.ok).toBe(false);
    expect(forever.detail).toMatch(
      /^exec \/usr\/bin\/yes killed: no exit within 1500 ms \(stdout \d+ characters, the first 4096 kept\)$/,
    );
    const read = Number(/stdout (\d+) characters/.exec(forever.detail)?.[1]);
    expect(read).toBeGreaterThan(10 * EXEC_OUTPUT_BYTES);
    // 64 MiB then exit 0: passes, the role from the first word, the detail short.
    const big = await check(['/bin/sh', '-c', 'echo replica; head -c 67108864 /dev/zero']).probe();
    expect(big.ok).toBe(true);
    expect(big.role).toBe('replica');
    expect(big.detail.length).toBeLessThan(400);
    expect(process.memoryUsage().rss - before).toBeLessThan(256 * 1024 * 1024);
  });

  it('parses the role words', () => {
    expect(parseExecOutput('  primary\n')).toEqual({ role: 'primary' });
    expect(parseExecOutput('replica 99999999999999999999')).toEqual({ role: 'replica' });
    expect(parseExecOutput('master')).toEqual({});
    expect(parseExecOutput('')).toEqual({});
  });
});
