import { describe, expect, it } from 'vitest';
import type { EtcdMember } from '../harness/etcd.js';
import { waitFor } from '../harness/wait.js';
import { type CpNode, healthyIds, PORTS } from './lib/chaos-mesh.js';
import { chaosSuite } from './lib/chaos-suite.js';
import { type ChaosFigures, LONG, pick, record } from './lib/figures.js';
import { adminWrites, localAgents, lostWrites, waitAgentsOn, waitLeader } from './lib/replicas.js';
import { INSTANCES, replicatedMesh, waitHealthy } from './lib/replicated-mesh.js';
import { failures, type Sample, steadyLoad } from './lib/steady-load.js';

// kill -9 of each kind of process in turn, under a steady load and a loop of
// admin writes through every replica: an app, an instance's agent, the
// leading replica (every agent is on it), a following replica (the one with
// the most agents by then) and etcd's own raft leader. Each is started again
// and the mesh waited back to full health before the next. No idempotent
// request may fail and no acknowledged admin write may be lost.

/** One kill: what dies, how the mesh shows it acted (detection), and how it comes back. */
interface Kill {
  kind: string;
  /** Kills it; returns what to wait for as detection (undefined: none to measure) and the restart. */
  run(): Promise<{ detected?: () => Promise<unknown>; restart: () => Promise<void>; what: string }>;
}

describe('chaos: kill -9 of each process kind in turn', () => {
  const suite = chaosSuite();

  it(
    'app, agent, leader replica, follower replica, etcd leader: no request fails, no acknowledged write is lost',
    async () => {
      const m = await replicatedMesh(suite);
      const { mesh } = suite;
      const allUp = INSTANCES.join();
      const callersSee = (ids: string, what: string) => async () => {
        for (const c of m.callers)
          await waitFor(`${c.agentId} to see ${what}`, async () => (await healthyIds(c, 'hello')).join() === ids, {
            timeoutMs: 20_000,
          });
      };
      const replicaKill = async (cp: CpNode, leading: boolean) => {
        const others = m.cps.filter((c) => c !== cp);
        const had = (await localAgents(mesh, cp)).length;
        await cp.proc.stop('SIGKILL');
        return {
          what: `${cp.host.name} (${had} agents)`,
          detected: () =>
            Promise.all([waitAgentsOn(mesh, others, m.agentIds), leading ? waitLeader(mesh, others) : undefined]),
          restart: () => cp.restart(),
        };
      };
      const kills: Kill[] = [
        {
          kind: 'app',
          async run() {
            const app = m.apps[1]!;
            await app.proc.stop('SIGKILL');
            return {
              what: 'hello-2 app',
              detected: callersSee('hello-1,hello-3', 'hello-2 gone'),
              restart: () => app.restart(),
            };
          },
        },
        {
          kind: 'agent',
          async run() {
            const agent = m.instances[2]!;
            await agent.proc.stop('SIGKILL');
            return {
              what: 'hello-3 agent',
              detected: callersSee('hello-1,hello-2', 'hello-3 gone'),
              restart: () => agent.restart(),
            };
          },
        },
        { kind: 'leader replica', run: async () => replicaKill(await waitLeader(mesh, m.cps), true) },
        {
          kind: 'follower replica',
          async run() {
            const leader = await waitLeader(mesh, m.cps);
            const counts = await Promise.all(m.cps.map(async (c) => (await localAgents(mesh, c)).length));
            const followers = m.cps.filter((c) => c !== leader);
            const busiest = followers.reduce((a, b) => (counts[m.cps.indexOf(b)]! > counts[m.cps.indexOf(a)]! ? b : a));
            return replicaKill(busiest, false);
          },
        },
        {
          kind: 'etcd member',
          async run() {
            const member = await etcdLeader(m.etcd.members);
            await member.kill();
            return {
              what: `${member.name} (etcd's raft leader)`,
              // Detection: the other two elect a new raft leader.
              detected: () => etcdLeader(m.etcd.members.filter((x) => x !== member)),
              restart: () => member.restart(),
            };
          },
        },
      ];

      const rounds = pick(1, 3);
      const downMs = pick(3_000, 10_000);
      const bound = 150_000 * rounds;
      const loads = m.callers.map((c) => steadyLoad(c.host.ip, PORTS.outbound, 'hello', { rate: 40, maxMs: bound }));
      const writes = adminWrites(mesh, m.cps, { gapMs: 100, maxMs: bound });
      await waitFor(
        'requests and writes before the first kill',
        () => loads.every((l) => l.samples.length >= 20) && writes.acknowledged.length >= 5,
      );
      const rows: Array<Omit<ChaosFigures, 'requests' | 'failed'> & { from: number; to: number }> = [];
      for (let round = 0; round < rounds; round++)
        for (const k of kills) {
          const killed = Date.now();
          const step = await k.run();
          let detectionS: number | undefined;
          if (step.detected) {
            await step.detected();
            detectionS = (Date.now() - killed) / 1000;
          }
          // It stays dead a while: the mesh runs without it, under load and writes.
          await waitFor(`${k.kind} to have been down ${downMs} ms`, () => Date.now() - killed >= downMs, {
            timeoutMs: downMs + 1_000,
          });
          const restarted = Date.now();
          await step.restart();
          await waitHealthy(m, mesh);
          const recoveryS = (Date.now() - restarted) / 1000;
          rows.push({
            scenario: `kill -9 ${k.kind}${rounds > 1 ? ` (round ${round + 1})` : ''}`,
            mode: LONG ? 'long' : 'short',
            ...(detectionS === undefined ? {} : { detectionS }),
            recoveryS,
            note: `${step.what}, down ${downMs / 1000} s`,
            from: killed,
            to: Date.now(),
          });
        }
      expect((await healthyIds(m.callers[0]!, 'hello')).join()).toBe(allUp);
      await writes.stop();
      const samples = (await Promise.all(loads.map((l) => l.stop()))).flat();
      const lost = await lostWrites(mesh, m.cps, writes.acknowledged);
      const within = (s: Sample, r: { from: number; to: number }) => s.at >= r.from && s.at < r.to;
      for (const [i, { from, to, ...r }] of rows.entries()) {
        const mine = samples.filter((s) => within(s, { from, to }));
        const last = i === rows.length - 1;
        record({
          ...r,
          requests: mine.length,
          failed: failures(mine).length,
          ...(last
            ? {
                note:
                  `${r.note}; whole run: ${samples.length} requests, ${failures(samples).length} failed, admin writes ` +
                  `${writes.acknowledged.length} acknowledged, ${writes.refused.length} refused, ${lost.length} lost`,
              }
            : {}),
        });
      }
      expect(failures(samples).slice(0, 5)).toEqual([]);
      expect(lost).toEqual([]);
    },
    pick(120_000, 900_000),
  );
});

/** The member etcd names as its raft leader (`/v3/maintenance/status` through any running member). */
async function etcdLeader(members: readonly EtcdMember[]): Promise<EtcdMember> {
  return waitFor('etcd to name its leader', async () => {
    const ids = await Promise.all(
      members.map(async (m) => {
        const res = await fetch(`${m.clientUrl}/v3/maintenance/status`, {
          method: 'POST',
          body: '{}',
          signal: AbortSignal.timeout(2_000),
        });
        const s = (await res.json()) as { header: { member_id: string }; leader: string };
        return { m, id: s.header.member_id, leader: s.leader };
      }),
    );
    return ids.find((x) => x.id === x.leader)?.m;
  });
}
