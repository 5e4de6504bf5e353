import { waitFor } from '../../harness/wait.js';
import { type AgentNode, type ChaosMesh, type CpNode, healthyIds, type Node } from './chaos-mesh.js';
import type { ChaosHost, ChaosNet } from './chaos-net.js';

/** The mesh most scenarios run: one control plane, instances of `hello` and callers, each on its own host. */
export interface BasicMesh {
  cp: CpNode;
  /** `hello-1`, `hello-2`, … with their host, app and agent. */
  instances: Array<{ id: string; host: ChaosHost; app: Node; agent: AgentNode }>;
  /** `caller-a`, `caller-b`, …: agents with an outbound listener that call `hello`. */
  callers: AgentNode[];
  /** Waits until every caller sees exactly `ids` healthy (all instances when absent); resolves when they do. */
  callersSee(ids?: string[], timeoutMs?: number): Promise<void>;
}

/** Starts a {@link BasicMesh} of `instances` instances and `callers` callers, and waits until every caller sees every instance. */
export async function basicMesh(
  net: ChaosNet,
  mesh: ChaosMesh,
  { instances = 3, callers = 2, controlPlane = {} as Record<string, unknown> } = {},
): Promise<BasicMesh> {
  const cp = await mesh.controlPlane(net.host('cp'), controlPlane);
  const started: BasicMesh['instances'] = [];
  for (let i = 1; i <= instances; i++) {
    const id = `hello-${i}`;
    const host = net.host(id);
    const app = await mesh.app(host, 'hello', id);
    started.push({ id, host, app, agent: await mesh.agent(host, [cp], { agentId: id, instance: 'hello' }) });
  }
  const callerNodes: AgentNode[] = [];
  for (const name of ['caller-a', 'caller-b', 'caller-c', 'caller-d'].slice(0, callers))
    callerNodes.push(await mesh.agent(net.host(name), [cp], { agentId: name, calls: ['hello'] }));
  const all = started.map((s) => s.id);
  const callersSee = async (ids = all, timeoutMs = 30_000) => {
    const want = [...ids].sort().join();
    for (const c of callerNodes)
      await waitFor(`${c.agentId} to see exactly ${want}`, async () => (await healthyIds(c, 'hello')).join() === want, {
        timeoutMs,
      });
  };
  await callersSee();
  return { cp, instances: started, callers: callerNodes, callersSee };
}
