import { execFile } from 'node:child_process';
import type { CommandConfig, Logger } from '@meshlet/shared';

/** How a failover command ended: exit status 0, or why not. */
export interface CommandOutcome {
  ok: boolean;
  /** `exit 0`, `exit 3`, `killed after 30000 ms`, `could not start: ENOENT`. */
  detail: string;
}

/** Runs one of the failover commands (promote, demote, rejoin) with its environment; injected in tests. */
export type CommandRunner = (
  what: 'promote' | 'demote' | 'rejoin',
  command: CommandConfig,
  env: Record<string, string>,
  /** Aborted when the agent stops: a command still running is killed (SIGKILL). */
  signal?: AbortSignal,
) => Promise<CommandOutcome>;

/** The most of a command's output kept (each of stdout and stderr), for the debug log. */
export const MAX_COMMAND_OUTPUT = 4096;

/**
 * The agent's environment without its own settings (`MESHLET_*`, such as
 * `MESHLET_CONTROL_PLANE_JOIN_TOKEN`): a command needs PATH, HOME and its
 * database's variables (PGDATA, PGPASSWORD), never the agent's credentials.
 */
function inherited(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('MESHLET_')) env[k] = v;
  return env;
}

/**
 * Runs a failover command as `execFile` does: the program and its arguments
 * as given, no shell (nothing in a name or a term is ever interpreted), the
 * agent's environment less its own `MESHLET_*` settings, plus `env`
 * (MESHLET_SERVICE, MESHLET_INSTANCE, MESHLET_TERM, MESHLET_PRIMARY), killed (SIGKILL) after `timeoutMs` or when
 * `signal` aborts (the agent stops). Its
 * output is bounded and logged at debug only, cut to
 * {@link MAX_COMMAND_OUTPUT} characters (a command may print what it
 * connects with); the environment is never logged.
 */
export function commandRunner(log: Logger): CommandRunner {
  return (what, command, env, signal) =>
    new Promise((resolve) => {
      const [file = '', ...args] = command.command;
      execFile(
        file,
        args,
        {
          env: { ...inherited(), ...env },
          timeout: command.timeoutMs,
          killSignal: 'SIGKILL',
          maxBuffer: 1024 * 1024,
          windowsHide: true,
          ...(signal === undefined ? {} : { signal }),
        },
        (err, stdout, stderr) => {
          const out = String(stdout).slice(0, MAX_COMMAND_OUTPUT);
          const errOut = String(stderr).slice(0, MAX_COMMAND_OUTPUT);
          log.debug({ command: what, program: file, stdout: out, stderr: errOut }, 'failover command output');
          if (!err) return resolve({ ok: true, detail: 'exit 0' });
          const e = err as NodeJS.ErrnoException & { killed?: boolean; code?: number | string };
          if (signal?.aborted) return resolve({ ok: false, detail: 'stopped: the agent is stopping' });
          const detail = e.killed
            ? `killed after ${command.timeoutMs} ms (${what}.timeoutMs)`
            : typeof e.code === 'number'
              ? `exit ${e.code}`
              : `could not start ${file}: ${e.code ?? e.message}`;
          resolve({ ok: false, detail });
        },
      );
    });
}
