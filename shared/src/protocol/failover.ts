import { type Static, Type } from '@sinclair/typebox';

/**
 * Managed failover of a stateful service (a database, a cache): the role an
 * instance's check reports, the service's policy, and the state the control
 * plane publishes in every table for the service. See docs/databases.md.
 */

/** What an instance's check says it is: the one that takes writes, or a copy that follows it. */
export const InstanceRole = Type.Union([Type.Literal('primary'), Type.Literal('replica')], {
  fix: 'use primary or replica',
});
/** {@inheritDoc InstanceRole} */
export type InstanceRole = Static<typeof InstanceRole>;

/**
 * The election the agents beside a managed service's instances campaign in:
 * a coordination election in the service's own name space, reserved (an app
 * cannot take it through the agent's API). Its term (the election's fencing
 * token) is the failover term.
 */
export const FAILOVER_ELECTION = 'meshlet.failover';

/** `policy.failover` of a service: `managed` hands the choice of its primary to the mesh. */
export const ManagedFailoverPolicy = Type.Object(
  {
    mode: Type.Literal('managed', { fix: 'use managed (or leave failover out)' }),
    /** A standby further behind the primary than this (bytes, as its check reports) is not promoted automatically (Patroni's `maximum_lag_on_failover`). */
    maxLagBytes: Type.Integer({ minimum: 0, maximum: 2 ** 53 - 1, default: 1_048_576 }),
    /** The primary's lease in the election: a primary whose agent died is replaced after at most this long. */
    leaseMs: Type.Integer({ minimum: 1000, maximum: 60_000, default: 3000 }),
    /** The n-th candidate in the ranking waits n times this before it campaigns, so that the best standby wins. */
    candidateStaggerMs: Type.Integer({ minimum: 0, maximum: 60_000, default: 1000 }),
    /** A switchover gives the target this long to catch up and take over, or it is abandoned and the primary stays. */
    switchoverTimeoutMs: Type.Integer({ minimum: 1000, maximum: 600_000, default: 30_000 }),
  },
  { additionalProperties: false },
);
/** {@inheritDoc ManagedFailoverPolicy} */
export type ManagedFailoverPolicy = Static<typeof ManagedFailoverPolicy>;

/**
 * The failover state of a managed service, in every table that has the
 * service (so an agent holding any table knows the term). Callers send
 * `role=primary` traffic only to `primary` and close their connections to
 * any other endpoint the moment `term` changes; the primary's own agent
 * admits a caller only for its own term.
 */
export const FailoverState = Type.Object({
  /** The election's term now (the holder's fencing token), or the last one's while no one holds it; 0: never elected. */
  term: Type.Integer({ minimum: 0, maximum: 2 ** 53 - 1 }),
  /** The instance holding the election: promoting, or primary. Absent: the election is vacant. */
  holder: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
  /** The holder, once its check reports `primary`: where `role=primary` traffic goes. Absent: writes wait. */
  primary: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
  /** The standbys that may campaign, best first (lag within `maxLagBytes`, then the highest replication offset, then priority). */
  candidates: Type.Array(Type.String({ minLength: 1, maxLength: 128 }), { maxItems: 1000 }),
  /** A switchover in progress: the instance that is to take over. */
  switchoverTo: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
  /**
   * During a switchover: the target's reported replication offset has reached
   * the primary's last reported one (for operators: that report may predate
   * the primary's fence, so the primary does not act on it; see
   * `switchoverTargetOffset`). Absent: not yet.
   */
  switchoverCaughtUp: Type.Optional(Type.Boolean()),
  /**
   * During a switchover: the target's last reported replication offset (while
   * it is a healthy routed instance). The primary hands over once this reaches
   * the offset its own check reports after it fenced (added for review
   * finding 2; `switchoverCaughtUp` compares with a report from before the
   * fence and is for operators only).
   */
  switchoverTargetOffset: Type.Optional(Type.Integer({ minimum: 0, maximum: 2 ** 53 - 1 })),
});
/** {@inheritDoc FailoverState} */
export type FailoverState = Static<typeof FailoverState>;
