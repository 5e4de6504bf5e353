// The processes a benchmark starts, and their CPU time from /proc.
//
// The tests' Proc (@meshlet/test-harness/process) is one process whose whole
// output a test asserts on; a benchmark needs a set of them with a shared
// end (on error, exit and SIGINT), a bounded tail and /proc readings. A Proc
// started by the shared harness (etcd members) joins a group with `add`.
//
// Every child is remembered so that it is stopped at the end, on an error and
// on SIGINT: SIGTERM first, SIGKILL for what is still alive after a grace
// period. Output is drained (a full pipe would stall the child) and its tail
// kept, so a process that dies early can say why.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const TAIL_BYTES = 4096;

/** Clock ticks per second of the utime/stime fields in /proc/PID/stat (USER_HZ, almost always 100). */
export const CLK_TCK = (() => {
  try {
    const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return Number.isInteger(n) && n > 0 ? n : 100;
  } catch {
    return 100;
  }
})();

/** The fields of /proc/PID/stat after the command name (which may itself hold spaces or parentheses). */
function statFields(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** CPU seconds (user + system) the process `pid` has used so far. */
export function cpuSeconds(pid) {
  const f = statFields(pid);
  return (Number(f[11]) + Number(f[12])) / CLK_TCK; // utime, stime (fields 14 and 15 of stat)
}

/** CPU seconds used so far by each child (by pid), 0 for one that is gone. */
export function cpuOf(children) {
  return children.map((c) => {
    try {
      return cpuSeconds(c.pid);
    } catch {
      return 0;
    }
  });
}

/** Pids whose parent is `pid` (found by scanning /proc, which needs no kernel option). */
export function childPids(pid) {
  const out = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (Number(statFields(name)[1]) === pid) out.push(Number(name));
    } catch {
      // exited while we looked
    }
  }
  return out;
}

/** The command name of `pid`, or undefined if it is gone. */
function commOf(pid) {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** A set of child processes stopped together. */
export class ProcessGroup {
  #children = [];
  #procs = [];
  #extra = [];
  #stopping = false;

  /**
   * Starts `command args` with its output kept (tail only). The returned
   * child has `name` and `tail()`.
   */
  start(name, command, args, options = {}) {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
    let tail = '';
    const keep = (chunk) => {
      tail = (tail + chunk.toString('utf8')).slice(-TAIL_BYTES);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.on('error', (err) => keep(`\n[spawn error] ${err.message}\n`));
    child.name = name;
    child.tail = () => tail.trim();
    child.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    this.#children.push(child);
    return child;
  }

  /**
   * Also stops `proc` (a Proc of @meshlet/test-harness/process, such as an
   * etcd member the shared harness started) with the rest of the group, by
   * `signal` (SIGKILL for a process whose state is thrown away with the run).
   */
  add(proc, signal = 'SIGTERM') {
    this.#procs.push({ proc, signal });
  }

  /**
   * Also stops `pid` at the end (a process a child forked, such as an nginx
   * worker), if it still runs under the command name `comm` — the name check
   * keeps a recycled pid from being signalled.
   */
  adopt(pid, comm) {
    this.#extra.push({ pid, comm });
  }

  /** Throws, with the output tail, if a child has exited before being asked to. */
  assertAlive() {
    for (const c of this.#children) {
      if (c.exitCode !== null || c.signalCode !== null) {
        throw new Error(
          `${c.name} exited (code ${c.exitCode}, signal ${c.signalCode}) before the end of the run; its output ended with:\n${c.tail() || '(nothing)'}`,
        );
      }
    }
    for (const { proc: p } of this.#procs) {
      if (!p.running)
        throw new Error(
          `${p.name} exited before the end of the run; its output ended with:\n${p.output.slice(-TAIL_BYTES).trim() || '(nothing)'}`,
        );
    }
  }

  /**
   * SIGTERM to every child still running, SIGKILL after `graceMs` to what is
   * left; then the same to the added Procs. They go last because they are
   * what the children stand on (etcd under control-plane replicas, which
   * give up their lease as they stop).
   */
  async stopAll(graceMs = 3000) {
    if (this.#stopping) return;
    this.#stopping = true;
    const alive = this.#children.filter((c) => c.exitCode === null && c.signalCode === null && c.pid !== undefined);
    for (const c of alive) c.kill('SIGTERM');
    const timer = new Promise((r) => setTimeout(r, graceMs).unref());
    await Promise.race([Promise.all(alive.map((c) => c.exited)), timer]);
    for (const c of alive) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await Promise.all(this.#procs.map(({ proc, signal }) => proc.stop(signal, graceMs)));
    this.killExtraSync();
  }

  /** Last resort, synchronous (for process 'exit'): SIGKILL to whatever is still running. */
  killAllSync() {
    for (const c of this.#children)
      if (c.exitCode === null && c.signalCode === null && c.pid !== undefined) c.kill('SIGKILL');
    for (const { proc } of this.#procs) if (proc.running) proc.child.kill('SIGKILL');
    this.killExtraSync();
  }

  killExtraSync() {
    for (const { pid, comm } of this.#extra) {
      if (commOf(pid) !== comm) continue;
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}

/**
 * Cleans up whatever happens: on exit, SIGKILLs every process of `group()`
 * and removes `dir`; on the first SIGINT or SIGTERM, says so with `log` and
 * runs `stop()` (the graceful stop) before exiting 130; a second signal exits
 * at once, and the exit hook kills what is left. Returns `{ interrupted }`,
 * true once a signal came, for loops that should stop early.
 */
export function stopOnExit(group, dir, log, stop) {
  const state = { interrupted: false };
  process.on('exit', () => {
    group().killAllSync();
    rmSync(dir, { recursive: true, force: true });
  });
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.on(signal, () => {
      if (state.interrupted) process.exit(130);
      state.interrupted = true;
      log(`${signal}: stopping every process this benchmark started...`);
      stop().finally(() => process.exit(130));
    });
  }
  return state;
}

/**
 * What a benchmark that runs once needs around its processes: a fresh
 * temporary directory named after `prefix`, one {@link ProcessGroup}, a
 * `cleanup()` (stop every process gracefully, remove the directory; safe to
 * call twice), and {@link stopOnExit} wired to both. `exit.interrupted` says
 * a signal came.
 */
export function benchScratch(prefix, log) {
  const group = new ProcessGroup();
  const dir = mkdtempSync(join(tmpdir(), prefix));
  let cleaned = false;
  const cleanup = async () => {
    if (cleaned) return;
    cleaned = true;
    await group.stopAll();
    rmSync(dir, { recursive: true, force: true });
  };
  const exit = stopOnExit(() => group, dir, log, cleanup);
  return { group, dir, cleanup, exit };
}
