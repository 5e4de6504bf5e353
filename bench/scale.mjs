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
// - R > 1: a 3-member etcd cluster (the tests' harness, @meshlet/test-harness/etcd: Debian's
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
// --smoke: every path once, for the test suite and `npm run bench:smoke`:
// --agents 10 --changes 2 --procs 1 --replicas 1,3 --heap off --pause 0 and
// short settling pauses (a few seconds in all, etcd included). No figure is
// checked; any failure (a timeout, a change that does not converge, an
// agent dropped) exits 1 with its message.
//
// Code: this entry reads the options and runs the sizes; bench/lib/scale/
// holds the scenario (control-planes.mjs), the driver (driver.mjs, with its
// phases memory.mjs and changes.mjs) and the report (report.mjs).
//
// usage: node bench/scale.mjs [--agents 100,1000,5000] [--changes 20] [--procs 2] [--smoke]
//                             [--observations on|off] [--json FILE] [--seed 1]
//                             [--connect-batch 500] [--ready-timeout S] [--change-timeout 10000]
//                             [--pause 100] [--heartbeat-timeout-ms MS] [--heap on|off]
//                             [--control-plane FILE] [--replicas 1,3]
// Build first (npm run build): the control plane runs from control-plane/dist
// (--control-plane: another build's main.js, e.g. of an older commit, to compare).
import { mkdtempSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { etcdVersion } from '@meshlet/test-harness/etcd';
import { ProcessGroup, stopOnExit } from './lib/process-group.mjs';
import { runSize } from './lib/scale/driver.mjs';
import { ensureOpenFiles, parseScaleOptions } from './lib/scale/options.mjs';
import { compare, fileSystemOf, report } from './lib/scale/report.mjs';

const scriptFile = fileURLToPath(import.meta.url);
const root = resolve(dirname(scriptFile), '..');
const log = (s) => process.stderr.write(`${s}\n`);

const opts = parseScaleOptions(process.argv.slice(2), { root, scriptFile, log });
ensureOpenFiles(Math.max(...opts.sizes) + 512, scriptFile, log);

// What every part of a run shares; `group` is renewed for each size.
const dir = mkdtempSync(join(tmpdir(), 'meshlet-scale-'));
const ctx = { opts, log, root, dir, group: new ProcessGroup() };
const exit = stopOnExit(
  () => ctx.group,
  dir,
  log,
  () => ctx.group.stopAll(),
);

const runs = [];
const etcdInfo = opts.replicaCounts.some((r) => r > 1)
  ? { version: etcdVersion(), fileSystem: fileSystemOf(dir), dataDirParent: dir }
  : undefined;
try {
  for (const n of opts.sizes) {
    for (const replicas of opts.replicaCounts) {
      if (exit.interrupted) break;
      const result = { agents: n, replicas };
      runs.push(result);
      try {
        await runSize(ctx, n, replicas, result);
      } catch (err) {
        if (exit.interrupted) throw err;
        result.error = err instanceof Error ? err.message : String(err);
        log(`N=${n}${replicas === 1 ? '' : `, ${replicas} replicas`} failed: ${result.error}`);
      } finally {
        await ctx.group.stopAll();
        ctx.group = new ProcessGroup();
      }
    }
  }
  const comparison = compare(runs);
  const { text, targets } = report(runs, comparison, etcdInfo ?? {}, opts);
  process.stdout.write(`${text}\n`);
  if (opts.json) {
    const { seed, changes, procs, observations, replicaCounts } = opts;
    const results = runs.filter((r) => r.replicas === 1);
    const replicated = runs.filter((r) => r.replicas !== 1);
    writeFileSync(
      opts.json,
      JSON.stringify(
        {
          date: new Date().toISOString(),
          node: process.version,
          cpus: cpus().length,
          seed,
          changes,
          procs,
          observations,
          results,
          targets,
          replicas: replicaCounts,
          replicated,
          comparison,
          ...(etcdInfo ? { etcd: etcdInfo } : {}),
        },
        (_k, v) => (v === Infinity ? 'timeout' : Number.isNaN(v) ? null : v),
        2,
      ),
    );
    log(`wrote ${opts.json}`);
  }
  if (opts.smoke) {
    // Every path must have answered: no failed size, no change that timed out or was not injected, no dropped agent.
    const bad = runs.flatMap((r) => [
      ...(r.error ? [`N=${r.agents} x${r.replicas}: ${r.error}`] : []),
      ...(r.summary?.overall.timeouts
        ? [`N=${r.agents} x${r.replicas}: ${r.summary.overall.timeouts} changes did not converge`]
        : []),
      ...(r.summary?.overall.notInjected
        ? [`N=${r.agents} x${r.replicas}: ${r.summary.overall.notInjected} changes not injected`]
        : []),
      ...(r.swarm?.dropped ? [`N=${r.agents} x${r.replicas}: ${r.swarm.dropped} agents dropped`] : []),
      ...(r.swarm?.nacksSent ? [`N=${r.agents} x${r.replicas}: ${r.swarm.nacksSent} NACKs sent`] : []),
    ]);
    if (bad.length > 0) throw new Error(`smoke run failed:\n  ${bad.join('\n  ')}`);
    log('scale smoke: every path answered');
  }
  if (runs.some((r) => r.error)) process.exitCode = 1;
} catch (err) {
  if (!exit.interrupted) log(`scale failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
} finally {
  await ctx.group.stopAll();
}
