import type { CommandConfig } from '@meshlet/shared';
import type { CommandOutcome, CommandRunner } from './run-command.js';

/**
 * The failover commands of one agent, run one at a time in the order asked
 * (a `demote` after a term lost during a slow `promote` starts when the
 * promote ended; a `rejoin` never overlaps either). {@link CommandQueue.stop}
 * kills the one running (its signal aborts) and starts none of those queued.
 */
export class CommandQueue {
  readonly #run: CommandRunner;
  #last: Promise<unknown> = Promise.resolve();
  readonly #stopping = new AbortController();

  constructor(run: CommandRunner) {
    this.#run = run;
  }

  /** Runs `command` after those queued before it. */
  run(
    what: 'promote' | 'demote' | 'rejoin',
    command: CommandConfig,
    env: Record<string, string>,
  ): Promise<CommandOutcome> {
    const signal = this.#stopping.signal;
    const out = this.#last.then(() =>
      signal.aborted ? { ok: false, detail: 'stopped: the agent is stopping' } : this.#run(what, command, env, signal),
    );
    this.#last = out.catch(() => undefined);
    return out;
  }

  /** The agent is stopping: kills the running command, starts no other. */
  stop(): void {
    this.#stopping.abort();
  }
}
