// bench/scale.mjs's report: convergence summaries, the replicas / one
// control plane comparison, the markdown tables on stdout and the targets.
import { statfsSync } from 'node:fs';
import { cpus } from 'node:os';
import { percentile } from '../fixed-rate-load.mjs';
import { POPULAR_SERVICE } from '../scale-topology.mjs';
import { ETCD_LEASE_TTL_S, ETCD_MEMBERS } from './control-planes.mjs';

/** What the issue asks of one control plane, at the sizes it names. */
export const TARGETS = [
  { agents: 1000, what: 'p99 convergence', key: 'p99', max: 250, unit: 'ms' },
  { agents: 1000, what: 'control-plane RSS per agent', key: 'rssPerAgentKiB', max: 100, unit: 'KiB' },
  { agents: 5000, what: 'p99 convergence', key: 'p99', max: 2000, unit: 'ms' },
];

/** The control plane's own convergence histogram, read from /metrics. */
export const CONVERGENCE_METRIC = 'meshlet_cp_convergence_seconds';

/** The sum of `f` over `xs`. */
export const sum = (xs, f) => xs.reduce((s, x) => s + f(x), 0);
/** A figure for the tables: 0 or 1 decimal, "timeout" for Infinity, "-" when missing. */
export const f0 = (x) => (Number.isFinite(x) ? x.toFixed(0) : x === Infinity ? 'timeout' : '-');
export const f1 = (x) => (Number.isFinite(x) ? x.toFixed(1) : x === Infinity ? 'timeout' : '-');

/** p50, p99 (nearest rank: with 10 changes it is the maximum) and max of convergence; a timeout counts as Infinity. */
export function summarise(all) {
  // A change whose agent had been dropped before it could send it was never made: not a timeout.
  const list = all.filter((c) => c.injected !== false);
  const ms = list.map((c) => c.convergenceMs).sort((a, b) => a - b);
  const affected = list.map((c) => c.affected).sort((a, b) => a - b);
  return {
    changes: list.length,
    affectedMedian: percentile(affected, 50),
    affectedMin: affected[0],
    affectedMax: affected[affected.length - 1],
    p50: percentile(ms, 50),
    p99: percentile(ms, 99),
    max: ms[ms.length - 1] ?? Number.NaN,
    timeouts: list.filter((c) => !c.converged).length,
    ...(all.length > list.length ? { notInjected: all.length - list.length } : {}),
  };
}

/** What kind of file system holds `path` (statfs magic number), to say whether etcd's fsyncs reach a disk. */
export function fileSystemOf(path) {
  const names = {
    0xef53: 'ext4 (ext2/3/4)',
    0x01021994: 'tmpfs',
    0x58465342: 'xfs',
    0x9123683e: 'btrfs',
    0x794c7630: 'overlayfs',
    0x6a656a63: 'virtiofs',
  };
  try {
    const type = statfsSync(path).type;
    return names[type] ?? `type 0x${type.toString(16)}`;
  } catch {
    return 'unknown';
  }
}

/** `b / a`, as a number (NaN when either is missing, Infinity for a timeout on b's side). */
const ratio = (a, b) => (Number.isFinite(a) && a > 0 && (Number.isFinite(b) || b === Infinity) ? b / a : Number.NaN);
const fx = (x) => (Number.isFinite(x) ? `${x.toFixed(2)}x` : x === Infinity ? 'timeout' : '-');

/** For each N measured with one control plane and with R replicas: R / 1 for p50, p99 (per class) and RSS per agent. */
export function compare(runs) {
  const out = [];
  for (const r of runs) {
    if (r.replicas === 1) continue;
    const one = runs.find((x) => x.agents === r.agents && x.replicas === 1);
    if (!one) continue;
    const ok = !one.error && !r.error;
    const cls = (c) =>
      ok
        ? {
            p50: {
              one: one.summary[c].p50,
              replicated: r.summary[c].p50,
              ratio: ratio(one.summary[c].p50, r.summary[c].p50),
            },
            p99: {
              one: one.summary[c].p99,
              replicated: r.summary[c].p99,
              ratio: ratio(one.summary[c].p99, r.summary[c].p99),
            },
          }
        : null;
    const mem = (k) =>
      one.memory && r.memory
        ? { one: one.memory[k], replicated: r.memory[k], ratio: ratio(one.memory[k], r.memory[k]) }
        : null;
    out.push({
      agents: r.agents,
      replicas: r.replicas,
      all: cls('all'),
      few: cls('few'),
      overall: cls('overall'),
      rssPerAgentKiB: mem('rssPerAgentKiB'),
      rssPerAgentAfterGcKiB: mem('rssPerAgentAfterGcKiB'),
      heapPerAgentKiB: mem('heapPerAgentKiB'),
    });
  }
  return out;
}

/** The text of the report (markdown tables) and the targets' verdicts, from every run of `opts`. */
export function report(runs, comparison, etcdInfo, opts) {
  const { replicaCounts, procs, observations, heartbeatTimeoutMs } = opts;
  const results = runs.filter((r) => r.replicas === 1);
  // Only one control plane asked for: today's table exactly. Otherwise a replicas column and each replica's memory.
  const withReplicas = runs.some((r) => r.replicas !== 1);
  const lines = withReplicas
    ? [
        `| N | replicas | services | class | changes | affected callers (median; overall: range) | p50 ms | p99 ms | max ms | timeouts | CP RSS KiB/agent | CP heap KiB/agent | per replica: RSS delta MiB (KiB per own agent) |`,
        '|---|---|---|---|---|---|---|---|---|---|---|---|---|',
      ]
    : [
        `| N | services | class | changes | affected callers (median; overall: range) | p50 ms | p99 ms | max ms | timeouts | CP RSS KiB/agent | CP heap KiB/agent |`,
        '|---|---|---|---|---|---|---|---|---|---|---|',
      ];
  const rep = (r) => (withReplicas ? ` ${r.replicas} |` : '');
  const perReplica = (r) =>
    r.memory.perReplica
      .map(
        (p) =>
          `${p.replicaId}${p.role === 'leader' ? ' (L)' : ''} ${f1(p.rssDeltaKiB / 1024)} (${f1(p.rssPerOwnAgentKiB)})`,
      )
      .join(', ');
  for (const r of runs) {
    if (r.error) {
      lines.push(
        `| ${r.agents} |${rep(r)} ${r.services ?? '-'} | failed: ${r.error.split('\n')[0].replace(/\|/g, '/')} | | | | | | | ${r.memory ? f1(r.memory.rssPerAgentKiB) : '-'} | |${withReplicas ? ` ${r.memory ? perReplica(r) : ''} |` : ''}`,
      );
      continue;
    }
    for (const cls of ['all', 'few', 'overall']) {
      const s = r.summary[cls];
      const mem =
        cls === 'overall'
          ? [
              f1(r.memory.rssPerAgentKiB),
              f1(r.memory.heapPerAgentKiB),
              ...(withReplicas ? [r.replicas === 1 ? '-' : perReplica(r)] : []),
            ]
          : ['', '', ...(withReplicas ? [''] : [])];
      lines.push(
        `| ${r.agents} |${rep(r)} ${r.services} | ${cls === 'all' ? `all (${POPULAR_SERVICE})` : cls === 'few' ? 'few (other)' : 'overall'} | ${s.changes} | ${cls === 'overall' ? `${s.affectedMin}..${s.affectedMax}` : f0(s.affectedMedian)} | ${f1(s.p50)} | ${f1(s.p99)} | ${f1(s.max)} | ${s.timeouts} | ${mem.join(' | ')} |`,
      );
    }
  }
  const extra = [];
  if (comparison.length) {
    extra.push('', 'Replicas / one control plane (same N, topology and changes; ratio = replicated / single):', '');
    extra.push(
      '| N | replicas | class | p50 ms (1 -> R) | p50 ratio | p99 ms (1 -> R) | p99 ratio | CP RSS KiB/agent (1 -> R) | RSS ratio | after GC: RSS KiB/agent (1 -> R) | ratio | heap KiB/agent (1 -> R) | ratio |',
    );
    extra.push('|---|---|---|---|---|---|---|---|---|---|---|---|---|');
    for (const c of comparison) {
      for (const cls of ['all', 'few', 'overall']) {
        const x = c[cls];
        const pair = (m) => (m ? `${f1(m.one)} -> ${f1(m.replicated)} | ${fx(m.ratio)}` : '- | -');
        const mem =
          cls === 'overall'
            ? [c.rssPerAgentKiB, c.rssPerAgentAfterGcKiB, c.heapPerAgentKiB].map(pair).join(' | ')
            : ' | | | | | ';
        extra.push(
          x
            ? `| ${c.agents} | ${c.replicas} | ${cls} | ${f1(x.p50.one)} -> ${f1(x.p50.replicated)} | ${fx(x.p50.ratio)} | ${f1(x.p99.one)} -> ${f1(x.p99.replicated)} | ${fx(x.p99.ratio)} | ${mem} |`
            : `| ${c.agents} | ${c.replicas} | ${cls} | failed | | | | ${mem} |`,
        );
      }
    }
  }
  const replicated = runs.filter((r) => r.replicas !== 1 && !r.error);
  if (replicated.length) {
    extra.push(
      '',
      'Replicated runs by where the change was reported (on a follower it reaches the leader through etcd first):',
      '',
    );
    extra.push('| N | replicas | reported on | class | changes | p50 ms | p99 ms | max ms | timeouts |');
    extra.push('|---|---|---|---|---|---|---|---|---|');
    for (const r of replicated) {
      for (const [k, s] of Object.entries(r.summary.byInjection ?? {})) {
        const [where, cls] = k.split('/');
        extra.push(
          `| ${r.agents} | ${r.replicas} | ${where} | ${cls} | ${s.changes} | ${f1(s.p50)} | ${f1(s.p99)} | ${f1(s.max)} | ${s.timeouts} |`,
        );
      }
    }
    extra.push('');
    for (const r of replicated) {
      const cpu = r.backgroundCpu;
      const moves = (r.leaderTimeline ?? []).slice(1);
      extra.push(
        `- N=${r.agents}, ${r.replicas} replicas: leader ${r.leader}${moves.map((t) => `, then ${t.leader ?? 'none'} (seen ${t.phase}, ${t.atSeconds.toFixed(1)} s into the run)`).join('')}; etcd members' RSS ${f1(r.etcd.rssAfterKiB / 1024)} MiB in all, +${f1(r.etcd.rssPerAgentKiB)} KiB per agent (not in the CP columns); background CPU: replicas ${cpu.controlPlanePercent.map((x) => `${x.toFixed(0)}%`).join(' / ')}, etcd ${cpu.etcdPercent.toFixed(0)}% (one control plane at this N: ${(() => {
          const one = runs.find((x) => x.agents === r.agents && x.replicas === 1 && x.backgroundCpu);
          return one ? `${one.backgroundCpu.controlPlanePercent[0].toFixed(0)}%` : '-';
        })()}).`,
      );
    }
  }
  const targets = TARGETS.map((t) => {
    const r = results.find((x) => x.agents === t.agents);
    let value;
    if (r && !r.error) value = t.key === 'p99' ? r.summary.overall.p99 : r.memory.rssPerAgentKiB;
    else if (r?.memory && t.key !== 'p99') value = r.memory.rssPerAgentKiB;
    const verdict =
      value === undefined || Number.isNaN(value)
        ? r
          ? 'not measured'
          : 'not run'
        : value <= t.max
          ? 'met'
          : 'not met';
    return { ...t, value: value ?? null, verdict };
  });
  const replicasNote = withReplicas
    ? ` Replicas ${replicaCounts.join(',')}: 1 = one control plane on the file store; R > 1 = R replicas (store etcd, leaseTtlSeconds ${ETCD_LEASE_TTL_S}) on ${ETCD_MEMBERS} etcd members (etcd ${etcdInfo.version ?? 'unknown'}, raft heartbeat 50 ms / election 500 ms, data dirs on ${etcdInfo.fileSystem}), agent i on replica i % R, everything on this machine.`
    : '';
  const header = `Scale: run on ${new Date().toISOString().slice(0, 10)}, ${cpus().length} x ${cpus()[0]?.model ?? 'unknown CPU'}, Node ${process.version}; ${procs} swarm processes on the same machine; observations ${observations ? 'on' : 'off'}; control plane heartbeat.timeoutMs ${heartbeatTimeoutMs ?? 'default'}; convergence = injecting agent's send -> last affected agent's ACK; p99 is nearest-rank (with 10 changes, the slowest).${replicasNote}`;
  const text = [
    header,
    '',
    ...lines,
    ...runs
      .filter((r) => r.swarm?.dropped > 0 || r.swarm?.nacksSent > 0)
      .map(
        (r) =>
          `\nN=${r.agents}${withReplicas ? `, ${r.replicas} replica(s)` : ''}: ${r.swarm.dropped} agents' streams dropped (close codes ${JSON.stringify(r.swarm.closeCodes ?? {})}) and ${r.swarm.nacksSent} NACKs sent during the run${r.summary?.overall.notInjected ? `; ${r.summary.overall.notInjected} changes not injected (their agent had been dropped)` : ''}: read its figures with care.`,
      ),
    ...extra,
    '',
    `1-minute load average (start -> after the changes; ${cpus().length} cores): ${runs
      .filter((r) => r.loadAverage)
      .map(
        (r) =>
          `N=${r.agents}${withReplicas ? ` x${r.replicas}` : ''} ${r.loadAverage.start.toFixed(1)} -> ${r.loadAverage.afterChanges?.toFixed(1) ?? '-'}`,
      )
      .join(', ')}.`,
    '',
    `Targets${withReplicas ? ' (one control plane only)' : ''}:`,
    '',
    ...targets.map(
      (t) =>
        `- N=${t.agents}: ${t.what} <= ${t.max} ${t.unit}: ${t.value === null ? '-' : `${f1(t.value)} ${t.unit}`} — ${t.verdict}`,
    ),
  ].join('\n');
  return { text, targets };
}
