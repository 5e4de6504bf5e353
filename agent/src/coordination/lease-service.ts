import type { CoordKind, CoordReason, CoordState, Logger } from '@meshlet/shared';
import { AgentErrors } from '../errors.js';
import type { CoordClient } from './coord-client.js';
import { coordFailure, streamDown } from './coord-failure.js';
import type { CoordFeed, CoordNotice } from './coord-feed.js';

/** What the app asks for when it acquires a lock or campaigns. */
export interface AcquireRequest {
  ttlMs: number;
  /** How long to wait for a holder to go (0: answer at once). */
  waitMs: number;
  label?: string | undefined;
  releaseOnUnhealthy?: boolean | undefined;
}

/** A lease granted to the app. */
export interface LeaseGrant {
  state: CoordState;
  token: number;
  ttlMs: number;
  /** Agent wall-clock ms: when the acquire was sent, plus `ttlMs`. */
  expiresAt: number;
}

/** An acquire's outcome: granted, or held by someone else when the wait ended (the holder in `state`). */
export type AcquireOutcome = { ok: true; grant: LeaseGrant } | { ok: false; state: CoordState | undefined };

/** 409 `MESHLET_LOCK_NOT_HELD` for a renewal of a lease the app was told it lost. */
function toldLost(kind: CoordKind, name: string, token: number, reason: CoordReason): Error {
  return AgentErrors.LOCK_NOT_HELD(
    `${kind} "${name}": the lease of token ${token} is gone (${reason}) and the app was told so on the events ` +
      'stream; stop acting as the holder and acquire it again',
  );
}

/** Thrown (and not answered: the app went away) when the app cancels a wait. */
export class WaitCancelled extends Error {
  constructor() {
    super('the app closed the request');
    this.name = 'WaitCancelled';
  }
}

/**
 * Locks and elections as the app's API uses them: acquire (waiting if asked),
 * renew, release, read, and wait for a change. Waiting happens here in the
 * agent, not in the control plane: after a refusal it asks again when a
 * watch says the lock was freed, or every third of the holder's TTL as a
 * backstop, until the deadline. No fairness is promised between waiters.
 */
export class LeaseService {
  readonly #client: CoordClient;
  readonly #feed: CoordFeed;
  readonly #clock: () => number;
  readonly #log: Logger;

  constructor(client: CoordClient, feed: CoordFeed, clock: () => number, log: Logger) {
    this.#client = client;
    this.#feed = feed;
    this.#clock = clock;
    this.#log = log;
  }

  /**
   * Takes the lock for the app, waiting up to `waitMs` for its holder to go.
   * When `signal` aborts (the app closed its request) the wait ends with
   * {@link WaitCancelled}; a grant that lands after that is released at once.
   */
  async acquire(kind: CoordKind, name: string, req: AcquireRequest, signal: AbortSignal): Promise<AcquireOutcome> {
    const deadline = this.#clock() + req.waitMs;
    const woken = { freed: false };
    let wake: (() => void) | undefined;
    const stop =
      req.waitMs > 0
        ? this.#feed.subscribe(kind, name, (n: CoordNotice) => {
            if (n.type !== 'state' || n.state.holder !== undefined) return;
            woken.freed = true;
            wake?.();
          })
        : () => undefined;
    try {
      for (;;) {
        if (signal.aborted) throw new WaitCancelled();
        woken.freed = false;
        const { result, sentAt } = await this.#client.request({
          op: 'acquire',
          kind,
          name,
          ttlMs: req.ttlMs,
          ...(req.label === undefined ? {} : { label: req.label }),
          ...(req.releaseOnUnhealthy === undefined ? {} : { releaseOnUnhealthy: req.releaseOnUnhealthy }),
        });
        if (result.ok && result.state?.token !== undefined) {
          const token = result.state.token;
          const grant: LeaseGrant = { state: result.state, token, ttlMs: req.ttlMs, expiresAt: sentAt + req.ttlMs };
          const disconnectGraceMs = result.disconnectGraceMs;
          this.#feed.held.hold({ kind, name, token, expiresAt: grant.expiresAt, disconnectGraceMs });
          this.#feed.observe(result.state);
          if (signal.aborted) {
            await this.release(kind, name, token).catch(() => undefined);
            throw new WaitCancelled();
          }
          return { ok: true, grant };
        }
        // Refused while this instance is marked unhealthy (its locks are released on unhealthy): wait on, as when held.
        const unhealthy = !result.ok && result.refusal === 'unhealthy';
        if (result.ok || (result.code !== AgentErrors.LOCK_HELD.code && !unhealthy)) throw coordFailure(result);
        if (result.state !== undefined) this.#feed.observe(result.state);
        const left = deadline - this.#clock();
        if (left <= 0) {
          if (unhealthy) throw coordFailure(result);
          return { ok: false, state: result.state };
        }
        if (woken.freed) continue;
        const backstop = Math.max(100, Math.floor((result.state?.ttlMs ?? req.ttlMs) / 3));
        // A dropped stream ends the pause too: the next try then fails at once (503).
        await this.#pause(Math.min(left, backstop), signal, (w) => (wake = w));
        wake = undefined;
      }
    } finally {
      stop();
    }
  }

  /** Extends the app's lease (`ttlMs`: the one it was granted, when absent); `MESHLET_LOCK_NOT_HELD` if lost. */
  async renew(kind: CoordKind, name: string, token: number, ttlMs: number | undefined): Promise<LeaseGrant> {
    // Once the app was told `lost`, the lease stays lost: the store may still hold it for a moment (it counts from
    // when it wrote, the agent from when it sent), but a renewal now would contradict what the app was told.
    const lost = this.#feed.held.lostReason(kind, name, token);
    if (lost !== undefined) throw toldLost(kind, name, token, lost);
    const before = this.#feed.held.get(kind, name);
    const { result, sentAt } = await this.#client.request({
      op: 'renew',
      kind,
      name,
      token,
      ...(ttlMs === undefined ? {} : { ttlMs }),
    });
    if (!result.ok || result.state === undefined) {
      if (result.code === AgentErrors.LOCK_NOT_HELD.code) this.#feed.held.lose(kind, name, token, 'expired');
      throw coordFailure(result);
    }
    // Lost while the renewal was on its way (its lease as counted here ended, or the agent was away too long): the
    // app was told `lost`, so this answer must not bring the lease back. The store's lease is given back instead.
    const lostMeanwhile = this.#feed.held.lostReason(kind, name, token);
    if (lostMeanwhile !== undefined) {
      this.#client.request({ op: 'release', kind, name, token }).then(
        () => undefined,
        () => undefined, // no stream or no answer: it lapses with its TTL
      );
      throw toldLost(kind, name, token, lostMeanwhile);
    }
    const granted = ttlMs ?? result.state.ttlMs;
    if (granted === undefined) throw coordFailure({ ...result, ok: false, message: 'the renewal named no TTL' });
    const expiresAt = sentAt + granted;
    const disconnectGraceMs = result.disconnectGraceMs ?? before?.disconnectGraceMs;
    this.#feed.held.hold({ kind, name, token, expiresAt, disconnectGraceMs });
    this.#feed.observe(result.state);
    return { state: result.state, token, ttlMs: granted, expiresAt };
  }

  /** Gives the lease up; `MESHLET_LOCK_NOT_HELD` when the token is no longer the holder's. */
  async release(kind: CoordKind, name: string, token: number): Promise<void> {
    const { result } = await this.#client.request({ op: 'release', kind, name, token });
    if (!result.ok) {
      if (result.code === AgentErrors.LOCK_NOT_HELD.code) this.#feed.held.lose(kind, name, token, 'expired');
      throw coordFailure(result);
    }
    this.#feed.held.release(kind, name, token);
    if (result.state !== undefined) this.#feed.observe(result.state);
    this.#log.debug({ kind, name, token }, 'the app released a lease');
  }

  /** The lock as the store has it now. */
  async get(kind: CoordKind, name: string): Promise<CoordState> {
    const { result } = await this.#client.request({ op: 'get', kind, name });
    if (!result.ok || result.state === undefined) throw coordFailure(result);
    this.#feed.observe(result.state);
    return result.state;
  }

  /**
   * A long-poll: the state as soon as its revision is above `index`, or the
   * latest known when `waitMs` has passed (or the app went away).
   */
  async waitForChange(
    kind: CoordKind,
    name: string,
    index: number,
    waitMs: number,
    signal: AbortSignal,
  ): Promise<CoordState> {
    let latest: CoordState | undefined;
    let wake: (() => void) | undefined;
    const stop = this.#feed.subscribe(kind, name, (n) => {
      if (n.type !== 'state') return;
      if (latest === undefined || n.state.revision > latest.revision) latest = n.state;
      if (latest.revision > index) wake?.();
    });
    try {
      const now = await this.get(kind, name);
      if (latest === undefined || now.revision > latest.revision) latest = now;
      if (latest.revision > index || waitMs <= 0) return latest;
      const why = await this.#pause(waitMs, signal, (w) => (wake = w));
      if (why === 'dropped') throw streamDown('wait for a change of', `${kind} "${name}"`);
      return latest;
    } finally {
      stop();
    }
  }

  /** Waits `ms` at most: until `wake` (handed to `setWake`) is called, the app goes away, or the stream drops. */
  #pause(
    ms: number,
    signal: AbortSignal,
    setWake: (wake: () => void) => void,
  ): Promise<'woken' | 'elapsed' | 'dropped'> {
    return new Promise((resolve) => {
      const done = (why: 'woken' | 'elapsed' | 'dropped'): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        offConnection();
        resolve(why);
      };
      const onAbort = (): void => done('woken');
      const timer = setTimeout(() => done('elapsed'), ms);
      signal.addEventListener('abort', onAbort);
      const offConnection = this.#client.onConnection((up) => {
        if (!up) done('dropped');
      });
      setWake(() => done('woken'));
      if (!this.#client.connected) done('dropped');
      else if (signal.aborted) done('woken'); // the app left while the last try was on its way
    });
  }
}
