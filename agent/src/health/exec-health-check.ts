import { spawn } from 'node:child_process';
import type { InstanceRole } from '@meshlet/shared';
import type { HealthCheck, ProbeResult } from './health-check.js';

/** How much of the program's stdout and stderr is kept each (the rest is read and dropped). */
export const EXEC_OUTPUT_BYTES = 4096;
/** How much of the output a probe's detail quotes. */
const DETAIL_CHARS = 200;

/**
 * The environment an exec check runs with: not the agent's (which may hold
 * its join token or a database password), only `PATH` (the agent's, to find
 * the program), `LANG=C`, and what names the instance: `MESHLET_SERVICE`,
 * `MESHLET_INSTANCE_ID`, `MESHLET_APP_HOST`, `MESHLET_APP_PORT`.
 */
export function execCheckEnv(
  agentEnv: NodeJS.ProcessEnv,
  instance: { service: string; id?: string | undefined; app: { host: string; port: number } },
): Record<string, string> {
  return {
    PATH: agentEnv.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    LANG: 'C',
    MESHLET_SERVICE: instance.service,
    ...(instance.id !== undefined ? { MESHLET_INSTANCE_ID: instance.id } : {}),
    MESHLET_APP_HOST: instance.app.host,
    MESHLET_APP_PORT: String(instance.app.port),
  };
}

/** The role (and offset) an exec check's stdout names: first word `primary` or `replica`, then an optional integer. */
export function parseExecOutput(stdout: string): { role?: InstanceRole; replicationOffset?: number } {
  const [first, second] = stdout.trim().split(/\s+/, 2);
  const word = first?.toLowerCase();
  if (word !== 'primary' && word !== 'replica') return {};
  const offset = second !== undefined && /^\d{1,16}$/.test(second) ? Number(second) : undefined;
  return offset !== undefined && Number.isSafeInteger(offset)
    ? { role: word, replicationOffset: offset }
    : { role: word };
}

function printable(text: string): string {
  const flat = text.replace(/[^\x20-\x7e]+/g, ' ').trim();
  return flat.length > DETAIL_CHARS ? `${flat.slice(0, DETAIL_CHARS)}...` : flat;
}

/**
 * Runs a program (argv, no shell, as Consul's script checks with `args`):
 * exit status 0 passes; the first word of its stdout, `primary` or
 * `replica`, is the role, and a second word that is an integer the
 * replication offset. It is killed (its whole process group, SIGKILL) at
 * the timeout. Its output is read to the end but only the first
 * {@link EXEC_OUTPUT_BYTES} of each stream are kept, so a program that
 * floods its stdout costs the agent no memory.
 */
export class ExecHealthCheck implements HealthCheck {
  readonly #argv: readonly string[];
  readonly #timeoutMs: number;
  readonly #env: Record<string, string>;

  constructor(argv: readonly string[], timeoutMs: number, env: Record<string, string>) {
    if (argv.length === 0) throw new Error('an exec check needs a command');
    this.#argv = argv;
    this.#timeoutMs = timeoutMs;
    this.#env = env;
  }

  probe(): Promise<ProbeResult> {
    const [program, ...args] = this.#argv as [string, ...string[]];
    const what = `exec ${program}`;
    return new Promise((resolve) => {
      const out = { stdout: '', stderr: '' };
      let stdoutBytes = 0;
      let settled = false;
      let timedOut = false;
      const child = spawn(program, args, {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: this.#env,
        shell: false,
        // Its own process group: the timeout kills what it started too.
        detached: true,
      });
      const killGroup = () => {
        try {
          if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
        } catch {
          child.kill('SIGKILL');
        }
      };
      const floodNote = () =>
        stdoutBytes > EXEC_OUTPUT_BYTES
          ? ` (stdout ${stdoutBytes} characters, the first ${EXEC_OUTPUT_BYTES} kept)`
          : '';
      const finish = (result: ProbeResult) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(result);
      };
      // At the deadline the probe ends, whatever holds the program's output open: a process it started in a session
      // of its own (setsid, a daemon) is out of its group, survives the kill and keeps the pipes, so 'close' may never
      // come. The pipes are destroyed and the probe fails.
      const timer = setTimeout(() => {
        timedOut = true;
        killGroup();
        child.stdout?.destroy();
        child.stderr?.destroy();
        const exited = child.exitCode !== null;
        finish({
          ok: false,
          detail: exited
            ? `${what} exited ${child.exitCode}, but its output was still held open ${this.#timeoutMs} ms later (a process it started outside its process group, such as one in a new session, keeps it)`
            : `${what} killed: no exit within ${this.#timeoutMs} ms${floodNote()}`,
        });
      }, this.#timeoutMs);
      for (const name of ['stdout', 'stderr'] as const) {
        child[name]?.setEncoding('utf8');
        child[name]?.on('data', (chunk: string) => {
          if (name === 'stdout') stdoutBytes += chunk.length;
          if (out[name].length < EXEC_OUTPUT_BYTES) out[name] += chunk.slice(0, EXEC_OUTPUT_BYTES - out[name].length);
        });
      }
      // What it left running in its group (a background process holding the pipes) goes with it: the probe ends
      // when the program does, and nothing a check started outlives it.
      child.once('exit', () => {
        try {
          if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
        } catch {
          // the group is empty
        }
      });
      child.once('error', (e: Error & { code?: string }) =>
        finish({ ok: false, detail: `${what} could not run: ${e.code ?? e.message}` }),
      );
      child.once('close', (code, signal) => {
        const flood = floodNote();
        if (timedOut)
          return finish({ ok: false, detail: `${what} killed: no exit within ${this.#timeoutMs} ms${flood}` });
        if (code !== 0) {
          const said = printable(out.stderr || out.stdout);
          return finish({
            ok: false,
            detail: `${what} ${signal ? `killed by ${signal}` : `exited ${code}`}${said ? `: ${said}` : ''}`,
          });
        }
        const parsed = parseExecOutput(out.stdout);
        const said = printable(out.stdout);
        finish({ ok: true, detail: `${what} exited 0${said ? `: ${said}` : ''}${flood}`, ...parsed });
      });
    });
  }
}
