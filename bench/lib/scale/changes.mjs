// Phase 3 of a bench/scale.mjs run: health changes, one at a time, each
// timed from the injecting agent's send to the last affected agent's ACK.
import { loadavg } from 'node:os';
import { fetchText, histograms } from '../control-plane-probe.mjs';
import { cpuOf } from '../process-group.mjs';
import { changePlan } from '../scale-topology.mjs';
import { sleep } from './control-planes.mjs';
import { CONVERGENCE_METRIC, sum, summarise } from './report.mjs';

/**
 * Runs the change plan of `topology` through `swarm` and fills
 * `result.changes`, `result.summary` and `result.changesCpu`. Returns the
 * control planes' convergence histograms from before the changes, so that
 * phase 4 can show the changes alone.
 */
export async function runChanges(ctx, run, swarm, topology) {
  const { opts, log } = ctx;
  const { changes, changeTimeoutMs, pauseMs, seed } = opts;
  const { cps, etcd, roleOf, checkLeader, result } = run;
  await swarm.all('resetLag');
  const metricsBefore = await Promise.all(cps.map((cp) => fetchText(`${cp.url}/metrics`)));
  const histogramsBefore = metricsBefore.map((t) => histograms(t, CONVERGENCE_METRIC));
  const etcdChildren = etcd ? etcd.members.map((m) => m.proc) : [];
  const changesCpu0 = [cpuOf(cps.map((cp) => cp.child)), cpuOf(etcdChildren), performance.now()];
  result.changes = [];
  const leaders = new Set();
  for (const c of changePlan(topology, changes, seed)) {
    const done = new Set();
    // Where the change is reported, and who leads as it is: asked before the change, outside the timing.
    const replica = swarm.replicaOf(c.agentIndex);
    const leaderAt = await checkLeader(`before change ${c.index + 1}`);
    if (etcd) leaders.add(leaderAt ?? 'none');
    const off = swarm.onEvent((child, e) => {
      if (e.event === 'watch-done' && e.key === c.index) done.add(child);
    });
    try {
      const watched = await swarm.all('watch', {
        key: c.index,
        service: c.service,
        endpointId: c.instanceId,
        expect: c.status,
      });
      let at;
      try {
        ({ at } = await swarm.ask(swarm.owner(c.agentIndex), 'inject', { agentIndex: c.agentIndex, status: c.status }));
      } catch (err) {
        // The injecting agent's stream was dropped (counted in the swarm's `dropped`, which the report
        // flags): the change is recorded as not injected, kept out of the percentiles, and the run goes on.
        if (!/is not connected here/.test(err instanceof Error ? err.message : String(err))) throw err;
        await swarm.all('unwatch');
        const row = {
          ...changeOf(c),
          injected: false,
          converged: false,
          convergenceMs: Number.NaN,
          ...(etcd ? { replica: cps[replica].replicaId, leader: leaderAt ?? null } : {}),
        };
        result.changes.push(row);
        log(
          `    change ${c.index + 1}/${changes} (${c.cls}: ${c.instanceId} ${c.status}): NOT INJECTED, agent ${c.agentIndex} is no longer connected`,
        );
        continue;
      }
      const deadline = Date.now() + changeTimeoutMs;
      while (done.size < swarm.size && Date.now() < deadline) {
        ctx.group.assertAlive();
        await sleep(2);
      }
      const r = await swarm.all('unwatch');
      const affected = sum(r, (x) => x.affected);
      const converged = sum(r, (x) => x.converged) === affected && sum(r, (x) => x.lost) === 0;
      const row = {
        ...changeOf(c),
        affected,
        declaredCallers: topology.callersOf(c.service),
        stale: sum(watched, (x) => x.stale),
        convergedAgents: sum(r, (x) => x.converged),
        converged,
        convergenceMs: converged ? Math.max(...r.map((x) => x.lastAckAt)) - at : Infinity,
        lastReceiveMs: converged ? Math.max(...r.map((x) => x.lastRecvAt)) - at : Infinity,
        ...(etcd
          ? {
              replica: cps[replica].replicaId,
              leader: leaderAt ?? null,
              injectedOn: leaderAt === undefined ? 'unknown' : roleOf(cps[replica].replicaId, leaderAt),
            }
          : {}),
      };
      result.changes.push(row);
      log(
        `    change ${c.index + 1}/${changes} (${c.cls}: ${c.instanceId} ${c.status}${etcd ? ` on ${row.replica}, ${row.injectedOn}` : ''}): ${affected} agents hold ${c.service}; ${converged ? `all ACKed in ${row.convergenceMs.toFixed(1)} ms` : `${row.convergedAgents} ACKed within ${changeTimeoutMs} ms: TIMEOUT`}${row.stale ? ` (${row.stale} already showed it)` : ''}`,
      );
    } finally {
      off();
    }
    await sleep(pauseMs);
  }
  const changesCpu1 = [cpuOf(cps.map((cp) => cp.child)), cpuOf(etcdChildren), performance.now()];
  result.loadAverage.afterChanges = loadavg()[0];
  result.summary = {
    all: summarise(result.changes.filter((c) => c.cls === 'all')),
    few: summarise(result.changes.filter((c) => c.cls === 'few')),
    overall: summarise(result.changes),
  };
  if (etcd) {
    // By where the change was reported: on the leader it is decided at once; on a follower it first
    // crosses etcd (the agent's registration write, the leader's watch).
    result.summary.byInjection = {};
    for (const where of ['leader', 'follower', 'unknown']) {
      for (const cls of ['all', 'few']) {
        const list = result.changes.filter((c) => c.injectedOn === where && c.cls === cls);
        if (list.length) result.summary.byInjection[`${where}/${cls}`] = summarise(list);
      }
    }
    result.leadersDuringChanges = [...leaders];
    await checkLeader('after the changes');
  }
  result.changesCpu = {
    seconds: (changesCpu1[2] - changesCpu0[2]) / 1000,
    controlPlaneSeconds: cps.map((_, r) => changesCpu1[0][r] - changesCpu0[0][r]),
    etcdSeconds: etcd ? sum(changesCpu1[1], (x) => x) - sum(changesCpu0[1], (x) => x) : undefined,
  };
  return histogramsBefore;
}

/** What a result row repeats of the change it measures. */
function changeOf(c) {
  return { index: c.index, cls: c.cls, service: c.service, instanceId: c.instanceId, status: c.status };
}
