// The parent's side of bench/lib/agent-swarm.mjs: starts --procs swarm
// processes that share the simulated agents out between them, and talks to
// them over their IPC channels. Every request has a deadline, so a stuck
// child fails the run instead of hanging it.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SWARM = join(dirname(fileURLToPath(import.meta.url)), 'agent-swarm.mjs');

/** Swarm processes started in a {@link ProcessGroup} (bench/lib/process-group.mjs), which stops them. */
export class SwarmGroup {
  #children = [];
  #nextId = 1;
  #pending = new Map();
  #eventListeners = new Set();

  /**
   * Starts `procs` children for agents 0..agents-1 in contiguous ranges.
   * `connectBatch` connection attempts are in flight at most, over all children.
   * `streamUrls` (instead of `streamUrl`): one URL per control-plane replica;
   * agent i connects to `streamUrls[i % streamUrls.length]`. `credentialsFile`: JSON
   * `{ [service]: join credential }` (bench/lib/join-credentials.mjs).
   */
  constructor(
    group,
    {
      streamUrl,
      streamUrls,
      credentialsFile,
      agents,
      seed,
      procs,
      observations,
      connectBatch,
      heartbeatMs = 1000,
      cwd,
    },
  ) {
    const urls = streamUrls ?? [streamUrl];
    if (urls.length === 0 || urls.some((u) => typeof u !== 'string' || u.length === 0 || u.includes(',')))
      throw new Error(`SwarmGroup: bad stream URLs ${JSON.stringify(urls)}`);
    this.streamUrls = urls;
    const per = Math.ceil(agents / procs);
    for (let p = 0; p < procs; p++) {
      const from = p * per;
      const to = Math.min(agents, from + per);
      if (from >= to) break;
      const args = [
        SWARM,
        '--stream',
        urls.join(','),
        '--agents',
        String(agents),
        '--seed',
        String(seed),
        '--from',
        String(from),
        '--to',
        String(to),
        '--observations',
        observations ? 'on' : 'off',
        '--concurrency',
        String(Math.max(1, Math.ceil(connectBatch / procs))),
        '--heartbeat-ms',
        String(heartbeatMs),
        ...(credentialsFile ? ['--credentials', credentialsFile] : []),
      ];
      const child = group.start(`agent swarm ${p + 1} (agents ${from}..${to - 1})`, process.execPath, args, {
        cwd,
        stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      });
      child.range = { from, to };
      child.on('message', (m) => this.#onMessage(child, m));
      child.on('exit', () => {
        for (const [id, p] of this.#pending) {
          if (p.child !== child) continue;
          this.#pending.delete(id);
          clearTimeout(p.timer);
          p.reject(
            new Error(
              `${child.name} exited while asked to ${p.op}; its output ended with:\n${child.tail() || '(nothing)'}`,
            ),
          );
        }
      });
      this.#children.push(child);
    }
  }

  /** The number of swarm processes. */
  get size() {
    return this.#children.length;
  }

  #onMessage(child, m) {
    if (m.event) {
      for (const l of this.#eventListeners) l(child, m);
      return;
    }
    const p = this.#pending.get(m.re);
    if (!p) return;
    this.#pending.delete(m.re);
    clearTimeout(p.timer);
    if (m.error) p.reject(new Error(`${child.name}: ${p.op}: ${m.error}`));
    else p.resolve(m);
  }

  /** Sends `{ op, ...args }` to one child; resolves with its answer, rejects after `timeoutMs`. */
  ask(child, op, args = {}, timeoutMs = 30_000) {
    return new Promise((resolve, reject) => {
      const id = this.#nextId++;
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`${child.name} did not answer "${op}" within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(id, { child, op, resolve, reject, timer });
      child.send({ id, op, ...args });
    });
  }

  /** {@link ask} every child; resolves with their answers in order. */
  all(op, args = {}, timeoutMs = 30_000) {
    return Promise.all(this.#children.map((c) => this.ask(c, op, args, timeoutMs)));
  }

  /** The child that plays agent `index`. */
  owner(index) {
    const c = this.#children.find((ch) => index >= ch.range.from && index < ch.range.to);
    if (!c) throw new Error(`no swarm process plays agent ${index}`);
    return c;
  }

  /** The index of the stream URL (the replica) agent `index` connects to. */
  replicaOf(index) {
    return index % this.streamUrls.length;
  }

  /** Calls `listener(child, message)` for every unsolicited `{ event }` message; returns the function that removes it. */
  onEvent(listener) {
    this.#eventListeners.add(listener);
    return () => this.#eventListeners.delete(listener);
  }

  /** Asks every child to close its sockets and exit (the process group kills what does not). */
  async stop() {
    await Promise.allSettled(this.#children.filter((c) => c.connected).map((c) => this.ask(c, 'stop', {}, 5000)));
  }
}
