import { type Clock, type ControlPlaneConfig, FAILOVER_ELECTION, type Logger } from '@meshlet/shared';
import type { CoordPeer } from '../coordination/coord-peer.js';
import { type CoordRelease, Coordinator } from '../coordination/coordinator.js';
import { EtcdLockBackend } from '../coordination/etcd-lock-backend.js';
import { FileLockBackend } from '../coordination/file-lock-backend.js';
import type { LockBackend } from '../coordination/lock-backend.js';
import { ReleaseTriggers } from '../coordination/release-triggers.js';
import type { Replication } from '../ha/replication.js';
import type { ControlPlaneMetrics } from '../metrics.js';
import { EtcdStore } from '../store/etcd-store.js';
import type { Store } from '../store/store.js';
import type { ControlPlaneParts } from './create-parts.js';

/** The coordination of a running control plane: the coordinator, and the timer of its release triggers. */
export interface RunningCoordination {
  coordinator: Coordinator;
  stop(): Promise<void>;
}

/** The backend for the store: etcd's leases for replicas, timers here for the file store. */
export function lockBackend(store: Store, clock: Clock, log: Logger): LockBackend {
  return store instanceof EtcdStore
    ? new EtcdLockBackend({ store, log, clock })
    : new FileLockBackend({ store, clock, log });
}

/** The event an operator sees for a release made for a reason other than the holder's own. */
function releaseEvent(r: CoordRelease) {
  const s = r.state;
  const why =
    r.reason === 'forced'
      ? `released by an operator (token ${JSON.stringify(r.by ?? 'unknown')})`
      : r.reason === 'unhealthy'
        ? `released: the holder's instance ${s.holder?.instanceId ?? ''} is unhealthy`
        : `released: the holder's agent ${s.holder?.agentId ?? ''} was gone past heartbeat.timeoutMs`;
  return {
    kind: 'coordination' as const,
    service: s.service,
    ...(s.holder ? { instance: s.holder.instanceId } : {}),
    from: 'held',
    to: 'free',
    reason: `${s.kind} "${s.name}" ${why}`,
    evidence: {
      kind: s.kind,
      name: s.name,
      token: s.token,
      holder: s.holder,
      cause: r.reason,
      ...(r.by ? { by: r.by } : {}),
    },
  };
}

/**
 * Makes the coordinator on the store's backend, opens it, and starts the
 * release triggers: every `heartbeat.checkIntervalMs`, the deciding replica
 * (only it: see `Replication.leading`) frees the locks of holders whose agent
 * is gone or whose instance is unhealthy. The triggers are made before the
 * coordinator opens, so that their start-up grace counts from before the
 * first lock is served.
 */
export async function createCoordination(ctx: {
  config: ControlPlaneConfig;
  log: Logger;
  clock: Clock;
  store: Store;
  metrics: ControlPlaneMetrics;
  replication: Replication;
  parts: ControlPlaneParts;
  peerOf: (agentId: string) => CoordPeer | undefined;
}): Promise<RunningCoordination> {
  const { config, clock, metrics, replication, parts } = ctx;
  const log = ctx.log.child({ component: 'coordination' });
  const triggers = new ReleaseTriggers({
    agent: (id) => parts.registry.get(id),
    health: (id) => parts.health.state(id),
    timeoutMs: config.heartbeat.timeoutMs,
    clock,
    startRevision: ctx.store.revision(),
  });
  const coordinator = new Coordinator({
    backend: lockBackend(ctx.store, clock, log),
    peerOf: ctx.peerOf,
    metrics,
    log,
    clock,
    disconnectGraceMs: config.heartbeat.timeoutMs,
    unhealthy: (id) => parts.health.state(id) === 'unhealthy',
    // Managed failover: its election is refused to a non-candidate, and its changes make the service's next table.
    refuseAcquire: (at, instance) =>
      at.kind === 'election' && at.name === FAILOVER_ELECTION
        ? parts.managedFailover.refusal(at.service, instance)
        : undefined,
    changed: (s, reason) => {
      if (s.kind !== 'election' || s.name !== FAILOVER_ELECTION) return;
      const now = s.holder && s.token !== undefined ? { holder: s.holder.instanceId, token: s.token } : undefined;
      parts.managedFailover.electionChanged(s.service, now, reason);
    },
    released: (r) => {
      parts.events.add(releaseEvent(r));
      log.info(
        { service: r.state.service, name: r.state.name, kind: r.state.kind, reason: r.reason, by: r.by },
        'coordination: released a holder',
      );
    },
  });
  await coordinator.open();
  parts.managedFailover.useElections((service) => {
    const s = coordinator.list('election', service).find((e) => e.name === FAILOVER_ELECTION);
    return s?.holder && s.token !== undefined ? { holder: s.holder.instanceId, token: s.token } : undefined;
  });
  parts.managedFailover.start();
  let sweeping = false;
  const timer = setInterval(() => {
    if (sweeping) return;
    // Every replica keeps its stamps of gone agents current; only the deciding one acts on them.
    const due = triggers.due(coordinator.held());
    if (!replication.leading || due.length === 0) return;
    sweeping = true;
    void Promise.all(
      due.map(async ({ held, reason }) => {
        const [, kind, service, name] = held.key.split('/');
        if ((kind !== 'lock' && kind !== 'election') || !service || !name) return;
        await coordinator.release(kind, service, name, { reason }, held.token).catch((e: unknown) => {
          log.warn({ key: held.key, reason, err: e }, 'coordination: could not release a lock; trying again');
        });
      }),
    ).finally(() => (sweeping = false));
  }, config.heartbeat.checkIntervalMs);
  timer.unref();
  return {
    coordinator,
    stop: async () => {
      clearInterval(timer);
      parts.managedFailover.stop();
      await coordinator.close();
    },
  };
}
