import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../harness/mesh.js';
import { waitFor } from '../harness/wait.js';
import type { CpNode } from '../chaos/lib/chaos-mesh.js';
import { chaosSuite } from '../chaos/lib/chaos-suite.js';
import { Faults } from '../chaos/lib/faults.js';
import { localAgents } from '../chaos/lib/replicas.js';
import { type Contender, CoordMesh } from './lib/coord-mesh.js';
import { beliefsOf, checkElection, type ElectionEvent } from './lib/election-checker.js';
import { historyText, recordRun, withReport } from './lib/run-figures.js';

// Leader election under kill -9 (issue 18): three candidates, each an app
// behind its own agent on its own host, campaign for one election through
// their agent's admin API (default lease: 3 s) and renew once elected; each
// records what it believes (term, from, until its lease end by its own
// clock). Killed in turn: the leader's app, then the leader's agent, then the
// control-plane leader replica (3 replicas on a 3-member etcd). Each time a
// leader is back within the bound (a dead leader replaced within 5 s
// by default), measured, with a deadline of that bound plus a margin for a
// loaded machine; terms strictly increasing; never two apps that both
// believe they lead for longer than the lease.

const SERVICE = 'elect';
const ELECTION = 'leader';
const LEASE_MS = 3000;
/** The bound (5 s) and a margin for a loaded two-core machine: a deadline, not a timed assertion. */
const DEADLINE_MS = 5_000 + 10_000;
const CANDIDATES = ['cand-1', 'cand-2', 'cand-3'];
const SCRIPT = join(ROOT, 'test', 'coordination', 'lib', 'election-app.mjs');

interface Seen {
  c: Contender;
  term: number;
  /** When it was elected (or, for a leader that kept its term, when it renewed). */
  at: number;
}

describe('leader election under kill -9', () => {
  const suite = chaosSuite();
  const m = new CoordMesh(suite);
  const events = (): ElectionEvent[] =>
    m.contenders.flatMap((c) =>
      historyText(c)
        .split('\n')
        .filter(Boolean)
        .flatMap((l) => {
          try {
            return [JSON.parse(l) as ElectionEvent];
          } catch {
            return [];
          }
        }),
    );
  const byApp = (app: string) => m.contenders.find((c) => c.id === app) as Contender;

  /** The candidate that believes it leads now (a belief whose lease has not ended, no end recorded after it). */
  const leaderNow = (): Seen | undefined => {
    const now = Date.now();
    const live = beliefsOf(events()).filter((b) => b.from <= now && b.until > now);
    const b = live.at(-1);
    return b ? { c: byApp(b.app), term: b.term, at: b.from } : undefined;
  };

  /** Waits for a candidate elected after `t0` with a term above `term`. */
  const electedAfter = (t0: number, term: number) =>
    waitFor(
      `a leader elected after ${new Date(t0).toISOString()} with a term above ${term}`,
      () => {
        const b = beliefsOf(events()).find((x) => x.from >= t0 && x.term > term);
        return b ? { c: byApp(b.app), term: b.term, at: b.from } : undefined;
      },
      { timeoutMs: DEADLINE_MS, intervalMs: 50 },
    );

  /** Waits for a leader confirmed (elected or renewed) after `t0`: the same one keeping its term, or a new one. */
  const leadingAfter = (t0: number) =>
    waitFor(
      `a leader elected or renewed after ${new Date(t0).toISOString()}`,
      () => {
        const e = events()
          .filter((x): x is Extract<ElectionEvent, { type: 'belief' }> => x.type === 'belief' && (x.at ?? x.from) > t0)
          .sort((a, b) => (a.at ?? a.from) - (b.at ?? b.from))[0];
        return e ? { c: byApp(e.app), term: e.term, at: e.at ?? e.from } : undefined;
      },
      { timeoutMs: DEADLINE_MS, intervalMs: 50 },
    );

  /** A killed app believes nothing from its death on: its history says so (it could not write it itself). */
  const diedAt = (s: Seen, at: number) =>
    appendFileSync(s.c.history, `${JSON.stringify({ type: 'end', app: s.c.id, term: s.term, at, why: 'killed' })}\n`);

  /** Moves `c`'s agent onto `cp` when it is on another replica (cut off from the others until it is there); whether it moved. */
  const onReplica = async (c: Contender, cp: CpNode): Promise<boolean> => {
    if ((await localAgents(suite.mesh, cp)).includes(c.id)) return false;
    const cut = new Faults(c.host);
    cut.partition(m.cps.filter((x) => x !== cp).map((x) => x.host));
    try {
      await waitFor(
        `${c.id} to be on ${cp.host.name}`,
        async () => (await localAgents(suite.mesh, cp)).includes(c.id),
        {
          timeoutMs: 30_000,
          intervalMs: 100,
        },
      );
    } finally {
      cut.heal();
    }
    return true;
  };

  beforeAll(async () => {
    await m.startControlPlanes();
  }, 180_000);

  it(
    "kill -9 of the leader's app, of its agent, of the leader replica: a leader again within the bound, terms increasing, no two beliefs overlapping past the lease",
    () =>
      withReport(m.contenders, async () => {
        const options = (app: string) => ({ name: ELECTION, app, maxMs: 600_000 });
        for (const id of CANDIDATES) await m.contender(id, SERVICE, SCRIPT, options(id));
        const first = await waitFor('a first leader', leaderNow, { timeoutMs: 30_000 });
        const phases: Array<Record<string, unknown>> = [];

        // 1. The leader's app: no more renewals, its instance fails its health checks.
        let t0 = Date.now();
        await first.c.app?.stop('SIGKILL');
        diedAt(first, t0);
        const second = await electedAfter(t0, first.term);
        phases.push({
          killed: `app of ${first.c.id}`,
          term: first.term,
          next: second.c.id,
          nextTerm: second.term,
          s: (second.at - t0) / 1000,
        });
        first.c.startApp(options(first.c.id));

        // 2. The leader's agent: its stream gone, its app's renewals refused at once.
        const before2 = await waitFor('the second leader still leading', leaderNow, { timeoutMs: 10_000 });
        t0 = Date.now();
        await before2.c.agent.stop('SIGKILL');
        const third = await electedAfter(t0, before2.term);
        phases.push({
          killed: `agent of ${before2.c.id}`,
          term: before2.term,
          next: third.c.id,
          nextTerm: third.term,
          s: (third.at - t0) / 1000,
        });
        await before2.c.restartAgent();

        // 3. The control-plane leader replica, with the leading app's agent on it (moved there first if it is
        // elsewhere: cut off from the other replicas until it is, then healed). The election's lease lives in
        // etcd: the agent reconnects to another replica and renews there, or loses the term to a new leader.
        const leaderCp = await m.leader();
        // Moving it can cost it its term (renewals fail while its stream moves): then the new leader moves.
        let moves = 0;
        let before3 = await waitFor('a leader before the replica is killed', leaderNow, { timeoutMs: 10_000 });
        for (let i = 0; i < 4 && (await onReplica(before3.c, leaderCp)); i++) {
          moves++;
          before3 = await waitFor('a leader before the replica is killed', leaderNow, { timeoutMs: 10_000 });
        }
        const agentOnKilled = (await localAgents(suite.mesh, leaderCp)).includes(before3.c.id);
        expect(agentOnKilled).toBe(true);
        t0 = Date.now();
        const cp = await m.killLeader();
        expect(cp).toBe(leaderCp);
        const fourth = await leadingAfter(t0);
        phases.push({
          killed: `leader replica ${cp.host.name}`,
          term: before3.term,
          next: fourth.c.id,
          nextTerm: fourth.term,
          s: (fourth.at - t0) / 1000,
          kept: fourth.term === before3.term,
          leaderAgentOnKilledReplica: agentOnKilled,
          agentMovesFirst: moves,
        });
        await cp.restart();
        await m.leader();
        // A moment of the whole mesh again, so that every belief after the faults is recorded too.
        const last = await waitFor('a leader after the replica is back', leaderNow, { timeoutMs: 15_000 });
        await Promise.all(m.contenders.map((c) => c.app?.stop('SIGKILL')));

        const beliefs = beliefsOf(events());
        const v = checkElection(beliefs, LEASE_MS);
        recordRun('election-chaos', {
          leaseMs: LEASE_MS,
          phases,
          elections: v.elections,
          terms: v.terms,
          maxOverlapMs: v.maxOverlapMs,
          overlaps: v.overlaps,
          lastLeader: last.c.id,
          violations: v.violations,
        });
        expect(v.violations).toEqual([]);
        expect(second.term).toBeGreaterThan(first.term);
        expect(second.c).not.toBe(first.c);
        expect(third.term).toBeGreaterThan(before2.term);
        expect(third.c).not.toBe(before2.c);
        expect(fourth.term).toBeGreaterThanOrEqual(before3.term);
      }),
    300_000,
  );
});
