import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { ROOT } from './mesh.js';

/** The built meshctl binary. */
export const MESHCTL = join(ROOT, 'cli', 'dist', 'main.js');

/** What one meshctl run did. */
export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The environment of a run: no MESHCTL_* or colour settings of the person running the tests, and a home without a config. */
export function cleanEnv(home: string, extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env))
    if (!k.startsWith('MESHCTL_') && k !== 'NO_COLOR' && k !== 'XDG_CONFIG_HOME') env[k] = v;
  return { ...env, HOME: home, ...extra };
}

/** Runs `node cli/dist/main.js ARGS` to its end (killed after 30 s), with `env` added to a clean environment and `stdin` as its input. */
export async function meshctl(
  args: string[],
  o: { env: Record<string, string>; home: string; stdin?: string },
): Promise<Run> {
  const child = spawn(process.execPath, [MESHCTL, ...args], {
    env: cleanEnv(o.home, o.env),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  child.stdin.end(o.stdin ?? '');
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);
  return { code, stdout, stderr };
}

/** A row of a table printed to a pipe: its cells. */
export function rowOf(table: string, first: string): string[] | undefined {
  return table
    .split('\n')
    .map((l) => l.split(/ {3,}/))
    .find((cells) => cells[0] === first);
}
