import type {
  Clock,
  Coord,
  CoordEvent,
  CoordKind,
  CoordReason,
  CoordResult,
  CoordState,
  Logger,
} from '@meshlet/shared';
import type { ControlPlaneMetrics } from '../metrics.js';
import { ReportLimiter } from '../stream/report-limiter.js';
import type { CoordIdentity, CoordPeer } from './coord-peer.js';
import { CoordRefusals } from './coord-refusals.js';
import { CoordCodes, coordFailure, coordState, describeHolder } from './coord-state.js';
import {
  coordKey,
  type HeldLock,
  type LockBackend,
  type LockChange,
  parseCoordKey,
  type ReleaseNote,
} from './lock-backend.js';
import { COORD_RATE, DEFAULT_TTL_MS, MAX_FREED_REMEMBERED, MAX_HELD_PER_SERVICE } from './coord-limits.js';
import { WatchSets } from './watch-sets.js';

/** A release this control plane made for a reason an operator should see (the event log). */
export interface CoordRelease {
  state: CoordState;
  reason: 'unhealthy' | 'disconnected' | 'forced';
  by?: string;
}

/** Options of {@link Coordinator}. */
export interface CoordinatorOptions {
  backend: LockBackend;
  /** The stream of an agent on this control plane, to tell a holder it lost its lock. */
  peerOf: (agentId: string) => CoordPeer | undefined;
  metrics: Pick<ControlPlaneMetrics, 'coordinationRequests' | 'locksHeld' | 'coordinationReleases'>;
  log: Logger;
  /** For the per-stream rate of requests ({@link COORD_RATE}). */
  clock: Clock;
  /** Told of each release this control plane made for an operator's or the health engine's reason. */
  released?: (release: CoordRelease) => void;
  /** `heartbeat.timeoutMs`: sent with every granted acquire and renew as `disconnectGraceMs`. */
  disconnectGraceMs?: number;
  /** Whether the health engine marks an instance unhealthy: its acquires with `releaseOnUnhealthy` are refused. */
  unhealthy?: (instanceId: string) => boolean;
  /** Why this instance may not acquire this name now (a managed service's failover election), or undefined. */
  refuseAcquire?: (at: { kind: CoordKind; service: string; name: string }, instanceId: string) => string | undefined;
  /** Told of every change announced (a new holder, or free with why), after the watchers. */
  changed?: (state: CoordState, reason: CoordReason) => void;
}

const sameHolder = (held: HeldLock, who: CoordIdentity) =>
  held.record.holder.agentId === who.agentId && held.record.holder.instanceId === who.instanceId;

/**
 * Serves the agents' `coord` requests on a {@link LockBackend} and tells
 * agents what changed. Every name is scoped to the asking stream's
 * authenticated service, and the holder is the asking stream's agent and
 * instance, whatever a message says: a `coord` message carries no holder and
 * no service. Renew and release need the token and the asker being the
 * holder. Every change (made here, by a lapse, or by another replica) goes
 * to the streams here that watch the lock, and a loss always goes to the
 * losing holder's agent (with `lost`), if it is connected here.
 */
export class Coordinator {
  readonly #backend: LockBackend;
  readonly #o: CoordinatorOptions;
  readonly #watches = new WatchSets<CoordPeer>();
  /** The holder each lock had when last announced, so that a change is announced once and the loser is known. */
  readonly #known = new Map<string, HeldLock>();
  /** The revision at which a free lock was last seen to change (the newest {@link MAX_FREED_REMEMBERED} names). */
  readonly #freedAt = new Map<string, number>();
  readonly #limiters = new WeakMap<CoordPeer, ReportLimiter>();
  /** How many names each service holds (from {@link #known}). */
  readonly #heldBy = new Map<string, number>();
  #unsubscribe: (() => void) | undefined;

  constructor(options: CoordinatorOptions) {
    this.#backend = options.backend;
    this.#o = options;
  }

  /** Opens the backend and starts following its changes. */
  async open(): Promise<void> {
    await this.#backend.open();
    for (const held of this.#backend.list('coord/')) this.#known.set(held.key, held);
    this.#count();
    this.#unsubscribe = this.#backend.onChange((c) => this.#changed(c));
  }

  async close(): Promise<void> {
    this.#unsubscribe?.();
    await this.#backend.close();
  }

  /** Serves one `coord` message of `peer` and answers it with a `coordResult`. */
  async request(peer: CoordPeer, msg: Coord): Promise<void> {
    let result: CoordResult;
    let limiter = this.#limiters.get(peer);
    if (!limiter) this.#limiters.set(peer, (limiter = new ReportLimiter(COORD_RATE, this.#o.clock)));
    try {
      result = limiter.tryTake() ? await this.#serve(peer, msg) : CoordRefusals.rate(msg.id);
    } catch (e) {
      this.#o.log.warn({ agentId: peer.coordIdentity.agentId, op: msg.op, err: e }, 'coordination request failed');
      const message = `the control plane's store could not ${msg.op} ${msg.kind} "${msg.name}": ${(e as Error).message}`;
      result = CoordRefusals.store(msg.id, message);
    }
    this.#o.metrics.coordinationRequests.inc({ op: msg.op, result: result.ok ? 'ok' : (result.code ?? 'error') });
    peer.sendCoord(result);
  }

  /** Forgets the watches of a stream that closed. */
  closed(peer: CoordPeer): void {
    this.#watches.dropPeer(peer);
  }

  /** Every lock (or election) held, optionally of one service, sorted by service and name. */
  list(kind: CoordKind, service?: string): CoordState[] {
    const prefix = service === undefined ? `coord/${kind}/` : `coord/${kind}/${service}/`;
    return this.#backend
      .list(prefix)
      .flatMap((held) => {
        const at = parseCoordKey(held.key);
        return at ? [coordState(at, held, 0)] : [];
      })
      .sort((a, b) => (a.service === b.service ? (a.name < b.name ? -1 : 1) : a.service < b.service ? -1 : 1));
  }

  /** Every lock held now as last announced, with its key, for the release triggers. */
  held(): HeldLock[] {
    return [...this.#known.values()];
  }

  /**
   * Frees a lock whatever its holder: an operator's forced release (`by`:
   * the operator's token name), or the release triggers (an unhealthy or
   * disconnected holder). Returns the state it had, or undefined when it was
   * free (or changed hands meanwhile).
   */
  async release(
    kind: CoordKind,
    service: string,
    name: string,
    note: ReleaseNote & { reason: CoordRelease['reason'] },
    token?: number,
  ): Promise<CoordState | undefined> {
    const key = coordKey(kind, service, name);
    const held = this.#backend.read(key);
    if (!held || (token !== undefined && held.token !== token)) return undefined;
    const before = coordState({ kind, service, name }, held, 0);
    const revision = await this.#backend.release(key, held.token, note);
    if (revision === undefined) return undefined;
    this.#changed({ key, now: undefined, revision, released: { token: held.token, ...note } });
    this.#o.released?.({ state: before, reason: note.reason, ...(note.by ? { by: note.by } : {}) });
    return before;
  }

  async #serve(peer: CoordPeer, msg: Coord): Promise<CoordResult> {
    const who = peer.coordIdentity;
    const { id, kind, name } = msg;
    const service = who.service;
    if (service === undefined) return CoordRefusals.noService(id, who.agentId);
    const at = { kind, service, name };
    const key = coordKey(kind, service, name);
    const state = () => coordState(at, this.#backend.read(key), this.#freedAt.get(key) ?? 0);
    const ok = (): CoordResult => ({ type: 'coordResult', id, ok: true, state: state() });
    // A holder's agent learns how long it may be away before its locks go (it tells its app `lost` by then).
    const grace = this.#o.disconnectGraceMs;
    const granted = (): CoordResult => ({ ...ok(), ...(grace === undefined ? {} : { disconnectGraceMs: grace }) });
    switch (msg.op) {
      case 'get':
        return ok();
      case 'watch':
        return this.#watches.add(key, peer) ? ok() : CoordRefusals.watches(id);
      case 'unwatch':
        this.#watches.remove(key, peer);
        return ok();
      case 'acquire': {
        const ttlMs = msg.ttlMs ?? DEFAULT_TTL_MS[kind];
        const holder = { agentId: who.agentId, instanceId: who.instanceId, ...(msg.label ? { label: msg.label } : {}) };
        const record = { holder, ttlMs, releaseOnUnhealthy: msg.releaseOnUnhealthy ?? true };
        // The release triggers would free it at once: the unhealthy instance must not win again and again.
        if (record.releaseOnUnhealthy && this.#o.unhealthy?.(who.instanceId))
          return CoordRefusals.unhealthy(id, who.instanceId, `${kind} "${name}"`, state());
        const refused = this.#backend.read(key) ? undefined : this.#o.refuseAcquire?.(at, who.instanceId);
        if (refused !== undefined) return CoordRefusals.notCandidate(id, refused, state());
        if (!this.#backend.read(key) && (this.#heldBy.get(service) ?? 0) >= MAX_HELD_PER_SERVICE)
          return CoordRefusals.heldPerService(id, service);
        const token = this.#backend.read(key) ? undefined : await this.#backend.acquire(key, record);
        if (token === undefined) {
          const now = state();
          return coordFailure(
            id,
            CoordCodes.HELD,
            `${kind} "${name}" of service ${service} is held by ${describeHolder(now)}`,
            now,
          );
        }
        this.#changed({ key, now: { key, record, token }, revision: token });
        return granted();
      }
      case 'renew':
      case 'release': {
        if (msg.token === undefined) return CoordRefusals.noToken(id, msg.op);
        const mirrored = this.#backend.read(key);
        // This replica's copy may lag a holder that acquired through another one a moment ago.
        const held = mirrored?.token === msg.token ? mirrored : await this.#backend.readLatest(key);
        const notHeld = (why: string) =>
          coordFailure(
            id,
            CoordCodes.NOT_HELD,
            `${kind} "${name}" of service ${service}: ${why}; acquire it again`,
            state(),
          );
        if (!held || held.token !== msg.token)
          return notHeld(`token ${msg.token} no longer holds it (held by ${describeHolder(state())})`);
        if (!sameHolder(held, who))
          return notHeld(`token ${msg.token} is held by another agent or instance, not by this one`);
        if (msg.op === 'release') {
          const revision = await this.#backend.release(key, held.token, { reason: 'released' });
          if (revision === undefined) return notHeld(`token ${msg.token} no longer holds it`);
          this.#changed({ key, now: undefined, revision, released: { token: held.token, reason: 'released' } });
          return ok();
        }
        const ttlMs = msg.ttlMs ?? held.record.ttlMs;
        if (ttlMs > held.record.ttlMs) return CoordRefusals.longerTtl(id, held.record.ttlMs, ttlMs, state());
        if (!(await this.#backend.renew(key, held.token, ttlMs)))
          return notHeld(`its lease of token ${msg.token} ran out`);
        return granted();
      }
    }
  }

  /** Announces a change once: to the watchers here, and a loss to the losing holder's agent. */
  #changed(change: LockChange): void {
    const { key, now } = change;
    const before = this.#known.get(key);
    if (before?.token === now?.token) return;
    if (now) {
      this.#known.set(key, now);
      this.#freedAt.delete(key);
    } else {
      this.#known.delete(key);
      this.#freeAt(key, change.revision);
    }
    this.#count();
    const at = parseCoordKey(key);
    if (!at) return;
    const state = coordState(at, now, change.revision);
    const released =
      change.released && (!before || change.released.token === before.token) ? change.released : undefined;
    const lossReason: CoordReason = released?.reason ?? 'expired';
    const by = released?.by;
    const event: CoordEvent = {
      type: 'coordEvent',
      state,
      reason: now ? 'acquired' : lossReason,
      ...(by && !now ? { by } : {}),
    };
    const loser = before ? this.#o.peerOf(before.record.holder.agentId) : undefined;
    if (before) {
      this.#o.metrics.coordinationReleases.inc({ kind: at.kind, reason: lossReason });
      loser?.sendCoord({ type: 'coordEvent', state, reason: lossReason, lost: before.token, ...(by ? { by } : {}) });
    }
    for (const peer of this.#watches.of(key)) if (peer !== loser) peer.sendCoord(event);
    this.#o.changed?.(state, event.reason);
  }

  /** Remembers when `key` was freed, forgetting the oldest past {@link MAX_FREED_REMEMBERED} (a forgotten one reads 0). */
  #freeAt(key: string, revision: number): void {
    this.#freedAt.delete(key);
    this.#freedAt.set(key, revision);
    if (this.#freedAt.size > MAX_FREED_REMEMBERED) this.#freedAt.delete(this.#freedAt.keys().next().value as string);
  }

  #count(): void {
    const n = { lock: 0, election: 0 };
    this.#heldBy.clear();
    for (const key of this.#known.keys()) {
      const at = parseCoordKey(key);
      if (!at) continue;
      n[at.kind]++;
      this.#heldBy.set(at.service, (this.#heldBy.get(at.service) ?? 0) + 1);
    }
    this.#o.metrics.locksHeld.set({ kind: 'lock' }, n.lock);
    this.#o.metrics.locksHeld.set({ kind: 'election' }, n.election);
  }
}
