import { setTimeout as pause } from 'node:timers/promises';
import { waitFor } from '../../harness/wait.js';
import type { ChaosMesh, CpNode } from './chaos-mesh.js';

/** What a replica says of its cluster (`GET /v1/cluster`). */
export interface ReplicaView {
  replicaId: string;
  role: string;
  leader: { replicaId: string; url: string } | null;
}

/** `GET /v1/cluster` on `cp`. */
export async function clusterOf(mesh: ChaosMesh, cp: CpNode): Promise<ReplicaView> {
  const a = await mesh.admin(cp, '/v1/cluster');
  if (a.status !== 200) throw new Error(`GET /v1/cluster on ${cp.host.name} answered ${a.status}: ${a.body}`);
  return a.json() as ReplicaView;
}

/** The agents connected to `cp` itself (not those it lists from other replicas), sorted. */
export async function localAgents(mesh: ChaosMesh, cp: CpNode): Promise<string[]> {
  const a = await mesh.admin(cp, '/v1/agents');
  if (a.status !== 200) throw new Error(`GET /v1/agents on ${cp.host.name} answered ${a.status}`);
  return (a.json().agents as Array<{ agentId: string; connected: boolean; replica: string | null }>)
    .filter((x) => x.connected && x.replica === null)
    .map((x) => x.agentId)
    .sort();
}

/** The replica among `cps` that says it leads, when every one of `cps` names it as leader; else undefined. */
export async function agreedLeader(mesh: ChaosMesh, cps: readonly CpNode[]): Promise<CpNode | undefined> {
  const views = await Promise.all(cps.map((cp) => clusterOf(mesh, cp)));
  const leaders = cps.filter((_, i) => views[i]?.role === 'leader');
  if (leaders.length !== 1) return undefined;
  const id = views[cps.indexOf(leaders[0] as CpNode)]?.replicaId;
  return views.every((v) => v.leader?.replicaId === id) ? leaders[0] : undefined;
}

/** Waits until one replica of `cps` leads and all of them agree on it; returns it. */
export const waitLeader = (mesh: ChaosMesh, cps: readonly CpNode[], timeoutMs = 20_000): Promise<CpNode> =>
  waitFor(`one leader that ${cps.map((c) => c.host.name).join(', ')} agree on`, () => agreedLeader(mesh, cps), {
    timeoutMs,
    intervalMs: 100,
  });

/** Waits until the agents connected to `cps`, all together, are exactly `agents`; returns who is where. */
export async function waitAgentsOn(
  mesh: ChaosMesh,
  cps: readonly CpNode[],
  agents: readonly string[],
  timeoutMs = 20_000,
): Promise<Map<CpNode, string[]>> {
  const want = [...agents].sort().join();
  return waitFor(
    `agents ${want} to be connected to ${cps.map((c) => c.host.name).join(', ')}`,
    async () => {
      const where = new Map<CpNode, string[]>();
      for (const cp of cps) where.set(cp, await localAgents(mesh, cp));
      return [...where.values()].flat().sort().join() === want ? where : undefined;
    },
    { timeoutMs, intervalMs: 100 },
  );
}

/** A running loop of admin writes; see {@link adminWrites}. */
export interface AdminWrites {
  /** Ids of the join credentials whose POST was acknowledged (201). */
  readonly acknowledged: string[];
  /** Attempts not acknowledged (an error status or no answer): not counted as lost, whatever became of them. */
  readonly refused: string[];
  /** Ends the loop (the write in flight finishes). */
  stop(): Promise<void>;
}

/**
 * A bounded loop of admin writes, one at a time: each mints a join
 * credential (`POST /v1/join-credentials`) through the next replica of
 * `cps` in turn, and records its id when it was acknowledged. Ends by
 * itself after `maxMs` or `maxWrites`.
 */
export function adminWrites(
  mesh: ChaosMesh,
  cps: readonly CpNode[],
  o: { gapMs?: number; maxMs: number; maxWrites?: number },
): AdminWrites {
  const acknowledged: string[] = [];
  const refused: string[] = [];
  const deadline = Date.now() + o.maxMs;
  const maxWrites = o.maxWrites ?? Math.ceil(o.maxMs / (o.gapMs ?? 100)) + 1;
  let stopped = false;
  const loop = async () => {
    for (let n = 0; !stopped && n < maxWrites && Date.now() < deadline; n++) {
      const cp = cps[n % cps.length] as CpNode;
      try {
        const a = await mesh.admin(cp, '/v1/join-credentials', { method: 'POST', body: { service: 'chaos-writes' } });
        if (a.status === 201) acknowledged.push((a.json() as { id: string }).id);
        else refused.push(`${cp.host.name}: ${a.status} ${a.body.slice(0, 120)}`);
      } catch (e) {
        refused.push(`${cp.host.name}: ${(e as Error).message}`);
      }
      if (!stopped) await pause(o.gapMs ?? 100);
    }
  };
  const running = loop();
  return {
    acknowledged,
    refused,
    async stop() {
      stopped = true;
      await running;
    },
  };
}

/** Waits until every replica of `cps` lists every id of `acknowledged`; returns those still missing at the deadline. */
export async function lostWrites(
  mesh: ChaosMesh,
  cps: readonly CpNode[],
  acknowledged: readonly string[],
  timeoutMs = 15_000,
): Promise<string[]> {
  let missing: string[] = [];
  await waitFor(
    'every acknowledged write on every replica',
    async () => {
      missing = [];
      for (const cp of cps) {
        const a = await mesh.admin(cp, '/v1/join-credentials');
        if (a.status !== 200) throw new Error(`GET /v1/join-credentials on ${cp.host.name} answered ${a.status}`);
        const ids = new Set((a.json().items as Array<{ id: string }>).map((c) => c.id));
        for (const id of acknowledged) if (!ids.has(id)) missing.push(`${id} on ${cp.host.name}`);
      }
      return missing.length === 0;
    },
    { timeoutMs, intervalMs: 200 },
  ).catch(() => undefined);
  return missing;
}
