#!/usr/bin/env node
// Database failover, side by side on this machine: the time from a kill of
// the primary's server to the first write acknowledged again through the
// same address, and whether any acknowledged write was lost or any write
// reached the deposed primary after the new term began.
//
// Paths (bench/lib/failover/paths.mjs), all from Debian, started by the
// script on loopback, each with two database instances:
//
//   patroni-defaults   Patroni 3.0 + etcd + HAProxy 2.6 (checking Patroni's /primary),
//                      PostgreSQL 15 primary + synchronous standby, Patroni's and
//                      HAProxy's example settings
//   patroni-tuned      the same at the fastest documented settings
//   meshlet-redis-defaults  meshlet with Redis 7 primary + replica (redis check, promote
//                      REPLICAOF NO ONE), an agent beside each, meshlet's defaults
//   meshlet-redis-tuned     the same, check every 200 ms, leaseMs 1000
//   sentinel-defaults  Redis 7 primary + replica + 3 Sentinels, sentinel.conf's defaults
//   sentinel-tuned     the same with down-after-milliseconds 1000
//
// The same writer on every path (bench/lib/failover/db-writer.mjs: one
// client writing numbered records through one address, reconnecting 20 ms
// after an error), the same kill (SIGKILL to the primary's postgres, its
// postmaster and backends / to its redis-server), N runs per path. Each run
// (bench/lib/failover/kill-run.mjs): 1 s of writes, the kill, the time until
// the first write begun after the kill is acknowledged, 1 s more of writes,
// then every acknowledged write is looked up on the final primary, the
// deposed primary's WAL is read for commits after the promotion, and the
// deposed node rejoins as a replica for the next run.
//
// usage: node bench/failover-compare.mjs [--runs 20] [--paths a,b] [--json FILE]
//                                        [--merge FILE[,FILE...]] [--smoke]
//
// --json FILE: writes every run's figures; --merge FILES: adds earlier
// --json files' paths to the table (those not measured now; a later file's
// path over an earlier one's), so that paths can be measured in separate
// invocations against the same baseline.
// --smoke: one run of the quickest path (sentinel-tuned), 300 ms of writes
// around the kill; for the test suite. No timing is checked; a path that
// does not start or recover, or a lost write, exits 1 with the reason.
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ProcessGroup } from './lib/process-group.mjs';
import { killRun } from './lib/failover/kill-run.mjs';
import { FAILOVER_PATHS, SMOKE_PATH } from './lib/failover/paths.mjs';
import { summarize, table } from './lib/failover/report.mjs';

const log = (s) => process.stderr.write(`${s}\n`);

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '20' },
    paths: { type: 'string' },
    json: { type: 'string' },
    merge: { type: 'string' },
    smoke: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  process.stdout.write(
    readFileSync(fileURLToPath(import.meta.url), 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('//'))
      .map((l) => l.slice(3))
      .join('\n') + '\n',
  );
  process.exit(0);
}
const runs = values.smoke ? 1 : Math.min(200, Math.max(1, Math.round(Number(values.runs))));
if (!Number.isFinite(runs)) {
  log(`--runs must be a number, got "${values.runs}"`);
  process.exit(2);
}
const names = values.smoke
  ? [values.paths ?? SMOKE_PATH]
  : (values.paths ?? Object.keys(FAILOVER_PATHS).join(',')).split(',').map((p) => p.trim());
for (const n of names) {
  if (!(n in FAILOVER_PATHS)) {
    log(`--paths: unknown path "${n}"; known: ${Object.keys(FAILOVER_PATHS).join(', ')}`);
    process.exit(2);
  }
}
const mergeFiles = values.merge ? values.merge.split(',') : [];
for (const f of mergeFiles) {
  if (!existsSync(f)) {
    log(`--merge: ${f} does not exist (write it with --json)`);
    process.exit(2);
  }
}
const timing = values.smoke ? { warmupMs: 300, tailMs: 300 } : { warmupMs: 1000, tailMs: 1000 };

// Every path gets its own processes and scratch dir, stopped before the next path starts.
const dir = mkdtempSync(join(tmpdir(), 'failover-compare-'));
// PostgreSQL runs as the postgres user: it must be able to reach its data dirs inside.
chmodSync(dir, 0o711);
const groups = [];
process.on('exit', () => {
  for (const g of groups) g.killAllSync();
  rmSync(dir, { recursive: true, force: true });
});
let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    log(`${signal}: stopping every process this benchmark started...`);
    Promise.all(groups.map((g) => g.stopAll())).finally(() => process.exit(130));
  });
}

const results = {};
let failed = false;
let nextNumber = 1;
for (const name of names) {
  const spec = FAILOVER_PATHS[name];
  const group = new ProcessGroup();
  groups.push(group);
  const ctx = { group, dir: mkdtempSync(join(dir, `${name}-`)), log };
  chmodSync(ctx.dir, 0o711);
  results[name] = { label: spec.label, db: spec.db, baseline: spec.baseline ?? false, runs: [] };
  let path;
  try {
    log(`${name}: starting`);
    path = await spec.start(ctx);
    for (let i = 0; i < runs && !interrupted; i++) {
      const r = await killRun(path, { firstNumber: nextNumber, ...timing, reset: i < runs - 1 });
      nextNumber = r.nextNumber;
      results[name].runs.push(r);
      log(
        `${name} run ${i + 1}/${runs}: ${r.failedOver ? 'failed over' : 'restarted in place'}, first write ${(r.recoveryMs / 1000).toFixed(2)} s after the kill, ${r.acked} acked, ${r.lost} lost, stale ${r.staleAcked}/${r.staleWal ?? '–'}, ${r.queryErrors} write errors, ${r.connectErrors} connect errors`,
      );
      if (values.smoke && r.lost > 0) throw new Error(`${r.lost} acknowledged writes lost`);
    }
  } catch (e) {
    failed = true;
    log(`${name} failed: ${e instanceof Error ? e.message : String(e)}`);
    try {
      group.assertAlive();
    } catch (dead) {
      log(dead.message);
    }
  } finally {
    await path?.stop().catch(() => {});
    await group.stopAll();
  }
}

// Paths measured now win; among the merged files, a later one's path wins over an earlier one's. A path's label,
// database and baseline mark come from FAILOVER_PATHS (files written before a path got them lack them).
const merged = {};
for (const f of mergeFiles) Object.assign(merged, JSON.parse(readFileSync(f, 'utf8')).paths ?? {});
for (const [name, r] of Object.entries(merged)) if (!(name in results)) results[name] = r;
const ordered = Object.fromEntries(
  Object.keys(FAILOVER_PATHS)
    .filter((n) => n in results)
    .map((n) => [n, { ...results[n], db: FAILOVER_PATHS[n].db, baseline: FAILOVER_PATHS[n].baseline ?? false }]),
);
process.stdout.write(`\n${table(ordered)}\n`);
if (values.json) {
  writeFileSync(values.json, JSON.stringify({ at: new Date().toISOString(), runs, paths: results }, null, 2));
  log(`wrote ${values.json}`);
}
if (values.smoke && !failed) {
  const answered = names.filter((n) => summarize(results[n].runs).runs > 0);
  log(`smoke: every path answered (${answered.join(', ')})`);
}
process.exit(failed ? 1 : 0);
