import type { CoordKind, CoordReason } from '@meshlet/shared';
import { coordKey } from './coord-client.js';

/** A lease the app holds through this agent, as the agent counts it. */
export interface HeldLease {
  kind: CoordKind;
  name: string;
  token: number;
  /** Agent wall-clock ms: when the request that granted or renewed it was sent, plus its TTL. */
  expiresAt: number;
}

/**
 * The leases the app holds through this agent (locks and terms), each with
 * the end of its lease as the agent counts it: from when the request was
 * SENT, so the agent's view ends before the store's (which counts from when
 * it wrote). When that end passes without a renewal, `onLost` is called with
 * `expired` even if the control plane cannot say so (its stream is down):
 * the app is told to stop acting as the holder no later than the store
 * frees the lock.
 */
export class HeldLeases {
  readonly #leases = new Map<string, HeldLease & { timer: NodeJS.Timeout }>();
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
    if (before !== undefined) clearTimeout(before.timer);
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
    return l === undefined ? undefined : { kind: l.kind, name: l.name, token: l.token, expiresAt: l.expiresAt };
  }

  /** Every lease held now. */
  all(): HeldLease[] {
    return [...this.#leases.values()].map((l) => ({
      kind: l.kind,
      name: l.name,
      token: l.token,
      expiresAt: l.expiresAt,
    }));
  }

  /** The app released it: forgotten, nobody told. */
  release(kind: CoordKind, name: string, token: number): void {
    const key = coordKey(kind, name);
    const l = this.#leases.get(key);
    if (l === undefined || l.token !== token) return;
    clearTimeout(l.timer);
    this.#leases.delete(key);
  }

  /** The lease with this token is gone (lapsed, released by the control plane): forgotten and `onLost` called once. */
  lose(kind: CoordKind, name: string, token: number, reason: CoordReason): void {
    const key = coordKey(kind, name);
    const l = this.#leases.get(key);
    if (l === undefined || l.token !== token) return;
    clearTimeout(l.timer);
    this.#leases.delete(key);
    this.#lost.set(key, { token, reason });
    this.#onLost({ kind, name, token, expiresAt: l.expiresAt }, reason);
  }

  /** Why the lease of this token was lost, if the app was told so (its renewal is then refused without asking). */
  lostReason(kind: CoordKind, name: string, token: number): CoordReason | undefined {
    const l = this.#lost.get(coordKey(kind, name));
    return l?.token === token ? l.reason : undefined;
  }

  /** Forgets everything without telling (the agent is stopping). */
  close(): void {
    for (const l of this.#leases.values()) clearTimeout(l.timer);
    this.#leases.clear();
    this.#lost.clear();
  }
}
