import { afterAll } from 'vitest';
import { type EtcdCluster, startEtcdCluster } from '../../harness/etcd.js';
import type { Scratch } from '../../harness/mesh.js';
import { replicaSettings } from '../../harness/replica-settings.js';
import { waitFor } from '../../harness/wait.js';
import { type AgentNode, type ChaosMesh, type CpNode, healthyIds, type Node } from './chaos-mesh.js';
import type { ChaosHost, ChaosNet } from './chaos-net.js';
import { waitAgentsOn, waitLeader } from './replicas.js';

/** The instances every replicated scenario runs, one host each. */
export const INSTANCES = ['hello-1', 'hello-2', 'hello-3'] as const;

/** A mesh on control-plane replicas: 3 etcd members, 3 replicas, 3 instances and 2 callers, each on its own host. */
export interface ReplicatedMesh {
  etcd: EtcdCluster;
  etcdHosts: ChaosHost[];
  cps: CpNode[];
  /** The instances' apps and agents, in {@link INSTANCES} order. */
  apps: Node[];
  instances: AgentNode[];
  callers: AgentNode[];
  /** Every agent's id. */
  agentIds: string[];
  /** Every host an agent runs on. */
  agentHosts: ChaosHost[];
}

/**
 * Starts a {@link ReplicatedMesh}: etcd members `etcd-1..3`, replicas
 * `cp-1..3` (each with the settings of `test/harness/replica-settings.ts`,
 * and every agent listing all three), instances `hello-1..3` and callers
 * `caller-a`, `caller-b`. `cp-1` starts first and leads, and every agent
 * joins while it is the only replica up, so all of them are on the leader;
 * then `cp-2` and `cp-3` start. Waits until every caller sees every
 * instance healthy. The etcd members are stopped after the file.
 */
export async function replicatedMesh({
  net,
  mesh,
  scratch,
}: {
  net: ChaosNet;
  mesh: ChaosMesh;
  scratch: Scratch;
}): Promise<ReplicatedMesh> {
  const etcdHosts = ['etcd-1', 'etcd-2', 'etcd-3'].map((n) => net.host(n));
  const cpHosts = ['cp-1', 'cp-2', 'cp-3'].map((n) => net.host(n));
  const instanceHosts = INSTANCES.map((n) => net.host(n));
  const callerHosts = ['caller-a', 'caller-b'].map((n) => net.host(n));
  const etcd = await startEtcdCluster(scratch, 3, {
    logLevel: 'warn',
    place: (i) => {
      const h = etcdHosts[i] as ChaosHost;
      return { host: h.ip, wrap: (c, a) => h.wrap(c, a) };
    },
  });
  afterAll(() => etcd.stop());
  const cps: CpNode[] = [];
  for (const h of cpHosts)
    cps.push(await mesh.controlPlane(h, replicaSettings(scratch, h.name, etcd.endpoints), { start: h === cpHosts[0] }));
  const [first] = cps as [CpNode];
  await waitLeader(mesh, [first]);
  const apps: Node[] = [];
  const instances: AgentNode[] = [];
  for (const h of instanceHosts) {
    apps.push(await mesh.app(h, 'hello', h.name));
    instances.push(await mesh.agent(h, cps, { agentId: h.name, instance: 'hello' }));
  }
  const callers: AgentNode[] = [];
  for (const h of callerHosts) callers.push(await mesh.agent(h, cps, { agentId: h.name, calls: ['hello'] }));
  const agentIds = [...instances, ...callers].map((a) => a.agentId);
  await waitAgentsOn(mesh, [first], agentIds);
  for (const cp of cps.slice(1)) await cp.restart();
  await waitHealthy({ cps, callers }, mesh);
  return {
    etcd,
    etcdHosts,
    cps,
    apps,
    instances,
    callers,
    agentIds,
    agentHosts: [...instanceHosts, ...callerHosts],
  };
}

/**
 * Waits until the mesh is whole again: one leader every replica agrees on,
 * every agent connected to a replica, every caller seeing every instance
 * healthy; with `etcd`, every member healthy first.
 */
export async function waitHealthy(
  m: Pick<ReplicatedMesh, 'cps' | 'callers'> & Partial<Pick<ReplicatedMesh, 'etcd' | 'agentIds'>>,
  mesh: ChaosMesh,
  timeoutMs = 30_000,
): Promise<void> {
  await m.etcd?.waitHealthy(timeoutMs);
  await waitLeader(mesh, m.cps, timeoutMs);
  if (m.agentIds) await waitAgentsOn(mesh, m.cps, m.agentIds, timeoutMs);
  const all = INSTANCES.join();
  for (const c of m.callers)
    await waitFor(
      `${c.agentId} to see every instance healthy`,
      async () => (await healthyIds(c, 'hello')).join() === all,
      {
        timeoutMs,
      },
    );
}
