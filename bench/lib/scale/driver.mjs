// One size of a bench/scale.mjs run: the control planes, the swarm of
// simulated agents, and the four phases (connect, memory, changes, the
// control plane's own metrics), each result written into `result`.
import { loadavg } from 'node:os';
import { join } from 'node:path';
import {
  bucketQuantile,
  fetchText,
  histogramMinus,
  histograms,
  metricValue,
  tableMessagesByKind,
  vmRssKiB,
} from '../control-plane-probe.mjs';
import { mintJoinCredentials, writeJoinCredentials } from '../join-credentials.mjs';
import { scaleTopology } from '../scale-topology.mjs';
import { SwarmGroup } from '../swarm-group.mjs';
import { runChanges } from './changes.mjs';
import {
  agreedLeader,
  ETCD_LEASE_TTL_S,
  ETCD_MEMBERS,
  memorySnapshot,
  sleep,
  startControlPlanes,
  until,
} from './control-planes.mjs';
import { measureMemory } from './memory.mjs';
import { CONVERGENCE_METRIC, f1, sum } from './report.mjs';

function progressLine(n, st, startedAt) {
  const s = (f) => sum(st, f);
  return `    ${((Date.now() - startedAt) / 1000).toFixed(1)} s: ${s((x) => x.open)}/${n} connected, ${s((x) => x.withTable)} with a table${s((x) => x.missingUpstreams) ? ` (${s((x) => x.missingUpstreams)} lacking an upstream)` : ''}, ${s((x) => x.failed)} failed, ${s((x) => x.dropped)} dropped, ${s((x) => x.routes)} tables received (${(s((x) => x.routeBytes) / 2 ** 20).toFixed(0)} MiB), versions ${sum(st, (x) => x.withTable) ? `${Math.min(...st.filter((x) => x.withTable).map((x) => x.minVersion))}..${Math.max(...st.map((x) => x.maxVersion))}` : '-'}`;
}

// --- one size --------------------------------------------------------------

export async function runSize(ctx, n, replicas, result) {
  const { opts, log, root } = ctx;
  const { seed, procs, observations, connectBatch, heartbeatTimeoutMs } = opts;
  const topology = scaleTopology({ agents: n, seed });
  log(
    `N=${n}, ${replicas === 1 ? 'one control plane (file store)' : `${replicas} replicas on ${ETCD_MEMBERS} etcd members`}: ${topology.services} services, ${procs} swarm processes, observations ${observations ? 'on' : 'off'}`,
  );
  // Other work on a shared machine shows here (1-minute load average, at the start and after the changes).
  result.loadAverage = { start: loadavg()[0] };
  const { cps, etcd, leader } = await startControlPlanes(ctx, n, replicas);
  const ownAgents = cps.map((_, r) => Math.floor(n / replicas) + (r < n % replicas ? 1 : 0));
  Object.assign(result, {
    services: topology.services,
    procs,
    observations,
    heartbeatTimeoutMs: heartbeatTimeoutMs ?? 'default',
  });
  if (etcd) {
    result.etcd = { members: ETCD_MEMBERS, leaseTtlSeconds: ETCD_LEASE_TTL_S, endpoints: etcd.endpoints };
    result.leader = leader;
    log(
      `    ${cps.map((cp) => `${cp.replicaId} ${cp.url}`).join(', ')}; leader ${leader}; agent i connects to replica i % ${replicas} (${ownAgents.join(' / ')} agents)`,
    );
  }
  const roleOf = (replicaId, leaderId) =>
    replicas === 1 ? 'standalone' : replicaId === leaderId ? 'leader' : 'follower';
  // Who leads, asked now and then (while connecting, at each step, before each change); every change
  // of leader is kept with when it was seen and the tail of the former leader's output (log level warn).
  const runStartedAt = Date.now();
  let knownLeader = leader;
  if (etcd) result.leaderTimeline = [{ atSeconds: 0, phase: 'start', leader }];
  const checkLeader = async (phase) => {
    if (!etcd) return undefined;
    const now = (await agreedLeader(cps)) ?? null;
    if (now !== knownLeader) {
      const former = cps.find((cp) => cp.replicaId === knownLeader);
      result.leaderTimeline.push({
        atSeconds: (Date.now() - runStartedAt) / 1000,
        phase,
        leader: now,
        formerLeaderOutputTail: former ? former.child.tail().slice(-1500) : null,
      });
      log(`    leader ${knownLeader ?? 'none'} -> ${now ?? 'none (not agreed)'} (seen ${phase})`);
      knownLeader = now;
    }
    return now ?? undefined;
  };
  // An idle process never collects its start-up garbage (tens of MiB); a
  // loaded one soon does. So the baseline is taken after forced GCs when the
  // inspector is there, and the loaded figure as it is (conservative: it
  // includes the garbage the load keeps in flight), and after GCs too.
  await sleep(opts.settle.baselineMs);
  const before = [];
  for (const cp of cps) before.push(await memorySnapshot(cp));
  const etcdBefore = etcd ? etcd.members.map((m) => vmRssKiB(m.proc.pid)) : undefined;

  // One join credential per service, minted through the first control plane (replicas share the store):
  // every replica must list them all before an agent says hello, or a follower behind the store refuses it.
  const services = Array.from({ length: topology.services }, (_, s) => `svc-${s}`);
  const credentials = await mintJoinCredentials(cps[0].url, services);
  await until(
    ctx,
    'every control plane to know every join credential',
    async () => {
      const counts = await Promise.all(
        cps.map(async (cp) => ((await (await fetch(`${cp.url}/v1/join-credentials`)).json()).items ?? []).length),
      );
      return counts.every((c) => c >= services.length);
    },
    60_000,
  );
  const credentialsFile = writeJoinCredentials(join(ctx.dir, `join-credentials-${n}-r${replicas}.json`), credentials);
  const swarm = new SwarmGroup(ctx.group, {
    credentialsFile,
    streamUrls: cps.map((cp) => cp.streamUrl),
    agents: n,
    seed,
    procs,
    observations,
    connectBatch,
    cwd: root,
  });
  try {
    // 1. Connect, and wait for every agent to hold a table and for the pushes to stop.
    const startedAt = Date.now();
    await swarm.all('start');
    let lastLine = 0;
    let st;
    await until(
      ctx,
      `all ${n} agents to ACK a table and the pushes to settle`,
      async () => {
        st = await swarm.all('status');
        if (Date.now() - lastLine >= 2000) {
          lastLine = Date.now();
          log(progressLine(n, st, startedAt));
          await checkLeader('while connecting');
        }
        const failed = sum(st, (x) => x.failed + x.dropped);
        if (failed > 0)
          throw new Error(
            `${failed} agents could not connect or were dropped (close codes ${JSON.stringify(Object.assign({}, ...st.map((x) => x.closeCodes)))})`,
          );
        const quietFor = Date.now() - Math.max(...st.map((x) => x.lastRoutesAt));
        // With replicas, the other replicas' agents reach the leader through etcd, and the tables can pause
        // for a second before it knows them all: wait until every agent's table holds all its upstreams too.
        const complete = replicas === 1 || sum(st, (x) => x.missingUpstreams) === 0;
        return sum(st, (x) => x.withTable) === n && quietFor >= opts.settle.quietMs && complete;
      },
      opts.readyTimeoutMs(n),
      250,
      () => st && progressLine(n, st, startedAt).trim(),
    );
    log(progressLine(n, st, startedAt));
    await checkLeader('when every agent held a table');
    result.ready = {
      seconds: (Date.now() - startedAt) / 1000,
      tablesReceived: sum(st, (x) => x.routes),
      tableMiB: sum(st, (x) => x.routeBytes) / 2 ** 20,
      meanServicesPerTable: sum(st, (x) => x.meanTableServices * x.withTable) / n,
      agentsMissingAnUpstream: sum(st, (x) => x.missingUpstreams),
    };
    log(
      `    all ${n} agents hold a table after ${result.ready.seconds.toFixed(1)} s; ${result.ready.meanServicesPerTable.toFixed(1)} services per table on average${result.ready.agentsMissingAnUpstream ? `; ${result.ready.agentsMissingAnUpstream} agents lack one of their upstreams` : ''}`,
    );

    // 2. Memory and background CPU; 3. health changes, one at a time.
    const run = { n, replicas, cps, etcd, leader, ownAgents, roleOf, checkLeader, before, etcdBefore, result };
    await measureMemory(ctx, run);
    await sleep(opts.settle.beforeChangesMs);
    const histogramsBefore = await runChanges(ctx, run, swarm, topology);

    // 4. The control plane's own view, over the whole run and over the changes alone (each replica's).
    const texts = await Promise.all(cps.map((cp) => fetchText(`${cp.url}/metrics`)));
    const view = (h) => ({
      labels: h.labels,
      count: h.count,
      sumSeconds: h.sum,
      p50UpperBoundS: bucketQuantile(h, 0.5),
      p99UpperBoundS: bucketQuantile(h, 0.99),
      buckets: h.buckets,
    });
    const describe = (h) =>
      `count ${h.count}, mean ${f1((h.sum / h.count) * 1000)} ms, p50 <= ${bucketQuantile(h, 0.5)} s, p99 <= ${bucketQuantile(h, 0.99)} s`;
    const cpMetrics = texts.map((text, r) => {
      const hs = histograms(text, CONVERGENCE_METRIC);
      const duringChanges = hs.map((h) =>
        histogramMinus(
          h,
          histogramsBefore[r].find((b) => b.labels === h.labels),
        ),
      );
      if (hs.length === 0)
        log(
          `    /metrics${etcd ? ` of ${cps[r].replicaId}` : ''} has no ${CONVERGENCE_METRIC} histogram (not implemented by this control plane yet)`,
        );
      for (const [i, h] of hs.entries()) {
        log(
          `    ${etcd ? `${cps[r].replicaId}'s` : "the control plane's"} ${CONVERGENCE_METRIC}{${h.labels}} (bucket bounds; from its decision, not the agent's send): whole run ${describe(h)}; during the changes ${describe(duringChanges[i])}`,
        );
      }
      return {
        convergence: hs.length ? hs.map(view) : null,
        convergenceDuringChanges: hs.length ? duringChanges.map(view) : null,
        nacksTotal: metricValue(text, 'meshlet_cp_nacks_total') ?? null,
        rejectedTotal: metricValue(text, 'meshlet_cp_stream_rejected_messages_total') ?? null,
        tableMessages: tableMessagesByKind(text),
      };
    });
    if (etcd) result.cpMetricsByReplica = cps.map((cp, r) => ({ replicaId: cp.replicaId, ...cpMetrics[r] }));
    else result.cpMetrics = cpMetrics[0];
    st = await swarm.all('status');
    result.swarm = {
      fullTables: sum(st, (x) => x.fullTables),
      deltaTables: sum(st, (x) => x.deltaTables),
      dropped: sum(st, (x) => x.dropped),
      nacksSent: sum(st, (x) => x.nacks),
      errorsReceived: Object.assign({}, ...st.map((x) => x.errors)),
      maxEventLoopLagMs: Math.max(...st.map((x) => x.lagMaxMs)),
      rssKiB: st.map((x) => x.rssKiB),
      closeCodes: Object.assign({}, ...st.map((x) => x.closeCodes)),
    };
    log(
      `    swarm: ${result.swarm.fullTables} full tables and ${result.swarm.deltaTables} deltas received, ${result.swarm.dropped} dropped${result.swarm.dropped ? ` (close codes ${JSON.stringify(result.swarm.closeCodes)})` : ''}, ${result.swarm.nacksSent} NACKs sent, errors received ${JSON.stringify(result.swarm.errorsReceived)}, max event-loop lag during the changes ${result.swarm.maxEventLoopLagMs.toFixed(0)} ms`,
    );
  } finally {
    // A failed run still says what the swarm saw (drops and their close codes), when it can.
    if (!result.swarm) {
      try {
        const st = await swarm.all('status', {}, 5000);
        result.swarm = {
          dropped: sum(st, (x) => x.dropped),
          failed: sum(st, (x) => x.failed),
          closeCodes: Object.assign({}, ...st.map((x) => x.closeCodes)),
          errorsReceived: Object.assign({}, ...st.map((x) => x.errors)),
          nacksSent: sum(st, (x) => x.nacks),
        };
      } catch {
        // the swarm itself is gone
      }
    }
    await swarm.stop();
  }
}
