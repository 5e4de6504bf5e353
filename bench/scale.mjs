#!/usr/bin/env node
// How the control plane scales with the number of agents: push convergence
// after a health change, and memory per connected agent.
//
// For each N in --agents: one real control plane (control-plane/dist, port
// from get-port on 127.0.0.1, a temporary dataDir, push.startupGraceMs 0, log
// level warn, started with --inspect=127.0.0.1:0 to read its heap), and --procs
// child processes (bench/lib/agent-swarm.mjs) that play N agents as plain `ws`
// clients on the real protocol: hello with instance and upstreams, health
// healthy, a heartbeat and (--observations on) an observations report every
// second, every routing table applied (full or delta) and ACKed at once.
//
// Topology (bench/lib/scale-topology.mjs, seeded): S = max(5, N/10) services
// of about 10 instances; each agent is one instance and calls svc-0 plus 2
// other services. Connections open --connect-batch at a time.
//
// 1. Waits until every agent has ACKed a table and no table has arrived for
//    a second.
// 2. Memory: the control plane's VmRSS (/proc/PID/status) 2 s later, as it
//    is under the background load, minus its VmRSS before the first agent
//    connected, divided by N. The idle baseline is taken after forced full
//    GCs (via the inspector; with --heap off, as it is): an idle process
//    never collects its start-up garbage, tens of MiB that a loaded one
//    soon frees, which would hide the agents' cost. Also reported: RSS and
//    heap (process.memoryUsage().heapUsed) after forced GCs, same way.
// 3. --changes health changes, one at a time, alternating an instance of
//    svc-0 (every agent's table holds it: class "all") and an instance of
//    another service (class "few"): that instance's agent sends health
//    unhealthy, two changes later healthy again. Decision time: when the
//    injecting process sent the message. Convergence: when the last agent
//    whose table holds the service ACKed a table showing the endpoint's new
//    health (each agent ACKs as soon as it has applied the table); a change
//    not converged within --change-timeout counts as a timeout. All
//    processes share one clock (performance.timeOrigin + performance.now()).
// 4. Scrapes /metrics for meshlet_cp_convergence_seconds, if there is one,
//    and shows it over the whole run and over the changes alone (the
//    control plane times from its own decision, so it reads a little lower).
//
// Results: progress on stderr, a table on stdout (p99 is nearest-rank: with
// 10 changes per class it is the slowest one), everything as JSON with --json.
//
// The machine is shared: the swarm processes use CPU next to the control
// plane, so read the convergence times as an upper bound.
//
// Open files: the control plane needs one descriptor per agent, so
// `ulimit -n` must allow N + 512 (Node lifts its soft limit to the hard one
// by itself). If the hard limit is lower, this script re-runs itself under
// `bash -c 'ulimit -n 65536; exec node ...'`, which works as root; otherwise
// raise the hard limit (prlimit, /etc/security/limits.conf) and run again.
//
// usage: node bench/scale.mjs [--agents 100,1000,5000] [--changes 20] [--procs 2]
//                             [--observations on|off] [--json FILE] [--seed 1]
//                             [--connect-batch 500] [--ready-timeout S] [--change-timeout 10000]
//                             [--pause 100] [--heartbeat-timeout-ms MS] [--heap on|off]
//                             [--control-plane FILE]
// Build first (npm run build): the control plane runs from control-plane/dist
// (--control-plane: another build's main.js, e.g. of an older commit, to compare).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import getPort from 'get-port';
import { stringify } from 'yaml';
import { bucketQuantile, fetchText, histogramMinus, histograms, inspectorUrlIn, memoryAfterGc, metricValue, tableMessagesByKind, vmRssKiB } from './lib/control-plane-probe.mjs';
import { percentile } from './lib/fixed-rate-load.mjs';
import { ProcessGroup, stopOnExit } from './lib/process-group.mjs';
import { changePlan, POPULAR_SERVICE, scaleTopology } from './lib/scale-topology.mjs';
import { SwarmGroup } from './lib/swarm-group.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..');
const log = (s) => process.stderr.write(`${s}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const TARGETS = [
  { agents: 1000, what: 'p99 convergence', key: 'p99', max: 250, unit: 'ms' },
  { agents: 1000, what: 'control-plane RSS per agent', key: 'rssPerAgentKiB', max: 100, unit: 'KiB' },
  { agents: 5000, what: 'p99 convergence', key: 'p99', max: 2000, unit: 'ms' },
];
const CONVERGENCE_METRIC = 'meshlet_cp_convergence_seconds';

const { values } = parseArgs({
  options: {
    agents: { type: 'string', default: '100,1000,5000' },
    changes: { type: 'string', default: '20' },
    procs: { type: 'string', default: '2' },
    observations: { type: 'string', default: 'on' },
    json: { type: 'string' },
    seed: { type: 'string', default: '1' },
    'connect-batch': { type: 'string', default: '500' },
    'ready-timeout': { type: 'string' },
    'change-timeout': { type: 'string', default: '10000' },
    pause: { type: 'string', default: '100' },
    'heartbeat-timeout-ms': { type: 'string' },
    heap: { type: 'string', default: 'on' },
    'control-plane': { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  process.stdout.write(readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').filter((l) => l.startsWith('//')).map((l) => l.slice(3)).join('\n') + '\n');
  process.exit(0);
}
function int(name, lo, hi, raw = values[name]) {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < lo || n > hi) {
    log(`--${name} must be an integer in ${lo}..${hi}, got "${raw}"`);
    process.exit(2);
  }
  return n;
}
function onOff(name) {
  if (values[name] !== 'on' && values[name] !== 'off') {
    log(`--${name} must be on or off, got "${values[name]}"`);
    process.exit(2);
  }
  return values[name] === 'on';
}
const sizes = values.agents.split(',').map((s) => int('agents', 10, 45000, s.trim()));
const changes = int('changes', 1, 1000);
const procs = int('procs', 1, 64);
const observations = onOff('observations');
const heap = onOff('heap');
const seed = int('seed', 0, 2 ** 31);
const connectBatch = int('connect-batch', 1, 10000);
const changeTimeoutMs = int('change-timeout', 100, 600_000);
const pauseMs = int('pause', 0, 60_000);
const heartbeatTimeoutMs = values['heartbeat-timeout-ms'] === undefined ? undefined : int('heartbeat-timeout-ms', 100, 600_000);
const readyTimeoutMs = (n) => (values['ready-timeout'] === undefined ? 60_000 + 20 * n : int('ready-timeout', 1, 3600) * 1000);
const cpMain = resolve(values['control-plane'] ?? join(root, 'control-plane', 'dist', 'main.js'));
if (!existsSync(cpMain)) {
  log(`${cpMain} is missing: run \`npm run build\` first`);
  process.exit(2);
}

// --- open files ----------------------------------------------------------

function openFileLimits() {
  const m = /^Max open files\s+(\S+)\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
  const num = (s) => (s === 'unlimited' ? Infinity : Number(s));
  return m ? { soft: num(m[1]), hard: num(m[2]) } : { soft: Infinity, hard: Infinity };
}
{
  // Node raises its soft limit to the hard one at start, so a shortfall here
  // means the hard limit is too low: only a shell running as root (or with
  // CAP_SYS_RESOURCE) can lift it, hence the re-run under bash.
  const need = Math.max(...sizes) + 512;
  const { soft, hard } = openFileLimits();
  if (soft < need) {
    const target = Math.max(need, 65536);
    if (process.env.MESHLET_SCALE_REEXEC) {
      log(`${need} open files are needed (N + 512) but the limit is still ${soft} (hard ${hard}): raise the hard limit (ulimit -Hn as root, prlimit, /etc/security/limits.conf) and run again`);
      process.exit(2);
    }
    log(`${need} open files are needed (N + 512) but the limit is ${soft} (hard ${hard}): re-running under bash -c 'ulimit -n ${target}; exec node ...'`);
    const script = `ulimit -n ${target} || { echo "ulimit -n ${target} failed: raise the hard open-file limit (as root, prlimit, /etc/security/limits.conf) and run again" >&2; exit 2; }; exec "$@"`;
    const r = spawnSync('bash', ['-c', script, 'bench/scale.mjs', process.execPath, ...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
      stdio: 'inherit',
      env: { ...process.env, MESHLET_SCALE_REEXEC: '1' },
    });
    process.exit(r.status ?? 1);
  }
}

// --- processes -------------------------------------------------------------

let group = new ProcessGroup();
const dir = mkdtempSync(join(tmpdir(), 'meshlet-scale-'));
const exit = stopOnExit(() => group, dir, log, () => group.stopAll());

/**
 * Polls `check` (truthy: done) every `everyMs` until `timeoutMs`; `check` may
 * throw to fail at once. `state()` says where things stood, for the timeout's message.
 */
async function until(what, check, timeoutMs, everyMs = 100, state = () => undefined) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    group.assertAlive();
    if (await check()) return;
    await sleep(everyMs);
  }
  const last = state();
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last: ${last})` : ''}`);
}

async function startControlPlane(n) {
  const port = await getPort({ host: '127.0.0.1' });
  const config = {
    listen: { host: '127.0.0.1', port },
    dataDir: join(dir, `cp-${n}`),
    push: { startupGraceMs: 0 },
    log: { level: 'warn' },
    ...(heartbeatTimeoutMs === undefined ? {} : { heartbeat: { timeoutMs: heartbeatTimeoutMs } }),
  };
  const file = join(dir, `cp-${n}.yaml`);
  writeFileSync(file, stringify(config));
  const args = [...(heap ? ['--inspect=127.0.0.1:0'] : []), cpMain, '--config', file];
  const child = group.start('control plane', process.execPath, args, { cwd: root });
  const url = `http://127.0.0.1:${port}`;
  await until('the control plane to answer /healthz', async () => {
    try {
      return (await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1000) })).status === 200;
    } catch {
      return false;
    }
  }, 15_000, 50);
  const inspector = heap ? inspectorUrlIn(child.tail()) : undefined;
  if (heap && !inspector) log('    (no inspector URL in the control plane output: heap not measured)');
  return { child, url, streamUrl: `ws://127.0.0.1:${port}/v1/stream`, inspector };
}

/**
 * The control plane's VmRSS as it is, then (with the inspector) after three
 * forced full GCs a little apart: { rssKiB, rssGcKiB?, heapUsedKiB?, externalKiB? }.
 */
async function memorySnapshot(cp) {
  const rssKiB = vmRssKiB(cp.child.pid);
  if (!cp.inspector) return { rssKiB };
  let m;
  for (let i = 0; i < 3; i++) {
    if (i > 0) await sleep(300);
    m = await memoryAfterGc(cp.inspector);
  }
  return { rssKiB, rssGcKiB: vmRssKiB(cp.child.pid), heapUsedKiB: m.heapUsed / 1024, externalKiB: m.external / 1024 };
}

const sum = (xs, f) => xs.reduce((s, x) => s + f(x), 0);
const f0 = (x) => (Number.isFinite(x) ? x.toFixed(0) : x === Infinity ? 'timeout' : '-');
const f1 = (x) => (Number.isFinite(x) ? x.toFixed(1) : x === Infinity ? 'timeout' : '-');

/** p50, p99 (nearest rank: with 10 changes it is the maximum) and max of convergence; a timeout counts as Infinity. */
function summarise(list) {
  const ms = list.map((c) => c.convergenceMs).sort((a, b) => a - b);
  const affected = list.map((c) => c.affected).sort((a, b) => a - b);
  return { changes: list.length, affectedMedian: percentile(affected, 50), affectedMin: affected[0], affectedMax: affected[affected.length - 1], p50: percentile(ms, 50), p99: percentile(ms, 99), max: ms[ms.length - 1] ?? Number.NaN, timeouts: list.filter((c) => !c.converged).length };
}

function progressLine(n, st, startedAt) {
  const s = (f) => sum(st, f);
  return `    ${((Date.now() - startedAt) / 1000).toFixed(1)} s: ${s((x) => x.open)}/${n} connected, ${s((x) => x.withTable)} with a table, ${s((x) => x.failed)} failed, ${s((x) => x.dropped)} dropped, ${s((x) => x.routes)} tables received (${(s((x) => x.routeBytes) / 2 ** 20).toFixed(0)} MiB), versions ${sum(st, (x) => x.withTable) ? `${Math.min(...st.filter((x) => x.withTable).map((x) => x.minVersion))}..${Math.max(...st.map((x) => x.maxVersion))}` : '-'}`;
}

// --- one size --------------------------------------------------------------

async function runSize(n, result) {
  const topology = scaleTopology({ agents: n, seed });
  log(`N=${n}: ${topology.services} services, ${procs} swarm processes, observations ${observations ? 'on' : 'off'}`);
  const cp = await startControlPlane(n);
  Object.assign(result, { services: topology.services, procs, observations, heartbeatTimeoutMs: heartbeatTimeoutMs ?? 'default' });
  // An idle process never collects its start-up garbage (tens of MiB); a
  // loaded one soon does. So the baseline is taken after forced GCs when the
  // inspector is there, and the loaded figure as it is (conservative: it
  // includes the garbage the load keeps in flight), and after GCs too.
  await sleep(1500);
  const before = await memorySnapshot(cp);

  const swarm = new SwarmGroup(group, { streamUrl: cp.streamUrl, agents: n, seed, procs, observations, connectBatch, cwd: root });
  try {
    // 1. Connect, and wait for every agent to hold a table and for the pushes to stop.
    const startedAt = Date.now();
    await swarm.all('start');
    let lastLine = 0;
    let st;
    await until(`all ${n} agents to ACK a table and the pushes to settle`, async () => {
      st = await swarm.all('status');
      if (Date.now() - lastLine >= 2000) {
        lastLine = Date.now();
        log(progressLine(n, st, startedAt));
      }
      const failed = sum(st, (x) => x.failed + x.dropped);
      if (failed > 0) throw new Error(`${failed} agents could not connect or were dropped (close codes ${JSON.stringify(Object.assign({}, ...st.map((x) => x.closeCodes)))})`);
      const quietFor = Date.now() - Math.max(...st.map((x) => x.lastRoutesAt));
      return sum(st, (x) => x.withTable) === n && quietFor >= 1000;
    }, readyTimeoutMs(n), 250, () => st && progressLine(n, st, startedAt).trim());
    log(progressLine(n, st, startedAt));
    result.ready = {
      seconds: (Date.now() - startedAt) / 1000,
      tablesReceived: sum(st, (x) => x.routes),
      tableMiB: sum(st, (x) => x.routeBytes) / 2 ** 20,
      meanServicesPerTable: sum(st, (x) => x.meanTableServices * x.withTable) / n,
      agentsMissingAnUpstream: sum(st, (x) => x.missingUpstreams),
    };
    log(`    all ${n} agents hold a table after ${result.ready.seconds.toFixed(1)} s; ${result.ready.meanServicesPerTable.toFixed(1)} services per table on average${result.ready.agentsMissingAnUpstream ? `; ${result.ready.agentsMissingAnUpstream} agents lack one of their upstreams` : ''}`);

    // 2. Memory, with the background load (heartbeats, observations) running.
    await sleep(2000);
    const after = await memorySnapshot(cp);
    const perAgent = (a, b) => (a === undefined || b === undefined ? undefined : (a - b) / n);
    const baseline = before.rssGcKiB ?? before.rssKiB;
    result.memory = {
      rssBeforeKiB: baseline,
      rssAfterKiB: after.rssKiB,
      rssPerAgentKiB: (after.rssKiB - baseline) / n,
      rssBeforeRawKiB: before.rssKiB,
      rssAfterGcKiB: after.rssGcKiB,
      rssPerAgentAfterGcKiB: perAgent(after.rssGcKiB, before.rssGcKiB),
      heapUsedBeforeKiB: before.heapUsedKiB,
      heapUsedAfterKiB: after.heapUsedKiB,
      heapPerAgentKiB: perAgent(after.heapUsedKiB, before.heapUsedKiB),
      externalPerAgentKiB: perAgent(after.externalKiB, before.externalKiB),
    };
    const m = result.memory;
    const mib = (k) => (k / 1024).toFixed(1);
    log(`    control plane RSS ${mib(m.rssBeforeKiB)} MiB idle${before.rssGcKiB === undefined ? '' : ' (after GC)'} -> ${mib(m.rssAfterKiB)} MiB loaded: ${m.rssPerAgentKiB.toFixed(1)} KiB per agent${m.heapPerAgentKiB === undefined ? '' : `; after GC: RSS ${mib(m.rssAfterGcKiB)} MiB (${m.rssPerAgentAfterGcKiB.toFixed(1)} KiB per agent), heap ${mib(m.heapUsedBeforeKiB)} -> ${mib(m.heapUsedAfterKiB)} MiB (${m.heapPerAgentKiB.toFixed(1)} KiB per agent)`}`);
    await sleep(1000);

    // 3. Health changes, one at a time.
    await swarm.all('resetLag');
    const histogramsBefore = histograms(await fetchText(`${cp.url}/metrics`), CONVERGENCE_METRIC);
    result.changes = [];
    for (const c of changePlan(topology, changes, seed)) {
      const done = new Set();
      const off = swarm.onEvent((child, e) => {
        if (e.event === 'watch-done' && e.key === c.index) done.add(child);
      });
      try {
        const watched = await swarm.all('watch', { key: c.index, service: c.service, endpointId: c.instanceId, expect: c.status });
        const { at } = await swarm.ask(swarm.owner(c.agentIndex), 'inject', { agentIndex: c.agentIndex, status: c.status });
        const deadline = Date.now() + changeTimeoutMs;
        while (done.size < swarm.size && Date.now() < deadline) {
          group.assertAlive();
          await sleep(2);
        }
        const r = await swarm.all('unwatch');
        const affected = sum(r, (x) => x.affected);
        const converged = sum(r, (x) => x.converged) === affected && sum(r, (x) => x.lost) === 0;
        const row = {
          index: c.index,
          cls: c.cls,
          service: c.service,
          instanceId: c.instanceId,
          status: c.status,
          affected,
          declaredCallers: topology.callersOf(c.service),
          stale: sum(watched, (x) => x.stale),
          convergedAgents: sum(r, (x) => x.converged),
          converged,
          convergenceMs: converged ? Math.max(...r.map((x) => x.lastAckAt)) - at : Infinity,
          lastReceiveMs: converged ? Math.max(...r.map((x) => x.lastRecvAt)) - at : Infinity,
        };
        result.changes.push(row);
        log(`    change ${c.index + 1}/${changes} (${c.cls}: ${c.instanceId} ${c.status}): ${affected} agents hold ${c.service}; ${converged ? `all ACKed in ${row.convergenceMs.toFixed(1)} ms` : `${row.convergedAgents} ACKed within ${changeTimeoutMs} ms: TIMEOUT`}${row.stale ? ` (${row.stale} already showed it)` : ''}`);
      } finally {
        off();
      }
      await sleep(pauseMs);
    }
    result.summary = {
      all: summarise(result.changes.filter((c) => c.cls === 'all')),
      few: summarise(result.changes.filter((c) => c.cls === 'few')),
      overall: summarise(result.changes),
    };

    // 4. The control plane's own view, over the whole run and over the changes alone.
    const text = await fetchText(`${cp.url}/metrics`);
    const hs = histograms(text, CONVERGENCE_METRIC);
    const view = (h) => ({ labels: h.labels, count: h.count, sumSeconds: h.sum, p50UpperBoundS: bucketQuantile(h, 0.5), p99UpperBoundS: bucketQuantile(h, 0.99), buckets: h.buckets });
    const duringChanges = hs.map((h) => histogramMinus(h, histogramsBefore.find((b) => b.labels === h.labels)));
    result.cpMetrics = {
      convergence: hs.length ? hs.map(view) : null,
      convergenceDuringChanges: hs.length ? duringChanges.map(view) : null,
      nacksTotal: metricValue(text, 'meshlet_cp_nacks_total') ?? null,
      rejectedTotal: metricValue(text, 'meshlet_cp_stream_rejected_messages_total') ?? null,
      tableMessages: tableMessagesByKind(text),
    };
    if (hs.length === 0) log(`    /metrics has no ${CONVERGENCE_METRIC} histogram (not implemented by this control plane yet)`);
    const describe = (h) => `count ${h.count}, mean ${f1((h.sum / h.count) * 1000)} ms, p50 <= ${bucketQuantile(h, 0.5)} s, p99 <= ${bucketQuantile(h, 0.99)} s`;
    for (const [i, h] of hs.entries()) {
      log(`    the control plane's ${CONVERGENCE_METRIC}{${h.labels}} (bucket bounds; from its decision, not the agent's send): whole run ${describe(h)}; during the changes ${describe(duringChanges[i])}`);
    }
    st = await swarm.all('status');
    result.swarm = {
      fullTables: sum(st, (x) => x.fullTables),
      deltaTables: sum(st, (x) => x.deltaTables),
      dropped: sum(st, (x) => x.dropped),
      nacksSent: sum(st, (x) => x.nacks),
      errorsReceived: Object.assign({}, ...st.map((x) => x.errors)),
      maxEventLoopLagMs: Math.max(...st.map((x) => x.lagMaxMs)),
      rssKiB: st.map((x) => x.rssKiB),
    };
    log(`    swarm: ${result.swarm.fullTables} full tables and ${result.swarm.deltaTables} deltas received, ${result.swarm.dropped} dropped, ${result.swarm.nacksSent} NACKs sent, errors received ${JSON.stringify(result.swarm.errorsReceived)}, max event-loop lag during the changes ${result.swarm.maxEventLoopLagMs.toFixed(0)} ms`);
  } finally {
    await swarm.stop();
  }
}

// --- report ------------------------------------------------------------------

function report(results) {
  const lines = [
    `| N | services | class | changes | affected callers (median; overall: range) | p50 ms | p99 ms | max ms | timeouts | CP RSS KiB/agent | CP heap KiB/agent |`,
    '|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of results) {
    if (r.error) {
      lines.push(`| ${r.agents} | ${r.services ?? '-'} | failed: ${r.error.split('\n')[0].replace(/\|/g, '/')} | | | | | | | ${r.memory ? f1(r.memory.rssPerAgentKiB) : '-'} | |`);
      continue;
    }
    for (const cls of ['all', 'few', 'overall']) {
      const s = r.summary[cls];
      const mem = cls === 'overall' ? [f1(r.memory.rssPerAgentKiB), f1(r.memory.heapPerAgentKiB)] : ['', ''];
      lines.push(`| ${r.agents} | ${r.services} | ${cls === 'all' ? `all (${POPULAR_SERVICE})` : cls === 'few' ? 'few (other)' : 'overall'} | ${s.changes} | ${cls === 'overall' ? `${s.affectedMin}..${s.affectedMax}` : f0(s.affectedMedian)} | ${f1(s.p50)} | ${f1(s.p99)} | ${f1(s.max)} | ${s.timeouts} | ${mem.join(' | ')} |`);
    }
  }
  const targets = TARGETS.map((t) => {
    const r = results.find((x) => x.agents === t.agents);
    let value;
    if (r && !r.error) value = t.key === 'p99' ? r.summary.overall.p99 : r.memory.rssPerAgentKiB;
    else if (r?.memory && t.key !== 'p99') value = r.memory.rssPerAgentKiB;
    const verdict = value === undefined || Number.isNaN(value) ? (r ? 'not measured' : 'not run') : value <= t.max ? 'met' : 'not met';
    return { ...t, value: value ?? null, verdict };
  });
  const header = `Scale: run on ${new Date().toISOString().slice(0, 10)}, ${cpus().length} x ${cpus()[0]?.model ?? 'unknown CPU'}, Node ${process.version}; ${procs} swarm processes on the same machine; observations ${observations ? 'on' : 'off'}; control plane heartbeat.timeoutMs ${heartbeatTimeoutMs ?? 'default'}; convergence = injecting agent's send -> last affected agent's ACK; p99 is nearest-rank (with 10 changes, the slowest).`;
  const text = [
    header,
    '',
    ...lines,
    ...results.filter((r) => r.swarm?.dropped > 0 || r.swarm?.nacksSent > 0).map((r) => `\nN=${r.agents}: ${r.swarm.dropped} agents' streams dropped and ${r.swarm.nacksSent} NACKs sent during the run: read its figures with care.`),
    '',
    'Targets:',
    '',
    ...targets.map((t) => `- N=${t.agents}: ${t.what} <= ${t.max} ${t.unit}: ${t.value === null ? '-' : `${f1(t.value)} ${t.unit}`} — ${t.verdict}`),
  ].join('\n');
  return { text, targets };
}

// --- main ------------------------------------------------------------------

const results = [];
try {
  for (const n of sizes) {
    const result = { agents: n };
    results.push(result);
    try {
      await runSize(n, result);
    } catch (err) {
      if (exit.interrupted) throw err;
      result.error = err instanceof Error ? err.message : String(err);
      log(`N=${n} failed: ${result.error}`);
    } finally {
      await group.stopAll();
      group = new ProcessGroup();
    }
  }
  const { text, targets } = report(results);
  process.stdout.write(`${text}\n`);
  if (values.json) {
    writeFileSync(values.json, JSON.stringify({ date: new Date().toISOString(), node: process.version, cpus: cpus().length, seed, changes, procs, observations, results, targets }, (_k, v) => (v === Infinity ? 'timeout' : v), 2));
    log(`wrote ${values.json}`);
  }
  if (results.some((r) => r.error)) process.exitCode = 1;
} catch (err) {
  if (!exit.interrupted) log(`scale failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
} finally {
  await group.stopAll();
}
