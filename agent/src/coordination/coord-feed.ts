import type { CoordEvent, CoordKind, CoordReason, CoordState, Logger } from '@meshlet/shared';
import { type CoordClient, coordKey } from './coord-client.js';
import { type HeldLease, HeldLeases } from './held-leases.js';

/** What an app watching one lock is told (an SSE event each; long-polls and waiters read `state`). */
export type CoordNotice =
  | { type: 'state'; state: CoordState; reason?: CoordReason | undefined; by?: string | undefined }
  /** The lease this agent's app held under this name is gone: stop acting as the holder. */
  | { type: 'lost'; token: number; reason: CoordReason }
  /** The agent's stream dropped while the app holds this lease: it may lapse without the agent knowing. */
  | { type: 'doubt'; token: number; expiresAt: number }
  /** The stream is back; the lease is checked next (a `lost` follows if it is gone). */
  | { type: 'restored'; token: number };

/**
 * The changes of every lock and election the app watches through this agent,
 * fanned out to its listeners (SSE streams, long-polls, waiting acquires),
 * and the leases the app holds ({@link HeldLeases}): their holders are told
 * `lost`, `doubt` when the stream drops and `restored` when it is back (and
 * `lost`, `disconnected`, if it stays down past the control plane's
 * `disconnectGraceMs`: the control plane may have freed the lease). On a
 * new stream each held lease is read again (`get`): if its token is no longer
 * the holder's, `lost`; each watched lock too, so that a change missed while
 * away reaches its listeners.
 */
export class CoordFeed {
  readonly #client: CoordClient;
  readonly #log: Logger;
  readonly #clock: () => number;
  readonly #listeners = new Map<string, Set<(n: CoordNotice) => void>>();
  readonly #revisions = new Map<string, number>();
  /** Leases the app was told it lost while the stream was down: released when it is back (the store may keep them). */
  readonly #lostAway: HeldLease[] = [];
  readonly held: HeldLeases;

  constructor(client: CoordClient, clock: () => number, log: Logger) {
    this.#client = client;
    this.#log = log;
    this.#clock = clock;
    this.held = new HeldLeases(clock, (lease, reason) => this.#lost(lease, reason));
    client.onEvent((e) => this.#onEvent(e));
    client.onConnection((up) => (up ? this.#restored() : this.#doubt()));
  }

  /** Calls `listener` with every notice about this lock while watched; returns a function that stops it. */
  subscribe(kind: CoordKind, name: string, listener: (n: CoordNotice) => void): () => void {
    const key = coordKey(kind, name);
    let set = this.#listeners.get(key);
    if (set === undefined) this.#listeners.set(key, (set = new Set()));
    set.add(listener);
    const unwatch = this.#client.watch(kind, name);
    return () => {
      unwatch();
      set.delete(listener);
      if (set.size === 0) {
        this.#listeners.delete(key);
        this.#revisions.delete(key);
      }
    };
  }

  /** A state read or answered (a `get`, an acquire): passed on to the listeners if newer than the last they saw. */
  observe(state: CoordState): void {
    this.#emitState(state, undefined, undefined);
  }

  #emit(kind: CoordKind, name: string, notice: CoordNotice): void {
    for (const l of [...(this.#listeners.get(coordKey(kind, name)) ?? [])]) l(notice);
  }

  #emitState(state: CoordState, reason: CoordReason | undefined, by: string | undefined): void {
    const key = coordKey(state.kind, state.name);
    if (!this.#listeners.has(key)) return;
    if ((this.#revisions.get(key) ?? -1) >= state.revision) return;
    this.#revisions.set(key, state.revision);
    this.#emit(state.kind, state.name, { type: 'state', state, reason, by });
  }

  #onEvent(e: CoordEvent): void {
    if (e.lost !== undefined) this.held.lose(e.state.kind, e.state.name, e.lost, e.reason);
    // A new holder under this name with another token: the lease held here is gone too, whatever the event says.
    const mine = this.held.get(e.state.kind, e.state.name);
    // (Only a change after the grant counts: an older event may still be on its way when the grant's answer lands.)
    if (mine !== undefined && e.state.revision > mine.token && e.state.token !== mine.token)
      this.held.lose(mine.kind, mine.name, mine.token, e.reason === 'acquired' ? 'expired' : e.reason);
    this.#emitState(e.state, e.reason, e.by);
  }

  #lost(lease: HeldLease, reason: CoordReason): void {
    this.#log.warn({ kind: lease.kind, name: lease.name, token: lease.token, reason }, 'the app lost a lease it held');
    this.#emit(lease.kind, lease.name, { type: 'lost', token: lease.token, reason });
    if (!this.#client.connected) this.#lostAway.push(lease);
  }

  #doubt(): void {
    for (const l of this.held.all())
      this.#emit(l.kind, l.name, { type: 'doubt', token: l.token, expiresAt: l.expiresAt });
    // Counted from when the drop was noticed: the control client keeps no time of the last message it received.
    this.held.away(this.#clock());
  }

  #restored(): void {
    this.held.back();
    // Lost as the agent counted it while away (expired, or away past the grace): the control plane may still hold
    // it (a restarted one gives holders a grace of its own), and nobody will renew it: give it back now.
    for (const l of this.#lostAway.splice(0))
      this.#client.request({ op: 'release', kind: l.kind, name: l.name, token: l.token }).then(
        () => undefined,
        () => undefined, // dropped again: it lapses with its TTL
      );
    for (const l of this.held.all()) {
      this.#emit(l.kind, l.name, { type: 'restored', token: l.token });
      this.#client.request({ op: 'get', kind: l.kind, name: l.name }).then(
        ({ result }) => {
          if (!result.ok || result.state === undefined) return;
          if (result.state.token !== l.token) this.held.lose(l.kind, l.name, l.token, 'disconnected');
          this.observe(result.state);
        },
        () => undefined, // dropped again: the next stream checks again
      );
    }
    for (const key of this.#listeners.keys()) {
      const [kind, name] = splitKey(key);
      if (this.held.get(kind, name) !== undefined) continue; // read just above
      this.#client.request({ op: 'get', kind, name }).then(
        ({ result }) => {
          if (result.ok && result.state !== undefined) this.observe(result.state);
        },
        () => undefined,
      );
    }
  }
}

function splitKey(key: string): [CoordKind, string] {
  const slash = key.indexOf('/');
  return [key.slice(0, slash) as CoordKind, key.slice(slash + 1)];
}
