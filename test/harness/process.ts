import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';

/** A real child process started by a test, with its output kept for assertions and failure reports. */
export class Proc {
  readonly name: string;
  readonly child: ChildProcess;
  output = '';

  constructor(
    name: string,
    command: string,
    args: readonly string[],
    options: { env?: NodeJS.ProcessEnv; cwd?: string } = {},
  ) {
    this.name = name;
    this.child = spawn(command, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: options.env ?? process.env,
      cwd: options.cwd,
    });
    const keep = (chunk: Buffer) => {
      this.output += chunk.toString('utf8');
      if (this.output.length > 2_000_000) this.output = this.output.slice(-1_000_000);
      if (process.env.MESHLET_TEST_VERBOSE) process.stderr.write(`[${name}] ${chunk.toString('utf8')}`);
    };
    this.child.stdout?.on('data', keep);
    this.child.stderr?.on('data', keep);
    all.add(this);
    this.child.once('exit', () => all.delete(this));
  }

  /** The process id. */
  get pid(): number {
    return this.child.pid as number;
  }

  /** True until the process has exited. */
  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Resolves with the exit code (or signal) once the process has exited. */
  async exited(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (!this.running) return { code: this.child.exitCode, signal: this.child.signalCode };
    const [code, signal] = (await once(this.child, 'exit')) as [number | null, NodeJS.Signals | null];
    return { code, signal };
  }

  /** Sends a signal and waits for the exit; SIGKILL after `graceMs`. */
  async stop(
    signal: NodeJS.Signals = 'SIGTERM',
    graceMs = 5_000,
  ): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (!this.running) return this.exited();
    const done = this.exited();
    this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    try {
      return await done;
    } finally {
      clearTimeout(timer);
    }
  }
}

const all = new Set<Proc>();

/** Kills every process a test file started and has not stopped (call in afterAll). */
export async function killAll(): Promise<void> {
  await Promise.all([...all].map((p) => p.stop('SIGKILL')));
}
