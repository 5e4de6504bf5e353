// A real etcd cluster for bench/scale.mjs --replicas 3, started the way the
// tests start one (test/harness/etcd.ts): Debian's /usr/bin/etcd (package
// etcd-server; MESHLET_ETCD_BIN overrides it), `n` members on free loopback
// ports, each with its own data dir, fast raft timings (heartbeat 50 ms,
// election timeout 500 ms), waited for until every member says it is healthy.
// The members run in the caller's ProcessGroup (bench/lib/process-group.mjs),
// which stops them with the rest; nothing else is done to them.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import getPort from 'get-port';

export const ETCD_BIN = process.env.MESHLET_ETCD_BIN ?? '/usr/bin/etcd';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The installed etcd's version (`etcd --version`, bounded to 5 s), or undefined. */
export function etcdVersion() {
  if (!existsSync(ETCD_BIN)) return undefined;
  try {
    return /etcd Version:\s*(\S+)/.exec(execFileSync(ETCD_BIN, ['--version'], { encoding: 'utf8', timeout: 5000 }))?.[1];
  } catch {
    return undefined;
  }
}

/**
 * Starts `n` etcd members under `dir` in `group` and waits (at most
 * `timeoutMs`) until each answers `/health` with `"health":"true"`, which
 * needs a leader and a quorum. Returns `{ members: [{ name, clientUrl,
 * dataDir, child }], endpoints }`.
 */
export async function startEtcdCluster(group, dir, n, { timeoutMs = 20_000, log = () => undefined } = {}) {
  if (!existsSync(ETCD_BIN)) {
    throw new Error(`${ETCD_BIN} is missing: --replicas 3 runs a real etcd cluster; install Debian's package with \`apt-get install etcd-server\` (or set MESHLET_ETCD_BIN)`);
  }
  const token = `meshlet-scale-${Date.now()}-${process.pid}`;
  const specs = [];
  for (let i = 0; i < n; i++) specs.push({ name: `etcd${i}`, clientPort: await getPort({ host: '127.0.0.1' }), peerPort: await getPort({ host: '127.0.0.1' }) });
  const initialCluster = specs.map((s) => `${s.name}=http://127.0.0.1:${s.peerPort}`).join(',');
  const members = specs.map((s) => {
    const clientUrl = `http://127.0.0.1:${s.clientPort}`;
    const peerUrl = `http://127.0.0.1:${s.peerPort}`;
    const dataDir = join(dir, `${s.name}-${s.clientPort}`);
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const args = [
      '--name', s.name,
      '--data-dir', dataDir,
      '--listen-client-urls', clientUrl,
      '--advertise-client-urls', clientUrl,
      '--listen-peer-urls', peerUrl,
      '--initial-advertise-peer-urls', peerUrl,
      '--initial-cluster', initialCluster,
      '--initial-cluster-token', token,
      '--initial-cluster-state', 'new',
      '--heartbeat-interval', '50',
      '--election-timeout', '500',
      '--logger', 'zap',
      '--log-outputs', 'stderr',
      '--log-level', 'warn',
    ];
    const child = group.start(`etcd member ${s.name}`, ETCD_BIN, args);
    return { name: s.name, clientUrl, dataDir, child };
  });
  log(`    etcd: ${n} members on ${members.map((m) => m.clientUrl).join(', ')} (data under ${dir})`);
  const deadline = Date.now() + timeoutMs;
  await Promise.all(members.map(async (m) => {
    let last = 'no answer yet';
    while (Date.now() < deadline) {
      if (m.child.exitCode !== null || m.child.signalCode !== null) throw new Error(`etcd member ${m.name} exited: ${m.child.tail().slice(-2000)}`);
      try {
        const res = await fetch(`${m.clientUrl}/health`, { signal: AbortSignal.timeout(2000) });
        const body = await res.json();
        if (body.health === 'true') return;
        last = JSON.stringify(body);
      } catch (err) {
        last = err instanceof Error ? err.message : String(err);
      }
      await sleep(100);
    }
    throw new Error(`etcd member ${m.name} at ${m.clientUrl} not healthy within ${timeoutMs} ms (last: ${last})`);
  }));
  return { members, endpoints: members.map((m) => m.clientUrl) };
}
