import { beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../harness/wait.js';
import { type CpNode, PORTS } from './lib/chaos-mesh.js';
import { chaosSuite } from './lib/chaos-suite.js';
import { Faults } from './lib/faults.js';
import { LONG, pick, record } from './lib/figures.js';
import { adminWrites, clusterOf, localAgents, lostWrites, waitAgentsOn, waitLeader } from './lib/replicas.js';
import { type ReplicatedMesh, replicatedMesh, waitHealthy } from './lib/replicated-mesh.js';
import { failures, steadyLoad } from './lib/steady-load.js';

// Three control-plane replicas on a three-member etcd, every process on its
// own host. One replica is cut off from etcd and from every agent (not from
// the other replicas, nor from the test): first the leader, which every
// agent is on, then the follower with the most agents. Its agents must move
// to the other two, one of which leads; admin writes sent to every replica
// in turn meanwhile are refused by the cut-off one or acknowledged, and none
// acknowledged may be lost; no request fails. After the heal it must be back
// as a follower that sees the whole mesh.
const TIMEOUT = pick(120_000, 300_000);

describe('chaos: a control-plane replica partitioned from etcd and from its agents', () => {
  const suite = chaosSuite();
  const { mesh } = suite;
  let m: ReplicatedMesh;

  beforeAll(async () => {
    m = await replicatedMesh(suite);
  });

  /** Partitions `victim` under load and writes, heals, checks; records the figures as `scenario`. */
  async function partition(victim: CpNode, scenario: string): Promise<void> {
    const others = m.cps.filter((c) => c !== victim);
    const onVictim = await localAgents(mesh, victim);
    const leaderBefore = await waitLeader(mesh, m.cps);
    // At least this long, and until its agents have moved and another replica leads (awaited first, whatever it takes).
    const faultMs = pick(5_000, 60_000);
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
    // The last write the others acknowledged while it was cut off: it is back once it sees that.
    const lastInFault = writes.acknowledged.at(-1);

    const healed = Date.now();
    faults.heal();
    const back = await waitFor(
      `${victim.host.name} to follow ${leader.node.host.name} and catch up with the writes it missed`,
      async () => {
        const view = await clusterOf(mesh, victim);
        if (view.role !== 'follower' || view.leader?.replicaId !== leader.node.host.name) return undefined;
        const creds = (await mesh.admin(victim, '/v1/join-credentials')).json().items as Array<{ id: string }>;
        if (!creds.some((c) => c.id === lastInFault)) return undefined;
        const svc = await mesh.admin(victim, '/v1/services/hello');
        const states = (svc.json().instances as Array<{ state: string }>).map((i) => i.state);
        return states.join() === 'healthy,healthy,healthy' ? Date.now() : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 100 },
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
    const led =
      leader.node === leaderBefore
        ? `${leader.node.host.name} led throughout`
        : `${leader.node.host.name} led after ${leader.s.toFixed(1)} s`;
    record({
      scenario,
      mode: LONG ? 'long' : 'short',
      requests: samples.length,
      failed: failed.length,
      detectionS: movedS,
      recoveryS,
      note:
        `partition ${faultMs / 1000} s; its ${onVictim.length} agents moved in ${movedS.toFixed(1)} s, ${led}; ` +
        `admin writes ${writes.acknowledged.length} acknowledged (${ackedInFault} by the end of the fault), ` +
        `${writes.refused.length} refused, ${lost.length} lost`,
    });
    expect(failed.slice(0, 5)).toEqual([]);
    expect(lost).toEqual([]);
  }

  it(
    'the leader, which every agent is on: its agents move, another replica leads, nothing is lost',
    async () => {
      const victim = await waitLeader(mesh, m.cps);
      expect(await localAgents(mesh, victim)).toEqual([...m.agentIds].sort());
      await partition(victim, 'leader replica partitioned from etcd and agents');
    },
    TIMEOUT,
  );

  it(
    'the follower with the most agents: they move, the leader stays, nothing is lost',
    async () => {
      const leader = await waitLeader(mesh, m.cps);
      // The replica healed above takes agents again: three agents are cut off from the other two, so that
      // their streams go over to it, and healed once they are there. It is the follower with the most agents.
      const victim = m.cps[0]!;
      expect(leader).not.toBe(victim);
      const movers = m.agentHosts.slice(0, 3);
      const ids = movers.map((h) => h.name);
      const cuts = m.cps.filter((c) => c !== victim).map((c) => new Faults(c.host));
      for (const f of cuts) f.partition(movers);
      await waitFor(
        `${ids.join(', ')} to be on ${victim.host.name}`,
        async () => {
          const on = await localAgents(mesh, victim);
          return ids.every((id) => on.includes(id));
        },
        { timeoutMs: 30_000, intervalMs: 100 },
      );
      for (const f of cuts) f.heal();
      await waitHealthy(m, mesh);
      await partition(victim, 'follower replica partitioned from etcd and agents');
      expect(await waitLeader(mesh, m.cps)).toBe(leader);
    },
    TIMEOUT,
  );
});
