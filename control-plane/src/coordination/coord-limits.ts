import type { CoordKind } from '@meshlet/shared';

/** The lease an acquire gets without `ttlMs`: 15 s for a lock, 3 s for an election (a dead leader replaced within 5 s). */
export const DEFAULT_TTL_MS: Readonly<Record<CoordKind, number>> = { lock: 15_000, election: 3_000 };

/**
 * How many requests one stream may send: every acquire of a free name and
 * every release is a store write (a file rewritten, or an etcd transaction),
 * so one agent must not be able to make them without bound. Generous: an
 * agent waits for release events rather than polling.
 */
export const COORD_RATE = { perSecond: 200, burst: 400 } as const;

/**
 * The rate of one stream's requests for the reserved failover election
 * (`meshlet.failover`, which only the agent itself asks for: its app API
 * refuses `meshlet.` names), counted apart from {@link COORD_RATE} so that an
 * app flooding its agent's coordination API cannot starve the primary's
 * renewals and cost it the term. A renewal every `leaseMs`/3 and a campaign
 * now and then need far less.
 */
export const FAILOVER_COORD_RATE = { perSecond: 20, burst: 40 } as const;

/** The most names one service may hold at once (locks and elections together), so the store cannot be filled. */
export const MAX_HELD_PER_SERVICE = 10_000;

/**
 * How many freed names a control plane remembers the release revision of
 * (for a free lock's `revision`): the newest ones; an older one reads 0, as
 * after a restart. Bounds memory however many distinct names come and go.
 */
export const MAX_FREED_REMEMBERED = 10_000;

/**
 * The most an acquire may take in the control plane, store round trips
 * included: below the 5 s after which the agent tells its app the outcome is
 * unknown, so that a grant never arrives after the agent gave up on it.
 */
export const ACQUIRE_DEADLINE_MS = 4_000;
