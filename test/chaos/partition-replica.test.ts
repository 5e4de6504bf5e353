import { describe, expect, it } from 'vitest';
import { waitFor } from '../harness/wait.js';
import { type CpNode, PORTS } from './lib/chaos-mesh.js';
import { chaosSuite } from './lib/chaos-suite.js';
import { Faults } from './lib/faults.js';
import { LONG, pick, record } from './lib/figures.js';
import { adminWrites, clusterOf, localAgents, lostWrites, waitAgentsOn, waitLeader } from './lib/replicas.js';
import { replicatedMesh, waitHealthy } from './lib/replicated-mesh.js';
import { failures, steadyLoad } from './lib/steady-load.js';

// Three control-plane replicas on a three-member etcd, every process on its
// own host. The leading replica, which every agent is on, is cut off from
// etcd and from every agent (not from the other replicas, nor from the
// test). Its agents must move to the other two, one of which leads; admin
// writes sent to every replica in turn meanwhile are refused by the cut-off
// one or acknowledged, and none acknowledged may be lost; no request fails.
// After the heal it must be back as a follower that serves.
describe('chaos: the leading replica partitioned from etcd and from its agents', () => {
  const suite = chaosSuite();

  it('its agents move, another replica leads, no acknowledged write is lost, no request fails', async () => {
    const m = await replicatedMesh(suite);
    const { mesh } = suite;
    const victim = await waitLeader(mesh, m.cps);
    const others = m.cps.filter((c) => c !== victim);
    const onVictim = await localAgents(mesh, victim);
    expect(onVictim).toEqual([...m.agentIds].sort());

    const faultMs = pick(10_000, 60_000);
    const bound = faultMs + 90_000;
    const loads = m.callers.map((c) => steadyLoad(c.host.ip, PORTS.outbound, 'hello', { rate: 40, maxMs: bound }));
    const writes = adminWrites(mesh, m.cps, { gapMs: 100, maxMs: bound });
    await waitFor(
      'requests and writes before the fault',
      () => loads.every((l) => l.samples.length >= 20) && writes.acknowledged.length >= 5,
    );

    const faults = new Faults(victim.host);
    const cut = Date.now();
    faults.partition([...m.etcdHosts, ...m.agentHosts]);
    const [movedS, leader] = await Promise.all([
      waitAgentsOn(mesh, others, m.agentIds, 20_000).then(() => (Date.now() - cut) / 1000),
      waitLeader(mesh, others, 20_000).then((l) => ({ node: l, s: (Date.now() - cut) / 1000 })),
    ]);
    await waitFor('the fault to have lasted', () => Date.now() - cut >= faultMs, { timeoutMs: faultMs + 1_000 });
    const ackedInFault = writes.acknowledged.length;

    const healed = Date.now();
    faults.heal();
    const back = await waitFor(
      `${victim.host.name} to follow ${leader.node.host.name} and see the whole mesh`,
      async () => {
        const view = await clusterOf(mesh, victim);
        if (view.role !== 'follower' || view.leader?.replicaId !== leader.node.host.name) return undefined;
        const svc = await mesh.admin(victim, '/v1/services/hello');
        const states = (svc.json().instances as Array<{ state: string }>).map((i) => i.state);
        return states.join() === 'healthy,healthy,healthy' ? Date.now() : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 100 },
    );
    const recoveryS = (back - healed) / 1000;
    await waitHealthy(m, mesh);
    // Writes go on through every replica, the healed one too, for a moment.
    const acked = writes.acknowledged.length;
    await waitFor('writes after the heal', () => writes.acknowledged.length >= acked + 6, { timeoutMs: 15_000 });
    await writes.stop();
    const samples = (await Promise.all(loads.map((l) => l.stop()))).flat();
    const lost = await lostWrites(mesh, m.cps, writes.acknowledged);
    const failed = failures(samples);
    const newLeader = leader.node as CpNode;
    record({
      scenario: 'leader replica partitioned from etcd and agents',
      mode: LONG ? 'long' : 'short',
      requests: samples.length,
      failed: failed.length,
      detectionS: movedS,
      recoveryS,
      note:
        `partition ${faultMs / 1000} s; ${m.agentIds.length} agents moved in ${movedS.toFixed(1)} s, ` +
        `${newLeader.host.name} led after ${leader.s.toFixed(1)} s; admin writes ${writes.acknowledged.length} ` +
        `acknowledged (${ackedInFault} by the end of the fault), ${writes.refused.length} refused, ${lost.length} lost`,
    });
    expect(failed.slice(0, 5)).toEqual([]);
    expect(lost).toEqual([]);
  });
});
