import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import getPort from 'get-port';
import { Proc } from './process.js';
import { waitFor } from './wait.js';

/** Debian's etcd (package `etcd-server`, installed by `.ci/run`). */
export const ETCD_BIN = process.env.MESHLET_ETCD_BIN ?? '/usr/bin/etcd';

/** One etcd member on loopback. */
export interface EtcdMember {
  name: string;
  clientUrl: string;
  peerUrl: string;
  dataDir: string;
  proc: Proc;
  /** SIGKILL, as a crash: waits for the exit. */
  kill(): Promise<void>;
  /** Starts the member again on the same ports and data dir (it rejoins the cluster). */
  restart(): Promise<void>;
}

/** A running etcd cluster. */
export interface EtcdCluster {
  members: EtcdMember[];
  /** Client URLs of every member. */
  endpoints: string[];
  /** Waits until every running member reports healthy (a quorum read through it succeeds). */
  waitHealthy(timeoutMs?: number): Promise<void>;
  /** SIGTERM to every running member (SIGKILL after a grace period); waits for the exits. */
  stop(): Promise<void>;
}

/** Options of {@link startEtcdCluster}. */
export interface EtcdClusterOptions {
  /** How long the cluster (and a restarted member) may take to become healthy. */
  timeoutMs?: number;
  /** etcd's `--log-level`; etcd's own default (info) when absent. */
  logLevel?: 'debug' | 'info' | 'warn' | 'error';
  /**
   * Called with each member's process as it is spawned (a restart too),
   * before the cluster is healthy: a caller that must stop the members on
   * SIGINT (a benchmark's process group) knows them from the start.
   */
  onSpawn?: (proc: Proc) => void;
  /**
   * Where member `index` runs instead of loopback: `host` is its address
   * (its client and peer URLs, on the same free ports), and `wrap` turns
   * its command into the one to spawn, such as `ip netns exec NS etcd ...`
   * (it must exec, so that the process id is etcd's own). Unset: every
   * member on 127.0.0.1, run as is.
   */
  place?: (index: number) => { host: string; wrap?: (command: string, args: readonly string[]) => [string, string[]] };
}

/**
 * Throws a message naming the package when etcd is not installed: the tests
 * and the benchmarks run real etcd, never a mock. `who` names what needs it.
 */
export function requireEtcd(who = 'the etcd store tests run'): void {
  if (!existsSync(ETCD_BIN)) {
    throw new Error(
      `${ETCD_BIN} is missing: ${who} a real etcd; install Debian's package with \`apt-get install etcd-server\` (CI's .ci/run does)`,
    );
  }
}

/** The installed etcd's version (`etcd --version`, bounded to 5 s), or undefined. */
export function etcdVersion(): string | undefined {
  if (!existsSync(ETCD_BIN)) return undefined;
  try {
    return /etcd Version:\s*(\S+)/.exec(
      execFileSync(ETCD_BIN, ['--version'], { encoding: 'utf8', timeout: 5_000 }),
    )?.[1];
  } catch {
    return undefined;
  }
}

/**
 * Starts `n` etcd members (1 or 3) on free loopback ports (or where
 * `place` puts them), each with its own
 * data dir under `scratch.dir`, with fast raft timings so that an election
 * takes well under a second, and waits until the cluster is healthy.
 */
export async function startEtcdCluster(
  scratch: { readonly dir: string },
  n: 1 | 3,
  { timeoutMs = 20_000, logLevel, onSpawn, place }: EtcdClusterOptions = {},
): Promise<EtcdCluster> {
  requireEtcd();
  const token = `meshlet-test-${Date.now()}-${process.pid}`;
  const specs: { name: string; host: string; clientPort: number; peerPort: number }[] = [];
  for (let i = 0; i < n; i++) {
    const host = place?.(i).host ?? '127.0.0.1';
    specs.push({ name: `etcd${i}`, host, clientPort: await getPort(), peerPort: await getPort() });
  }
  const initialCluster = specs.map((s) => `${s.name}=http://${s.host}:${s.peerPort}`).join(',');

  const members = specs.map((s, index): EtcdMember => {
    const clientUrl = `http://${s.host}:${s.clientPort}`;
    const peerUrl = `http://${s.host}:${s.peerPort}`;
    const wrap = place?.(index).wrap;
    const dataDir = join(scratch.dir, `${s.name}-${s.clientPort}`);
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const args = [
      '--name',
      s.name,
      '--data-dir',
      dataDir,
      '--listen-client-urls',
      clientUrl,
      '--advertise-client-urls',
      clientUrl,
      '--listen-peer-urls',
      peerUrl,
      '--initial-advertise-peer-urls',
      peerUrl,
      '--initial-cluster',
      initialCluster,
      '--initial-cluster-token',
      token,
      '--initial-cluster-state',
      'new',
      '--heartbeat-interval',
      '50',
      '--election-timeout',
      '500',
      '--logger',
      'zap',
      '--log-outputs',
      'stderr',
      ...(logLevel ? ['--log-level', logLevel] : []),
    ];
    const start = () => {
      const [command, wrapped] = wrap ? wrap(ETCD_BIN, args) : [ETCD_BIN, args];
      const proc = new Proc(s.name, command, wrapped);
      onSpawn?.(proc);
      return proc;
    };
    const member: EtcdMember = {
      name: s.name,
      clientUrl,
      peerUrl,
      dataDir,
      proc: start(),
      async kill() {
        await member.proc.stop('SIGKILL');
      },
      async restart() {
        if (member.proc.running) throw new Error(`${s.name} is still running`);
        member.proc = start();
        await waitMemberHealthy(member, timeoutMs);
      },
    };
    return member;
  });

  const cluster: EtcdCluster = {
    members,
    endpoints: members.map((m) => m.clientUrl),
    async waitHealthy(t = timeoutMs) {
      await Promise.all(members.filter((m) => m.proc.running).map((m) => waitMemberHealthy(m, t)));
    },
    async stop() {
      await Promise.all(members.map((m) => m.proc.stop()));
    },
  };
  await cluster.waitHealthy();
  return cluster;
}

/** etcd's `/health` answers `"health":"true"` only when the member has a leader and its cluster can serve a read, so a quorum is there. */
async function waitMemberHealthy(member: EtcdMember, timeoutMs: number): Promise<void> {
  await waitFor(
    `etcd member ${member.name} at ${member.clientUrl} to be healthy`,
    async () => {
      if (!member.proc.running) throw new Error(`${member.name} exited: ${member.proc.output.slice(-2_000)}`);
      const res = await fetch(`${member.clientUrl}/health`, { signal: AbortSignal.timeout(2_000) });
      const body = (await res.json()) as { health?: string; reason?: string };
      if (body.health !== 'true') throw new Error(`unhealthy: ${JSON.stringify(body)}`);
      return true;
    },
    { timeoutMs, intervalMs: 100 },
  );
}
