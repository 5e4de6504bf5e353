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
// --replicas 1,3 measures, for each N, the same seeded topology and change
// plan once per replica count, side by side:
// - 1: the single control plane above, on the file store (the default, and
//   what the TARGETS apply to);
// - R > 1: a 3-member etcd cluster (bench/lib/etcd-cluster.mjs: Debian's
//   /usr/bin/etcd on loopback ports, data dirs in the run's temp dir, raft
//   heartbeat 50 ms / election 500 ms as in the tests) and R control-plane
//   replicas on it (store.kind etcd, leaseTtlSeconds 2, replicaId cp-1..,
//   a dataDir each, every other setting as above). Agents connect once one
//   replica reports role leader on GET /v1/cluster and the others name it;
//   agent i connects to replica i % R. A change is injected by its agent on
//   whichever replica it is connected to (so some on the leader, some on
//   followers: each row says which), and convergence is still the last
//   affected agent's ACK, on any replica. Memory: the sum of the replicas'
//   RSS deltas divided by N, and each replica's delta on its own (also per
//   agent connected to it); the etcd members' RSS is reported beside it.
//   The report adds a ratio table, R replicas / 1 replica, for p50, p99 and
//   RSS per agent. In --json, `results` stays the single control plane's;
//   the replicated runs are in `replicated`, the ratios in `comparison`.
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
//                             [--control-plane FILE] [--replicas 1,3]
// Build first (npm run build): the control plane runs from control-plane/dist
// (--control-plane: another build's main.js, e.g. of an older commit, to compare).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, statfsSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import getPort from 'get-port';
import { stringify } from 'yaml';
import { bucketQuantile, fetchText, histogramMinus, histograms, inspectorUrlIn, memoryAfterGc, metricValue, tableMessagesByKind, vmRssKiB } from './lib/control-plane-probe.mjs';
import { percentile } from './lib/fixed-rate-load.mjs';
import { startEtcdCluster, etcdVersion } from './lib/etcd-cluster.mjs';
import { cpuSeconds, ProcessGroup, stopOnExit } from './lib/process-group.mjs';
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
/** With --replicas above 1: etcd members, and the replicas' store.etcd.leaseTtlSeconds (the default and minimum, as in test/ha-leader.test.ts). */
const ETCD_MEMBERS = 3;
const ETCD_LEASE_TTL_S = 2;

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
    replicas: { type: 'string', default: '1' },
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
const replicaCounts = [...new Set(values.replicas.split(',').map((s) => int('replicas', 1, 5, s.trim())))];
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

/**
 * One control plane. Without `etcd`: today's single control plane on the
 * file store. With `etcd` ({ endpoints }): replica `replicaId` on it, with a
 * dataDir of its own and otherwise the same settings.
 */
async function startControlPlane(n, { etcd, replicaId, name = `cp-${n}` } = {}) {
  const port = await getPort({ host: '127.0.0.1' });
  const config = {
    listen: { host: '127.0.0.1', port },
    dataDir: join(dir, name),
    push: { startupGraceMs: 0 },
    log: { level: 'warn' },
    ...(heartbeatTimeoutMs === undefined ? {} : { heartbeat: { timeoutMs: heartbeatTimeoutMs } }),
    ...(etcd ? { store: { kind: 'etcd', etcd: { endpoints: etcd.endpoints, leaseTtlSeconds: ETCD_LEASE_TTL_S, replicaId } } } : {}),
  };
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, stringify(config));
  const args = [...(heap ? ['--inspect=127.0.0.1:0'] : []), cpMain, '--config', file];
  const child = group.start(etcd ? `control plane ${replicaId}` : 'control plane', process.execPath, args, { cwd: root });
  const url = `http://127.0.0.1:${port}`;
  await until(`${etcd ? `replica ${replicaId}` : 'the control plane'} to answer /healthz`, async () => {
    try {
      return (await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1000) })).status === 200;
    } catch {
      return false;
    }
  }, 15_000, 50);
  const inspector = heap ? inspectorUrlIn(child.tail()) : undefined;
  if (heap && !inspector) log(`    (no inspector URL in ${replicaId ?? 'the control plane'}'s output: heap not measured)`);
  return { child, url, streamUrl: `ws://127.0.0.1:${port}/v1/stream`, inspector, replicaId: replicaId ?? 'standalone' };
}

/** `GET /v1/cluster` of every control plane, bounded; a failed one is `{ error }`. */
async function clusterViews(cps) {
  return Promise.all(cps.map(async (cp) => {
    try {
      const r = await fetch(`${cp.url}/v1/cluster`, { signal: AbortSignal.timeout(2000) });
      return r.status === 200 ? await r.json() : { error: `status ${r.status}` };
    } catch (err) {
      return { error: err instanceof Error ? err.message : String(err) };
    }
  }));
}

/** The replicaId every replica agrees leads (one says leader, all name it), or undefined. */
async function agreedLeader(cps) {
  const views = await clusterViews(cps);
  const leaders = views.filter((v) => v.role === 'leader');
  if (leaders.length !== 1) return undefined;
  const id = leaders[0].replicaId;
  return views.every((v) => v.leader?.replicaId === id) ? id : undefined;
}

/**
 * The control planes of one run: one on the file store (`replicas` 1), or a
 * 3-member etcd cluster and `replicas` replicas on it, waited for until one
 * leads and the others name it. Returns `{ cps, etcd?, leader? }`.
 */
async function startControlPlanes(n, replicas) {
  if (replicas === 1) return { cps: [await startControlPlane(n)] };
  const etcd = await startEtcdCluster(group, join(dir, `etcd-${n}-r${replicas}`), ETCD_MEMBERS, { log });
  const cps = [];
  for (let i = 0; i < replicas; i++) cps.push(await startControlPlane(n, { etcd, replicaId: `cp-${i + 1}`, name: `cp-${n}-r${replicas}-${i + 1}` }));
  let leader;
  let views;
  await until('one replica to report role leader on GET /v1/cluster and the others to name it', async () => {
    leader = await agreedLeader(cps);
    if (!leader) views = await clusterViews(cps);
    return leader !== undefined;
  }, 20_000, 100, () => JSON.stringify(views));
  return { cps, etcd, leader };
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
function summarise(all) {
  // A change whose agent had been dropped before it could send it was never made: not a timeout.
  const list = all.filter((c) => c.injected !== false);
  const ms = list.map((c) => c.convergenceMs).sort((a, b) => a - b);
  const affected = list.map((c) => c.affected).sort((a, b) => a - b);
  return { changes: list.length, affectedMedian: percentile(affected, 50), affectedMin: affected[0], affectedMax: affected[affected.length - 1], p50: percentile(ms, 50), p99: percentile(ms, 99), max: ms[ms.length - 1] ?? Number.NaN, timeouts: list.filter((c) => !c.converged).length, ...(all.length > list.length ? { notInjected: all.length - list.length } : {}) };
}

function progressLine(n, st, startedAt) {
  const s = (f) => sum(st, f);
  return `    ${((Date.now() - startedAt) / 1000).toFixed(1)} s: ${s((x) => x.open)}/${n} connected, ${s((x) => x.withTable)} with a table${s((x) => x.missingUpstreams) ? ` (${s((x) => x.missingUpstreams)} lacking an upstream)` : ''}, ${s((x) => x.failed)} failed, ${s((x) => x.dropped)} dropped, ${s((x) => x.routes)} tables received (${(s((x) => x.routeBytes) / 2 ** 20).toFixed(0)} MiB), versions ${sum(st, (x) => x.withTable) ? `${Math.min(...st.filter((x) => x.withTable).map((x) => x.minVersion))}..${Math.max(...st.map((x) => x.maxVersion))}` : '-'}`;
}

// --- one size --------------------------------------------------------------

/** CPU seconds used so far by each child (by pid), 0 for one that is gone. */
function cpuOf(children) {
  return children.map((c) => {
    try {
      return cpuSeconds(c.pid);
    } catch {
      return 0;
    }
  });
}

async function runSize(n, replicas, result) {
  const topology = scaleTopology({ agents: n, seed });
  log(`N=${n}, ${replicas === 1 ? 'one control plane (file store)' : `${replicas} replicas on ${ETCD_MEMBERS} etcd members`}: ${topology.services} services, ${procs} swarm processes, observations ${observations ? 'on' : 'off'}`);
  // Other work on a shared machine shows here (1-minute load average, at the start and after the changes).
  result.loadAverage = { start: loadavg()[0] };
  const { cps, etcd, leader } = await startControlPlanes(n, replicas);
  const ownAgents = cps.map((_, r) => Math.floor(n / replicas) + (r < n % replicas ? 1 : 0));
  Object.assign(result, { services: topology.services, procs, observations, heartbeatTimeoutMs: heartbeatTimeoutMs ?? 'default' });
  if (etcd) {
    result.etcd = { members: ETCD_MEMBERS, leaseTtlSeconds: ETCD_LEASE_TTL_S, endpoints: etcd.endpoints };
    result.leader = leader;
    log(`    ${cps.map((cp) => `${cp.replicaId} ${cp.url}`).join(', ')}; leader ${leader}; agent i connects to replica i % ${replicas} (${ownAgents.join(' / ')} agents)`);
  }
  const roleOf = (replicaId, leaderId) => (replicas === 1 ? 'standalone' : replicaId === leaderId ? 'leader' : 'follower');
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
      result.leaderTimeline.push({ atSeconds: (Date.now() - runStartedAt) / 1000, phase, leader: now, formerLeaderOutputTail: former ? former.child.tail().slice(-1500) : null });
      log(`    leader ${knownLeader ?? 'none'} -> ${now ?? 'none (not agreed)'} (seen ${phase})`);
      knownLeader = now;
    }
    return now ?? undefined;
  };
  // An idle process never collects its start-up garbage (tens of MiB); a
  // loaded one soon does. So the baseline is taken after forced GCs when the
  // inspector is there, and the loaded figure as it is (conservative: it
  // includes the garbage the load keeps in flight), and after GCs too.
  await sleep(1500);
  const before = [];
  for (const cp of cps) before.push(await memorySnapshot(cp));
  const etcdBefore = etcd ? etcd.members.map((m) => vmRssKiB(m.child.pid)) : undefined;

  const swarm = new SwarmGroup(group, { streamUrls: cps.map((cp) => cp.streamUrl), agents: n, seed, procs, observations, connectBatch, cwd: root });
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
        await checkLeader('while connecting');
      }
      const failed = sum(st, (x) => x.failed + x.dropped);
      if (failed > 0) throw new Error(`${failed} agents could not connect or were dropped (close codes ${JSON.stringify(Object.assign({}, ...st.map((x) => x.closeCodes)))})`);
      const quietFor = Date.now() - Math.max(...st.map((x) => x.lastRoutesAt));
      // With replicas, the other replicas' agents reach the leader through etcd, and the tables can pause
      // for a second before it knows them all: wait until every agent's table holds all its upstreams too.
      const complete = replicas === 1 || sum(st, (x) => x.missingUpstreams) === 0;
      return sum(st, (x) => x.withTable) === n && quietFor >= 1000 && complete;
    }, readyTimeoutMs(n), 250, () => st && progressLine(n, st, startedAt).trim());
    log(progressLine(n, st, startedAt));
    await checkLeader('when every agent held a table');
    result.ready = {
      seconds: (Date.now() - startedAt) / 1000,
      tablesReceived: sum(st, (x) => x.routes),
      tableMiB: sum(st, (x) => x.routeBytes) / 2 ** 20,
      meanServicesPerTable: sum(st, (x) => x.meanTableServices * x.withTable) / n,
      agentsMissingAnUpstream: sum(st, (x) => x.missingUpstreams),
    };
    log(`    all ${n} agents hold a table after ${result.ready.seconds.toFixed(1)} s; ${result.ready.meanServicesPerTable.toFixed(1)} services per table on average${result.ready.agentsMissingAnUpstream ? `; ${result.ready.agentsMissingAnUpstream} agents lack one of their upstreams` : ''}`);

    // 2. Memory, with the background load (heartbeats, observations; with
    // replicas, signal batches and etcd) running; and the CPU that load takes
    // in the 2 s before the figure.
    const etcdChildren = etcd ? etcd.members.map((m) => m.child) : [];
    const bgCpu0 = [cpuOf(cps.map((cp) => cp.child)), cpuOf(etcdChildren), performance.now()];
    await sleep(2000);
    const bgCpu1 = [cpuOf(cps.map((cp) => cp.child)), cpuOf(etcdChildren), performance.now()];
    const bgSeconds = (bgCpu1[2] - bgCpu0[2]) / 1000;
    const after = [];
    for (const cp of cps) after.push(await memorySnapshot(cp));
    const etcdAfter = etcd ? etcd.members.map((m) => vmRssKiB(m.child.pid)) : undefined;
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
    const heapAfterGc = m.heapPerAgentKiB === undefined ? '' : `; after GC: RSS ${mib(m.rssAfterGcKiB)} MiB (${m.rssPerAgentAfterGcKiB.toFixed(1)} KiB per agent), heap ${mib(m.heapUsedBeforeKiB)} -> ${mib(m.heapUsedAfterKiB)} MiB (${m.heapPerAgentKiB.toFixed(1)} KiB per agent)`;
    log(`    control plane${replicas > 1 ? `s (sum of ${replicas})` : ''} RSS ${mib(m.rssBeforeKiB)} MiB idle${before[0].rssGcKiB === undefined ? '' : ' (after GC)'} -> ${mib(m.rssAfterKiB)} MiB loaded: ${m.rssPerAgentKiB.toFixed(1)} KiB per agent${heapAfterGc}`);
    log(`    background load over ${bgSeconds.toFixed(1)} s: control plane CPU ${result.backgroundCpu.controlPlanePercent.map((x) => `${x.toFixed(0)}%`).join(' / ')}${etcd ? `, etcd (3 members) ${result.backgroundCpu.etcdPercent.toFixed(0)}%` : ''}`);
    if (etcd) {
      for (const p of m.perReplica) log(`      ${p.replicaId} (${p.role}, ${p.agents} agents): RSS ${mib(p.rssBeforeKiB)} -> ${mib(p.rssAfterKiB)} MiB, +${mib(p.rssDeltaKiB)} MiB = ${p.rssPerOwnAgentKiB.toFixed(1)} KiB per own agent${p.heapDeltaKiB === undefined ? '' : `; heap +${mib(p.heapDeltaKiB)} MiB`}`);
      result.etcd.rss = etcd.members.map((mm, i) => ({ name: mm.name, rssBeforeKiB: etcdBefore[i], rssAfterKiB: etcdAfter[i] }));
      result.etcd.rssAfterKiB = sum(etcdAfter, (x) => x);
      result.etcd.rssPerAgentKiB = (sum(etcdAfter, (x) => x) - sum(etcdBefore, (x) => x)) / n;
      log(`      etcd members: RSS ${mib(sum(etcdBefore, (x) => x))} -> ${mib(result.etcd.rssAfterKiB)} MiB in all (${result.etcd.rssPerAgentKiB.toFixed(1)} KiB per agent; not counted above)`);
    }
    await sleep(1000);

    // 3. Health changes, one at a time.
    await swarm.all('resetLag');
    const metricsBefore = await Promise.all(cps.map((cp) => fetchText(`${cp.url}/metrics`)));
    const histogramsBefore = metricsBefore.map((t) => histograms(t, CONVERGENCE_METRIC));
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
        const watched = await swarm.all('watch', { key: c.index, service: c.service, endpointId: c.instanceId, expect: c.status });
        let at;
        try {
          ({ at } = await swarm.ask(swarm.owner(c.agentIndex), 'inject', { agentIndex: c.agentIndex, status: c.status }));
        } catch (err) {
          // The injecting agent's stream was dropped (counted in the swarm's `dropped`, which the report
          // flags): the change is recorded as not injected, kept out of the percentiles, and the run goes on.
          if (!/is not connected here/.test(err instanceof Error ? err.message : String(err))) throw err;
          await swarm.all('unwatch');
          const row = { index: c.index, cls: c.cls, service: c.service, instanceId: c.instanceId, status: c.status, injected: false, converged: false, convergenceMs: Number.NaN, ...(etcd ? { replica: cps[replica].replicaId, leader: leaderAt ?? null } : {}) };
          result.changes.push(row);
          log(`    change ${c.index + 1}/${changes} (${c.cls}: ${c.instanceId} ${c.status}): NOT INJECTED, agent ${c.agentIndex} is no longer connected`);
          continue;
        }
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
          ...(etcd ? { replica: cps[replica].replicaId, leader: leaderAt ?? null, injectedOn: leaderAt === undefined ? 'unknown' : roleOf(cps[replica].replicaId, leaderAt) } : {}),
        };
        result.changes.push(row);
        log(`    change ${c.index + 1}/${changes} (${c.cls}: ${c.instanceId} ${c.status}${etcd ? ` on ${row.replica}, ${row.injectedOn}` : ''}): ${affected} agents hold ${c.service}; ${converged ? `all ACKed in ${row.convergenceMs.toFixed(1)} ms` : `${row.convergedAgents} ACKed within ${changeTimeoutMs} ms: TIMEOUT`}${row.stale ? ` (${row.stale} already showed it)` : ''}`);
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

    // 4. The control plane's own view, over the whole run and over the changes alone (each replica's).
    const texts = await Promise.all(cps.map((cp) => fetchText(`${cp.url}/metrics`)));
    const view = (h) => ({ labels: h.labels, count: h.count, sumSeconds: h.sum, p50UpperBoundS: bucketQuantile(h, 0.5), p99UpperBoundS: bucketQuantile(h, 0.99), buckets: h.buckets });
    const describe = (h) => `count ${h.count}, mean ${f1((h.sum / h.count) * 1000)} ms, p50 <= ${bucketQuantile(h, 0.5)} s, p99 <= ${bucketQuantile(h, 0.99)} s`;
    const cpMetrics = texts.map((text, r) => {
      const hs = histograms(text, CONVERGENCE_METRIC);
      const duringChanges = hs.map((h) => histogramMinus(h, histogramsBefore[r].find((b) => b.labels === h.labels)));
      if (hs.length === 0) log(`    /metrics${etcd ? ` of ${cps[r].replicaId}` : ''} has no ${CONVERGENCE_METRIC} histogram (not implemented by this control plane yet)`);
      for (const [i, h] of hs.entries()) {
        log(`    ${etcd ? `${cps[r].replicaId}'s` : "the control plane's"} ${CONVERGENCE_METRIC}{${h.labels}} (bucket bounds; from its decision, not the agent's send): whole run ${describe(h)}; during the changes ${describe(duringChanges[i])}`);
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
    log(`    swarm: ${result.swarm.fullTables} full tables and ${result.swarm.deltaTables} deltas received, ${result.swarm.dropped} dropped${result.swarm.dropped ? ` (close codes ${JSON.stringify(result.swarm.closeCodes)})` : ''}, ${result.swarm.nacksSent} NACKs sent, errors received ${JSON.stringify(result.swarm.errorsReceived)}, max event-loop lag during the changes ${result.swarm.maxEventLoopLagMs.toFixed(0)} ms`);
  } finally {
    // A failed run still says what the swarm saw (drops and their close codes), when it can.
    if (!result.swarm) {
      try {
        const st = await swarm.all('status', {}, 5000);
        result.swarm = { dropped: sum(st, (x) => x.dropped), failed: sum(st, (x) => x.failed), closeCodes: Object.assign({}, ...st.map((x) => x.closeCodes)), errorsReceived: Object.assign({}, ...st.map((x) => x.errors)), nacksSent: sum(st, (x) => x.nacks) };
      } catch {
        // the swarm itself is gone
      }
    }
    await swarm.stop();
  }
}

// --- report ------------------------------------------------------------------

/** What kind of file system holds `path` (statfs magic number), to say whether etcd's fsyncs reach a disk. */
function fileSystemOf(path) {
  const names = { 0xef53: 'ext4 (ext2/3/4)', 0x01021994: 'tmpfs', 0x58465342: 'xfs', 0x9123683e: 'btrfs', 0x794c7630: 'overlayfs', 0x6a656a63: 'virtiofs' };
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
function compare(runs) {
  const out = [];
  for (const r of runs) {
    if (r.replicas === 1) continue;
    const one = runs.find((x) => x.agents === r.agents && x.replicas === 1);
    if (!one) continue;
    const ok = !one.error && !r.error;
    const cls = (c) => (ok
      ? { p50: { one: one.summary[c].p50, replicated: r.summary[c].p50, ratio: ratio(one.summary[c].p50, r.summary[c].p50) }, p99: { one: one.summary[c].p99, replicated: r.summary[c].p99, ratio: ratio(one.summary[c].p99, r.summary[c].p99) } }
      : null);
    const mem = (k) => (one.memory && r.memory ? { one: one.memory[k], replicated: r.memory[k], ratio: ratio(one.memory[k], r.memory[k]) } : null);
    out.push({ agents: r.agents, replicas: r.replicas, all: cls('all'), few: cls('few'), overall: cls('overall'), rssPerAgentKiB: mem('rssPerAgentKiB'), rssPerAgentAfterGcKiB: mem('rssPerAgentAfterGcKiB'), heapPerAgentKiB: mem('heapPerAgentKiB') });
  }
  return out;
}

function report(runs, comparison, etcdInfo) {
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
  const perReplica = (r) => r.memory.perReplica.map((p) => `${p.replicaId}${p.role === 'leader' ? ' (L)' : ''} ${f1(p.rssDeltaKiB / 1024)} (${f1(p.rssPerOwnAgentKiB)})`).join(', ');
  for (const r of runs) {
    if (r.error) {
      lines.push(`| ${r.agents} |${rep(r)} ${r.services ?? '-'} | failed: ${r.error.split('\n')[0].replace(/\|/g, '/')} | | | | | | | ${r.memory ? f1(r.memory.rssPerAgentKiB) : '-'} | |${withReplicas ? ` ${r.memory ? perReplica(r) : ''} |` : ''}`);
      continue;
    }
    for (const cls of ['all', 'few', 'overall']) {
      const s = r.summary[cls];
      const mem = cls === 'overall' ? [f1(r.memory.rssPerAgentKiB), f1(r.memory.heapPerAgentKiB), ...(withReplicas ? [r.replicas === 1 ? '-' : perReplica(r)] : [])] : ['', '', ...(withReplicas ? [''] : [])];
      lines.push(`| ${r.agents} |${rep(r)} ${r.services} | ${cls === 'all' ? `all (${POPULAR_SERVICE})` : cls === 'few' ? 'few (other)' : 'overall'} | ${s.changes} | ${cls === 'overall' ? `${s.affectedMin}..${s.affectedMax}` : f0(s.affectedMedian)} | ${f1(s.p50)} | ${f1(s.p99)} | ${f1(s.max)} | ${s.timeouts} | ${mem.join(' | ')} |`);
    }
  }
  const extra = [];
  if (comparison.length) {
    extra.push('', 'Replicas / one control plane (same N, topology and changes; ratio = replicated / single):', '');
    extra.push('| N | replicas | class | p50 ms (1 -> R) | p50 ratio | p99 ms (1 -> R) | p99 ratio | CP RSS KiB/agent (1 -> R) | RSS ratio | after GC: RSS KiB/agent (1 -> R) | ratio | heap KiB/agent (1 -> R) | ratio |');
    extra.push('|---|---|---|---|---|---|---|---|---|---|---|---|---|');
    for (const c of comparison) {
      for (const cls of ['all', 'few', 'overall']) {
        const x = c[cls];
        const pair = (m) => (m ? `${f1(m.one)} -> ${f1(m.replicated)} | ${fx(m.ratio)}` : '- | -');
        const mem = cls === 'overall' ? [c.rssPerAgentKiB, c.rssPerAgentAfterGcKiB, c.heapPerAgentKiB].map(pair).join(' | ') : ' | | | | | ';
        extra.push(x
          ? `| ${c.agents} | ${c.replicas} | ${cls} | ${f1(x.p50.one)} -> ${f1(x.p50.replicated)} | ${fx(x.p50.ratio)} | ${f1(x.p99.one)} -> ${f1(x.p99.replicated)} | ${fx(x.p99.ratio)} | ${mem} |`
          : `| ${c.agents} | ${c.replicas} | ${cls} | failed | | | | ${mem} |`);
      }
    }
  }
  const replicated = runs.filter((r) => r.replicas !== 1 && !r.error);
  if (replicated.length) {
    extra.push('', 'Replicated runs by where the change was reported (on a follower it reaches the leader through etcd first):', '');
    extra.push('| N | replicas | reported on | class | changes | p50 ms | p99 ms | max ms | timeouts |');
    extra.push('|---|---|---|---|---|---|---|---|---|');
    for (const r of replicated) {
      for (const [k, s] of Object.entries(r.summary.byInjection ?? {})) {
        const [where, cls] = k.split('/');
        extra.push(`| ${r.agents} | ${r.replicas} | ${where} | ${cls} | ${s.changes} | ${f1(s.p50)} | ${f1(s.p99)} | ${f1(s.max)} | ${s.timeouts} |`);
      }
    }
    extra.push('');
    for (const r of replicated) {
      const cpu = r.backgroundCpu;
      const moves = (r.leaderTimeline ?? []).slice(1);
      extra.push(`- N=${r.agents}, ${r.replicas} replicas: leader ${r.leader}${moves.map((t) => `, then ${t.leader ?? 'none'} (seen ${t.phase}, ${t.atSeconds.toFixed(1)} s into the run)`).join('')}; etcd members' RSS ${f1(r.etcd.rssAfterKiB / 1024)} MiB in all, +${f1(r.etcd.rssPerAgentKiB)} KiB per agent (not in the CP columns); background CPU: replicas ${cpu.controlPlanePercent.map((x) => `${x.toFixed(0)}%`).join(' / ')}, etcd ${cpu.etcdPercent.toFixed(0)}% (one control plane at this N: ${(() => {
        const one = runs.find((x) => x.agents === r.agents && x.replicas === 1 && x.backgroundCpu);
        return one ? `${one.backgroundCpu.controlPlanePercent[0].toFixed(0)}%` : '-';
      })()}).`);
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
  const replicasNote = withReplicas
    ? ` Replicas ${replicaCounts.join(',')}: 1 = one control plane on the file store; R > 1 = R replicas (store etcd, leaseTtlSeconds ${ETCD_LEASE_TTL_S}) on ${ETCD_MEMBERS} etcd members (etcd ${etcdInfo.version ?? 'unknown'}, raft heartbeat 50 ms / election 500 ms, data dirs on ${etcdInfo.fileSystem}), agent i on replica i % R, everything on this machine.`
    : '';
  const header = `Scale: run on ${new Date().toISOString().slice(0, 10)}, ${cpus().length} x ${cpus()[0]?.model ?? 'unknown CPU'}, Node ${process.version}; ${procs} swarm processes on the same machine; observations ${observations ? 'on' : 'off'}; control plane heartbeat.timeoutMs ${heartbeatTimeoutMs ?? 'default'}; convergence = injecting agent's send -> last affected agent's ACK; p99 is nearest-rank (with 10 changes, the slowest).${replicasNote}`;
  const text = [
    header,
    '',
    ...lines,
    ...runs.filter((r) => r.swarm?.dropped > 0 || r.swarm?.nacksSent > 0).map((r) => `\nN=${r.agents}${withReplicas ? `, ${r.replicas} replica(s)` : ''}: ${r.swarm.dropped} agents' streams dropped (close codes ${JSON.stringify(r.swarm.closeCodes ?? {})}) and ${r.swarm.nacksSent} NACKs sent during the run${r.summary?.overall.notInjected ? `; ${r.summary.overall.notInjected} changes not injected (their agent had been dropped)` : ''}: read its figures with care.`),
    ...extra,
    '',
    `1-minute load average (start -> after the changes; ${cpus().length} cores): ${runs.filter((r) => r.loadAverage).map((r) => `N=${r.agents}${withReplicas ? ` x${r.replicas}` : ''} ${r.loadAverage.start.toFixed(1)} -> ${r.loadAverage.afterChanges?.toFixed(1) ?? '-'}`).join(', ')}.`,
    '',
    `Targets${withReplicas ? ' (one control plane only)' : ''}:`,
    '',
    ...targets.map((t) => `- N=${t.agents}: ${t.what} <= ${t.max} ${t.unit}: ${t.value === null ? '-' : `${f1(t.value)} ${t.unit}`} — ${t.verdict}`),
  ].join('\n');
  return { text, targets };
}

// --- main ------------------------------------------------------------------

const runs = [];
const etcdInfo = replicaCounts.some((r) => r > 1) ? { version: etcdVersion(), fileSystem: fileSystemOf(dir), dataDirParent: dir } : undefined;
try {
  for (const n of sizes) {
    for (const replicas of replicaCounts) {
      if (exit.interrupted) break;
      const result = { agents: n, replicas };
      runs.push(result);
      try {
        await runSize(n, replicas, result);
      } catch (err) {
        if (exit.interrupted) throw err;
        result.error = err instanceof Error ? err.message : String(err);
        log(`N=${n}${replicas === 1 ? '' : `, ${replicas} replicas`} failed: ${result.error}`);
      } finally {
        await group.stopAll();
        group = new ProcessGroup();
      }
    }
  }
  const comparison = compare(runs);
  const { text, targets } = report(runs, comparison, etcdInfo ?? {});
  process.stdout.write(`${text}\n`);
  if (values.json) {
    const results = runs.filter((r) => r.replicas === 1);
    const replicated = runs.filter((r) => r.replicas !== 1);
    writeFileSync(values.json, JSON.stringify({ date: new Date().toISOString(), node: process.version, cpus: cpus().length, seed, changes, procs, observations, results, targets, replicas: replicaCounts, replicated, comparison, ...(etcdInfo ? { etcd: etcdInfo } : {}) }, (_k, v) => (v === Infinity ? 'timeout' : Number.isNaN(v) ? null : v), 2));
    log(`wrote ${values.json}`);
  }
  if (runs.some((r) => r.error)) process.exitCode = 1;
} catch (err) {
  if (!exit.interrupted) log(`scale failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
} finally {
  await group.stopAll();
}
