import { waitFor } from '../../harness/wait.js';
import { Faults } from '../../chaos/lib/faults.js';
import type { Contender, CoordMesh } from './coord-mesh.js';

/** What the nemesis did: the counts the checker prints, and a line per fault. */
export interface NemesisLog {
  agentKills: number;
  replicaKills: number;
  partitions: number;
  /** Packets the partitions' rules dropped (proof that they were in force). */
  dropped: number;
  lines: string[];
}

/** A fresh {@link NemesisLog}. */
export const nemesisLog = (): NemesisLog => ({ agentKills: 0, replicaKills: 0, partitions: 0, dropped: 0, lines: [] });

/** One fault and its end: each waits for the mesh to be whole again before it returns. */
export type Fault = (m: CoordMesh, victim: Contender, log: NemesisLog) => Promise<void>;

/** SIGKILL to the victim's agent, a moment down, then started again (its app keeps running and asking). */
export const killAgent =
  (downMs: number): Fault =>
  async (m, victim, log) => {
    const t = Date.now();
    await victim.agent.stop('SIGKILL');
    log.agentKills++;
    await waitFor('the agent to stay down a moment', () => Date.now() - t >= downMs, { timeoutMs: downMs + 1_000 });
    await victim.restartAgent();
    log.lines.push(`kill -9 agent ${victim.id}, back after ${((Date.now() - t) / 1000).toFixed(1)} s`);
  };

/** SIGKILL to the control-plane leader replica; another leads; then it is started again and follows. */
export const killLeaderReplica: Fault = async (m, _victim, log) => {
  const t = Date.now();
  const cp = await m.killLeader();
  log.replicaKills++;
  const next = await m.leader(30_000);
  const ledS = (Date.now() - t) / 1000;
  await cp.restart();
  await m.leader(30_000);
  log.lines.push(
    `kill -9 leader replica ${cp.host.name}: ${next.host.name} led after ${ledS.toFixed(1)} s; ${cp.host.name} back after ${((Date.now() - t) / 1000).toFixed(1)} s`,
  );
};

/** Cuts the victim's host (its agent and app) off from every replica for `ms`, then heals. */
export const partitionFromControlPlane =
  (ms: number): Fault =>
  async (m, victim, log) => {
    const faults = new Faults(victim.host);
    const t = Date.now();
    faults.partition(m.cps.map((c) => c.host));
    log.partitions++;
    try {
      await waitFor('the partition to have lasted', () => Date.now() - t >= ms, { timeoutMs: ms + 1_000 });
      log.dropped += faults.dropped();
    } finally {
      faults.heal();
    }
    log.lines.push(`partition ${victim.id} from the control plane for ${(ms / 1000).toFixed(1)} s`);
  };

/**
 * Runs `faults` in turn, each on the victim `pick` names at that moment
 * (the current holder, say), until `untilMs` (a time) or `max` faults,
 * waiting `gapMs` between faults so that the clients work on a whole mesh
 * too. Bounded: ends by itself.
 */
export async function runNemesis(
  m: CoordMesh,
  o: {
    faults: readonly Fault[];
    pick: () => Contender;
    untilMs: number;
    max: number;
    gapMs: number;
    log: NemesisLog;
  },
): Promise<void> {
  for (let i = 0; i < o.max && Date.now() < o.untilMs; i++) {
    const fault = o.faults[i % o.faults.length] as Fault;
    await fault(m, o.pick(), o.log);
    const t = Date.now();
    const gap = Math.min(o.gapMs, Math.max(0, o.untilMs - t));
    await waitFor('the gap between faults', () => Date.now() - t >= gap, { timeoutMs: gap + 1_000 });
  }
}
