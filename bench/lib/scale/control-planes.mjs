// The control planes of one bench/scale.mjs run: one on the file store, or R
// replicas on a real 3-member etcd cluster (the tests' harness,
// @meshlet/test-harness/etcd), and what the run reads from them (leader, memory).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { requireEtcd, startEtcdCluster } from '@meshlet/test-harness/etcd';
import getPort from 'get-port';
import { stringify } from 'yaml';
import { inspectorUrlIn, memoryAfterGc, vmRssKiB } from '../control-plane-probe.mjs';

/** With --replicas above 1: etcd members, and the replicas' store.etcd.leaseTtlSeconds (the default and minimum, as in test/ha-leader.test.ts). */
export const ETCD_MEMBERS = 3;
export const ETCD_LEASE_TTL_S = 2;

/** Resolves after `ms` milliseconds. */
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Polls `check` (truthy: done) every `everyMs` until `timeoutMs`, failing at
 * once if a process of `ctx.group` died; `check` may throw to fail at once.
 * `state()` says where things stood, for the timeout's message.
 */
export async function until(ctx, what, check, timeoutMs, everyMs = 100, state = () => undefined) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    ctx.group.assertAlive();
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
async function startControlPlane(ctx, n, { etcd, replicaId, name = `cp-${n}` } = {}) {
  const { opts, dir, root, group, log } = ctx;
  const port = await getPort({ host: '127.0.0.1' });
  const config = {
    listen: { host: '127.0.0.1', port },
    dataDir: join(dir, name),
    push: { startupGraceMs: 0 },
    log: { level: 'warn' },
    ...(opts.heartbeatTimeoutMs === undefined ? {} : { heartbeat: { timeoutMs: opts.heartbeatTimeoutMs } }),
    ...(etcd
      ? {
          store: { kind: 'etcd', etcd: { endpoints: etcd.endpoints, leaseTtlSeconds: ETCD_LEASE_TTL_S, replicaId } },
          // Set explicitly: auto is a config error on etcd.
          identity: { ca: { source: 'memory' } },
        }
      : {}),
  };
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, stringify(config));
  const args = [...(opts.heap ? ['--inspect=127.0.0.1:0'] : []), opts.cpMain, '--config', file];
  const child = group.start(etcd ? `control plane ${replicaId}` : 'control plane', process.execPath, args, {
    cwd: root,
  });
  const url = `http://127.0.0.1:${port}`;
  await until(
    ctx,
    `${etcd ? `replica ${replicaId}` : 'the control plane'} to answer /healthz`,
    async () => {
      try {
        return (await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1000) })).status === 200;
      } catch {
        return false;
      }
    },
    15_000,
    50,
  );
  const inspector = opts.heap ? inspectorUrlIn(child.tail()) : undefined;
  if (opts.heap && !inspector)
    log(`    (no inspector URL in ${replicaId ?? 'the control plane'}'s output: heap not measured)`);
  return { child, url, streamUrl: `ws://127.0.0.1:${port}/v1/stream`, inspector, replicaId: replicaId ?? 'standalone' };
}

/** `GET /v1/cluster` of every control plane, bounded; a failed one is `{ error }`. */
async function clusterViews(cps) {
  return Promise.all(
    cps.map(async (cp) => {
      try {
        const r = await fetch(`${cp.url}/v1/cluster`, { signal: AbortSignal.timeout(2000) });
        return r.status === 200 ? await r.json() : { error: `status ${r.status}` };
      } catch (err) {
        return { error: err instanceof Error ? err.message : String(err) };
      }
    }),
  );
}

/** The replicaId every replica agrees leads (one says leader, all name it), or undefined. */
export async function agreedLeader(cps) {
  const views = await clusterViews(cps);
  const leaders = views.filter((v) => v.role === 'leader');
  if (leaders.length !== 1) return undefined;
  const id = leaders[0].replicaId;
  return views.every((v) => v.leader?.replicaId === id) ? id : undefined;
}

/**
 * The control planes of one run: one on the file store (`replicas` 1), or a
 * 3-member etcd cluster and `replicas` replicas on it, waited for until one
 * leads and the others name it. Returns `{ cps, etcd?, leader? }`; the etcd
 * members are in `ctx.group`, which stops them with the rest.
 */
export async function startControlPlanes(ctx, n, replicas) {
  if (replicas === 1) return { cps: [await startControlPlane(ctx, n)] };
  requireEtcd('bench/scale.mjs --replicas 3 runs');
  const etcdDir = join(ctx.dir, `etcd-${n}-r${replicas}`);
  // Each member joins the group as it is spawned, so a SIGINT (or a cluster that never becomes healthy)
  // stops it with the rest. The members' data is thrown away with the run: SIGKILL, as the tests' killAll
  // does, spares the seconds a SIGTERMed member spends trying to hand its leadership to peers that are
  // stopping too.
  const etcd = await startEtcdCluster({ dir: etcdDir }, ETCD_MEMBERS, {
    logLevel: 'warn',
    onSpawn: (proc) => ctx.group.add(proc, 'SIGKILL'),
  });
  ctx.log(`    etcd: ${ETCD_MEMBERS} members on ${etcd.endpoints.join(', ')} (data under ${etcdDir})`);
  const cps = [];
  for (let i = 0; i < replicas; i++)
    cps.push(
      await startControlPlane(ctx, n, { etcd, replicaId: `cp-${i + 1}`, name: `cp-${n}-r${replicas}-${i + 1}` }),
    );
  let leader;
  let views;
  await until(
    ctx,
    'one replica to report role leader on GET /v1/cluster and the others to name it',
    async () => {
      leader = await agreedLeader(cps);
      if (!leader) views = await clusterViews(cps);
      return leader !== undefined;
    },
    20_000,
    100,
    () => JSON.stringify(views),
  );
  return { cps, etcd, leader };
}

/**
 * The control plane's VmRSS as it is, then (with the inspector) after three
 * forced full GCs a little apart: { rssKiB, rssGcKiB?, heapUsedKiB?, externalKiB? }.
 */
export async function memorySnapshot(cp) {
  const rssKiB = vmRssKiB(cp.child.pid);
  if (!cp.inspector) return { rssKiB };
  let m;
  for (let i = 0; i < 3; i++) {
    if (i > 0) await sleep(300);
    m = await memoryAfterGc(cp.inspector);
  }
  return { rssKiB, rssGcKiB: vmRssKiB(cp.child.pid), heapUsedKiB: m.heapUsed / 1024, externalKiB: m.external / 1024 };
}
