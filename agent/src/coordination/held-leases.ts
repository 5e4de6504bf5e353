import type { CoordKind, CoordReason } from '@meshlet/shared';
import { coordKey } from './coord-client.js';

/** A lease the app holds through this agent, as the agent counts it. */
export interface HeldLease {
  kind: CoordKind;
  name: string;
  token: number;
  /** Agent wall-clock ms: when the request that granted or renewed it was sent, plus its TTL. */
  expiresAt: number;
  /**
   * How long the control plane lets this agent be away before it frees the
   * lease (`disconnected`), as its last grant or renewal said; absent from a
   * control plane that does not say (then only `expiresAt` ends it).
   */
  disconnectGraceMs?: number | undefined;
}

interface Entry extends HeldLease {
  timer: NodeJS.Timeout;
  /** Set while the stream is down: tells `lost` (`disconnected`) when the control plane may have freed it. */
  graceTimer?: NodeJS.Timeout | undefined;
}

/**
 * The leases the app holds through this agent (locks and terms), each with
 * the end of its lease as the agent counts it: from when the request was
 * SENT, so the agent's view ends before the store's (which counts from when
 * it wrote). When that end passes without a renewal, `onLost` is called with
 * `expired` even if the control plane cannot say so (its stream is down):
 * the app is told to stop acting as the holder no later than the store
 * frees the lock. Likewise while the stream is down ({@link away}): when the
 * control plane's `disconnectGraceMs` has passed since the drop was noticed,
 * `onLost` is called with `disconnected` (the control plane may free a lock
 * whose holder's agent stays away that long; it may have noticed the drop
 * first, so this `lost` can come a little after the release: the app's
 * earlier signal is `doubt`).
 */
export class HeldLeases {
  readonly #leases = new Map<string, Entry>();
  /** The last token lost under each name, with why: a renewal of it is refused here (the app was told `lost`). */
  readonly #lost = new Map<string, { token: number; reason: CoordReason }>();
  readonly #clock: () => number;
  readonly #onLost: (lease: HeldLease, reason: CoordReason) => void;

  constructor(clock: () => number, onLost: (lease: HeldLease, reason: CoordReason) => void) {
    this.#clock = clock;
    this.#onLost = onLost;
  }

  /** Records a grant or a renewal (replacing what was held under this name). */
  hold(lease: HeldLease): void {
    const key = coordKey(lease.kind, lease.name);
    const before = this.#leases.get(key);
    if (before !== undefined) stopTimers(before);
    const timer = setTimeout(
      () => this.lose(lease.kind, lease.name, lease.token, 'expired'),
      Math.max(0, lease.expiresAt - this.#clock()),
    );
    timer.unref();
    this.#leases.set(key, { ...lease, timer });
  }

  /** The lease held under this name, if any. */
  get(kind: CoordKind, name: string): HeldLease | undefined {
    const l = this.#leases.get(coordKey(kind, name));
    return l === undefined ? undefined : view(l);
  }

  /** Every lease held now. */
  all(): HeldLease[] {
    return [...this.#leases.values()].map(view);
  }

  /**
   * The stream dropped (noticed at `since`, agent wall-clock ms): each lease
   * whose grant said how long the control plane waits for an agent that is
   * away is told `lost` (`disconnected`) once that has passed, unless the
   * stream is {@link back} first or its own end comes first (`expired`).
   */
  away(since: number): void {
    for (const l of this.#leases.values()) {
      if (l.disconnectGraceMs === undefined || l.graceTimer !== undefined) continue;
      const { kind, name, token } = l;
      l.graceTimer = setTimeout(
        () => this.lose(kind, name, token, 'disconnected'),
        Math.max(0, since + l.disconnectGraceMs - this.#clock()),
      );
      l.graceTimer.unref();
    }
  }

  /** The stream is back: no lease is lost for the agent being away (the control plane is asked next). */
  back(): void {
    for (const l of this.#leases.values()) {
      clearTimeout(l.graceTimer);
      l.graceTimer = undefined;
    }
  }

  /** The app released it: forgotten, nobody told. */
  release(kind: CoordKind, name: string, token: number): void {
    const key = coordKey(kind, name);
    const l = this.#leases.get(key);
    if (l === undefined || l.token !== token) return;
    stopTimers(l);
    this.#leases.delete(key);
  }

  /** The lease with this token is gone (lapsed, released by the control plane): forgotten and `onLost` called once. */
  lose(kind: CoordKind, name: string, token: number, reason: CoordReason): void {
    const key = coordKey(kind, name);
    const l = this.#leases.get(key);
    if (l === undefined || l.token !== token) return;
    stopTimers(l);
    this.#leases.delete(key);
    this.#lost.set(key, { token, reason });
    this.#onLost(view(l), reason);
  }

  /** Why the lease of this token was lost, if the app was told so (its renewal is then refused without asking). */
  lostReason(kind: CoordKind, name: string, token: number): CoordReason | undefined {
    const l = this.#lost.get(coordKey(kind, name));
    return l?.token === token ? l.reason : undefined;
  }

  /** Forgets everything without telling (the agent is stopping). */
  close(): void {
    for (const l of this.#leases.values()) stopTimers(l);
    this.#leases.clear();
    this.#lost.clear();
  }
}

function view(l: Entry): HeldLease {
  return {
    kind: l.kind,
    name: l.name,
    token: l.token,
    expiresAt: l.expiresAt,
    ...(l.disconnectGraceMs === undefined ? {} : { disconnectGraceMs: l.disconnectGraceMs }),
  };
}

function stopTimers(l: Entry): void {
  clearTimeout(l.timer);
  clearTimeout(l.graceTimer);
}
