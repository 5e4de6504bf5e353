import { createLogger } from '@meshlet/shared';
import { readFileSync, rmSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { until } from '../listener/test-support/loopback.js';
import { commandRunner, MAX_COMMAND_OUTPUT } from './run-command.js';

// Real child processes (node itself), as the agent runs the failover commands.

const node = process.execPath;
const lines: Array<Record<string, unknown>> = [];
const log = createLogger('test', 'debug', { write: (l: string) => lines.push(JSON.parse(l)) } as never);

describe('commandRunner', () => {
  it('runs argv without a shell, with the MESHLET_* environment; exit 0 is success', async () => {
    const run = commandRunner(createLogger('test', 'silent'));
    const out = await run(
      'promote',
      {
        command: [
          node,
          '-e',
          'process.exit(process.env.MESHLET_TERM === "7" && process.argv[1] === "$(x)" ? 0 : 3)',
          '$(x)',
        ],
        timeoutMs: 5000,
      },
      { MESHLET_SERVICE: 'pg', MESHLET_INSTANCE: 'pg-1', MESHLET_TERM: '7', MESHLET_PRIMARY: 'pg-1' },
    );
    expect(out).toEqual({ ok: true, detail: 'exit 0' });
  });

  it('a failing command, a missing program and one past its timeout are failures saying which', async () => {
    const run = commandRunner(createLogger('test', 'silent'));
    expect(await run('demote', { command: [node, '-e', 'process.exit(4)'], timeoutMs: 5000 }, {})).toEqual({
      ok: false,
      detail: 'exit 4',
    });
    expect((await run('demote', { command: ['/nonexistent/pg_ctl'], timeoutMs: 5000 }, {})).detail).toMatch(
      /could not start \/nonexistent\/pg_ctl: ENOENT/,
    );
    const slow = await run('rejoin', { command: [node, '-e', 'setTimeout(() => {}, 60000)'], timeoutMs: 300 }, {});
    expect(slow).toEqual({ ok: false, detail: 'killed after 300 ms (rejoin.timeoutMs)' });
  });

  it("never passes the agent's own MESHLET_* settings (its join token) to a command", async () => {
    process.env.MESHLET_CONTROL_PLANE_JOIN_TOKEN = 'join-secret';
    try {
      const run = commandRunner(createLogger('test', 'silent'));
      const probe =
        'process.exit(process.env.MESHLET_CONTROL_PLANE_JOIN_TOKEN === undefined && process.env.PATH ? 0 : 5)';
      expect(await run('promote', { command: [node, '-e', probe], timeoutMs: 5000 }, {})).toEqual({
        ok: true,
        detail: 'exit 0',
      });
    } finally {
      delete process.env.MESHLET_CONTROL_PLANE_JOIN_TOKEN;
    }
  });

  it('logs the output at debug only, cut to MAX_COMMAND_OUTPUT, never the environment', async () => {
    lines.length = 0;
    const run = commandRunner(log);
    await run(
      'promote',
      { command: [node, '-e', `process.stdout.write('x'.repeat(${MAX_COMMAND_OUTPUT * 3}))`], timeoutMs: 5000 },
      { MESHLET_TERM: '9', PGPASSWORD: 'secret-password' },
    );
    const line = lines.find((l) => l.msg === 'failover command output');
    expect(line?.level).toBe(20);
    expect((line?.stdout as string).length).toBe(MAX_COMMAND_OUTPUT);
    expect(JSON.stringify(lines)).not.toContain('secret-password');
  });

  it('a command still running when the agent stops (its signal aborted) is killed, not left behind', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'meshlet-cmd-'));
    try {
      const pidFile = join(dir, 'pid');
      const run = commandRunner(createLogger('test', 'silent'));
      const stop = new AbortController();
      const script = `require('fs').writeFileSync(${JSON.stringify(pidFile)}, String(process.pid)); setTimeout(() => {}, 60000)`;
      const out = run('promote', { command: [node, '-e', script], timeoutMs: 60_000 }, {}, stop.signal);
      await until(() => {
        try {
          return readFileSync(pidFile, 'utf8').length > 0;
        } catch {
          return false;
        }
      }, 'the command started');
      const pid = Number(readFileSync(pidFile, 'utf8'));
      stop.abort();
      expect(await out).toEqual({ ok: false, detail: 'stopped: the agent is stopping' });
      await until(() => {
        try {
          process.kill(pid, 0);
          return false;
        } catch {
          return true;
        }
      }, 'the child is gone');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
