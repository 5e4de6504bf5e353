// Phase 2 of a bench/scale.mjs run: the control planes' memory per agent
// with every agent connected and the background load (heartbeats,
// observations; with replicas, signal batches and etcd) running, and the CPU
// that load takes.
import { vmRssKiB } from '../control-plane-probe.mjs';
import { cpuOf } from '../process-group.mjs';
import { memorySnapshot, sleep } from './control-planes.mjs';
import { sum } from './report.mjs';

/**
 * Fills `result.memory` and `result.backgroundCpu` (and, with etcd, the
 * members' RSS in `result.etcd`) against the idle `before` snapshots that
 * `run` holds. `run`: { n, replicas, cps, etcd, leader, ownAgents, roleOf,
 * checkLeader, before, etcdBefore, result }.
 */
export async function measureMemory(ctx, run) {
  const { opts, log } = ctx;
  const { n, replicas, cps, etcd, leader, ownAgents, roleOf, checkLeader, before, etcdBefore, result } = run;
  const etcdChildren = etcd ? etcd.members.map((m) => m.proc) : [];
  // Memory, with the background load (heartbeats, observations; with
  // replicas, signal batches and etcd) running; and the CPU that load takes
  // in the 2 s before the figure.
  const bgCpu0 = [cpuOf(cps.map((cp) => cp.child)), cpuOf(etcdChildren), performance.now()];
  await sleep(opts.settle.loadedMs);
  const bgCpu1 = [cpuOf(cps.map((cp) => cp.child)), cpuOf(etcdChildren), performance.now()];
  const bgSeconds = (bgCpu1[2] - bgCpu0[2]) / 1000;
  const after = [];
  for (const cp of cps) after.push(await memorySnapshot(cp));
  const etcdAfter = etcd ? etcd.members.map((m) => vmRssKiB(m.proc.pid)) : undefined;
  const leaderNow = await checkLeader('at the memory snapshot');
  const total = (list, key) => (list.some((m) => m[key] === undefined) ? undefined : sum(list, (m) => m[key]));
  const minus = (a, b) => (a === undefined || b === undefined ? undefined : a - b);
  const perAgent = (a, b, k = n) => (a === undefined || b === undefined ? undefined : (a - b) / k);
  const baselines = before.map((b) => b.rssGcKiB ?? b.rssKiB);
  const baseline = sum(baselines, (x) => x);
  const rssAfter = total(after, 'rssKiB');
  result.memory = {
    rssBeforeKiB: baseline,
    rssAfterKiB: rssAfter,
    rssPerAgentKiB: (rssAfter - baseline) / n,
    rssBeforeRawKiB: total(before, 'rssKiB'),
    rssAfterGcKiB: total(after, 'rssGcKiB'),
    rssPerAgentAfterGcKiB: perAgent(total(after, 'rssGcKiB'), total(before, 'rssGcKiB')),
    heapUsedBeforeKiB: total(before, 'heapUsedKiB'),
    heapUsedAfterKiB: total(after, 'heapUsedKiB'),
    heapPerAgentKiB: perAgent(total(after, 'heapUsedKiB'), total(before, 'heapUsedKiB')),
    externalPerAgentKiB: perAgent(total(after, 'externalKiB'), total(before, 'externalKiB')),
    // One entry per control plane (one for a single control plane): its own delta, per agent of the
    // whole mesh (these add up to rssPerAgentKiB) and per agent connected to it.
    perReplica: cps.map((cp, r) => ({
      replicaId: cp.replicaId,
      role: roleOf(cp.replicaId, leaderNow ?? leader),
      agents: ownAgents[r],
      rssBeforeKiB: baselines[r],
      rssAfterKiB: after[r].rssKiB,
      rssDeltaKiB: after[r].rssKiB - baselines[r],
      rssPerAgentKiB: (after[r].rssKiB - baselines[r]) / n,
      rssPerOwnAgentKiB: (after[r].rssKiB - baselines[r]) / ownAgents[r],
      rssPerAgentAfterGcKiB: perAgent(after[r].rssGcKiB, before[r].rssGcKiB),
      heapUsedBeforeKiB: before[r].heapUsedKiB,
      heapUsedAfterKiB: after[r].heapUsedKiB,
      heapDeltaKiB: minus(after[r].heapUsedKiB, before[r].heapUsedKiB),
      heapPerAgentKiB: perAgent(after[r].heapUsedKiB, before[r].heapUsedKiB),
      heapPerOwnAgentKiB: perAgent(after[r].heapUsedKiB, before[r].heapUsedKiB, ownAgents[r]),
    })),
  };
  result.backgroundCpu = {
    seconds: bgSeconds,
    controlPlanePercent: cps.map((_, r) => (100 * (bgCpu1[0][r] - bgCpu0[0][r])) / bgSeconds),
    etcdPercent: etcd ? (100 * (sum(bgCpu1[1], (x) => x) - sum(bgCpu0[1], (x) => x))) / bgSeconds : undefined,
  };
  const m = result.memory;
  const mib = (k) => (k / 1024).toFixed(1);
  const heapAfterGc =
    m.heapPerAgentKiB === undefined
      ? ''
      : `; after GC: RSS ${mib(m.rssAfterGcKiB)} MiB (${m.rssPerAgentAfterGcKiB.toFixed(1)} KiB per agent), heap ${mib(m.heapUsedBeforeKiB)} -> ${mib(m.heapUsedAfterKiB)} MiB (${m.heapPerAgentKiB.toFixed(1)} KiB per agent)`;
  log(
    `    control plane${replicas > 1 ? `s (sum of ${replicas})` : ''} RSS ${mib(m.rssBeforeKiB)} MiB idle${before[0].rssGcKiB === undefined ? '' : ' (after GC)'} -> ${mib(m.rssAfterKiB)} MiB loaded: ${m.rssPerAgentKiB.toFixed(1)} KiB per agent${heapAfterGc}`,
  );
  log(
    `    background load over ${bgSeconds.toFixed(1)} s: control plane CPU ${result.backgroundCpu.controlPlanePercent.map((x) => `${x.toFixed(0)}%`).join(' / ')}${etcd ? `, etcd (3 members) ${result.backgroundCpu.etcdPercent.toFixed(0)}%` : ''}`,
  );
  if (etcd) {
    for (const p of m.perReplica)
      log(
        `      ${p.replicaId} (${p.role}, ${p.agents} agents): RSS ${mib(p.rssBeforeKiB)} -> ${mib(p.rssAfterKiB)} MiB, +${mib(p.rssDeltaKiB)} MiB = ${p.rssPerOwnAgentKiB.toFixed(1)} KiB per own agent${p.heapDeltaKiB === undefined ? '' : `; heap +${mib(p.heapDeltaKiB)} MiB`}`,
      );
    result.etcd.rss = etcd.members.map((mm, i) => ({
      name: mm.name,
      rssBeforeKiB: etcdBefore[i],
      rssAfterKiB: etcdAfter[i],
    }));
    result.etcd.rssAfterKiB = sum(etcdAfter, (x) => x);
    result.etcd.rssPerAgentKiB = (sum(etcdAfter, (x) => x) - sum(etcdBefore, (x) => x)) / n;
    log(
      `      etcd members: RSS ${mib(sum(etcdBefore, (x) => x))} -> ${mib(result.etcd.rssAfterKiB)} MiB in all (${result.etcd.rssPerAgentKiB.toFixed(1)} KiB per agent; not counted above)`,
    );
  }
}
