import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { type EtcdCluster, startEtcdCluster } from '../../harness/etcd.js';
import { httpRequest } from '../../harness/http.js';
import { AGENT_BIN } from '../../harness/mesh.js';
import { Proc } from '../../harness/process.js';
import { replicaSettings } from '../../harness/replica-settings.js';
import { waitFor } from '../../harness/wait.js';
import { type ChaosMesh, type CpNode, PORTS } from '../../chaos/lib/chaos-mesh.js';
import type { ChaosHost, ChaosNet } from '../../chaos/lib/chaos-net.js';
import { agreedLeader, waitLeader } from '../../chaos/lib/replicas.js';
import type { Holder } from './lock-history.js';
import type { StoreRecord } from './lock-checker.js';

/** The etcd key prefix of the replicas (the control plane's default). */
export const PREFIX = '/meshlet/';

/** One contender: a host with its app (a lock client or an election candidate) and its agent. */
export interface Contender {
  host: ChaosHost;
  /** The agent's id, its instance's id too. */
  id: string;
  agent: Proc;
  app: Proc | undefined;
  /** The app's history file. */
  history: string;
  /** Starts the agent again (after a kill) and waits until it is ready. */
  restartAgent(): Promise<void>;
  /** Starts the app (again), inside the host's namespace, with `options` for its script. */
  startApp(options: Record<string, unknown>): void;
}

/**
 * The mesh of a coordination scenario: three etcd members and three
 * control-plane replicas on etcd (each on its own chaos host), and
 * contenders, each on its own host: an agent fronting the app of one
 * instance of `service`, the app being the scenario's script (which serves
 * the instance's /healthz and calls its agent on loopback, the only peers
 * the coordination routes answer). The agents' admin listeners listen on
 * every address of their namespace: the app reaches it on 127.0.0.1, the
 * test on the host's address (for /ready).
 */
export class CoordMesh {
  readonly #net: ChaosNet;
  readonly #mesh: ChaosMesh;
  readonly #scratch: { dir: string; config(name: string, value: unknown): string };
  etcd!: EtcdCluster;
  etcdHosts: ChaosHost[] = [];
  cps: CpNode[] = [];
  readonly contenders: Contender[] = [];
  #client: Etcd3 | undefined;

  constructor(suite: {
    net: ChaosNet;
    mesh: ChaosMesh;
    scratch: { dir: string; config(name: string, value: unknown): string };
  }) {
    this.#net = suite.net;
    this.#mesh = suite.mesh;
    this.#scratch = suite.scratch;
  }

  /** Starts etcd and the replicas; waits until one of them leads. */
  async startControlPlanes(): Promise<void> {
    this.etcdHosts = ['etcd-1', 'etcd-2', 'etcd-3'].map((n) => this.#net.host(n));
    const cpHosts = ['cp-1', 'cp-2', 'cp-3'].map((n) => this.#net.host(n));
    this.etcd = await startEtcdCluster(this.#scratch, 3, {
      logLevel: 'warn',
      place: (i) => {
        const h = this.etcdHosts[i] as ChaosHost;
        return { host: h.ip, wrap: (c, a) => h.wrap(c, a) };
      },
    });
    for (const h of cpHosts)
      this.cps.push(
        await this.#mesh.controlPlane(h, replicaSettings(this.#scratch as never, h.name, this.etcd.endpoints)),
      );
    await waitLeader(this.#mesh, this.cps, 30_000);
  }

  /** Starts a contender on a new host `id`: its agent, fronting `script` (started with `options`) as an instance of `service`. */
  async contender(id: string, service: string, script: string, options: Record<string, unknown>): Promise<Contender> {
    const host = this.#net.host(id);
    const joinToken = await this.#mesh.credential(this.cps, service);
    const config = {
      agentId: id,
      listeners: {
        outbound: { enabled: false },
        inbound: { host: host.ip, port: PORTS.inbound },
        admin: { host: '0.0.0.0', port: PORTS.admin },
      },
      controlPlane: {
        urls: this.cps.map((c) => c.streamUrl),
        heartbeatIntervalMs: 200,
        reconnectInitialDelayMs: 50,
        reconnectMaxDelayMs: 500,
        joinToken,
        caFile: join(this.#scratch.dir, 'chaos-ca.crt'),
      },
      dataDir: join(this.#scratch.dir, `agent-${id}`),
      log: { level: 'info' },
      instance: {
        service,
        app: { host: host.ip, port: PORTS.app },
        healthCheck: { path: '/healthz', intervalMs: 100, timeoutMs: 200, healthyThreshold: 2, unhealthyThreshold: 2 },
      },
    };
    const file = this.#scratch.config(`agent-${id}`, config);
    const history = join(this.#scratch.dir, `history-${id}.jsonl`);
    const spawnIn = (name: string, args: string[]) => {
      const [command, wrapped] = host.wrap(process.execPath, args);
      return new Proc(name, command, wrapped);
    };
    const c: Contender = {
      host,
      id,
      history,
      agent: undefined as unknown as Proc,
      app: undefined,
      restartAgent: async () => {
        c.agent = spawnIn(`agent-${id}`, [AGENT_BIN, '--config', file]);
        await waitFor(
          `agent ${id} to be ready`,
          async () => (await httpRequest(PORTS.admin, '/ready', { host: host.ip, timeoutMs: 2_000 })).status === 200,
          { timeoutMs: 30_000, intervalMs: 100 },
        );
      },
      startApp: (o) => {
        const all = { agent: `http://127.0.0.1:${PORTS.admin}`, history, appHost: host.ip, appPort: PORTS.app, ...o };
        c.app = spawnIn(`app-${id}`, [script, JSON.stringify(all)]);
      },
    };
    c.startApp(options);
    await c.restartAgent();
    this.contenders.push(c);
    return c;
  }

  /** The replica every running one agrees leads (waits up to `timeoutMs`). */
  leader(timeoutMs = 30_000): Promise<CpNode> {
    return waitLeader(
      this.#mesh,
      this.cps.filter((c) => c.proc.running),
      timeoutMs,
    );
  }

  /** Whether the running replicas agree on a leader now. */
  async hasLeader(): Promise<boolean> {
    return (
      (await agreedLeader(
        this.#mesh,
        this.cps.filter((c) => c.proc.running),
      ).catch(() => undefined)) !== undefined
    );
  }

  /** SIGKILL to the leader replica; returns it (restart it with `restart()`). */
  async killLeader(): Promise<CpNode> {
    const cp = await this.leader();
    await cp.proc.stop('SIGKILL');
    return cp;
  }

  /** An etcd client on the members (closed by {@link close}). */
  get store(): Etcd3 {
    this.#client ??= new Etcd3({ hosts: this.etcd.endpoints });
    return this.#client;
  }

  /**
   * What etcd recorded for each token: the lock's key read at revision
   * `token` (the key `<prefix>coord/lock/<service>/<name>`), its create
   * revision and the holder its value names.
   */
  async storeRecords(kind: 'lock' | 'election', service: string, name: string, tokens: Iterable<number>) {
    const key = `${PREFIX}data/coord/${kind}/${service}/${name}`;
    const out = new Map<number, StoreRecord | undefined>();
    for (const token of tokens) {
      const res = await this.store.get(key).revision(token).exec();
      const kv = res.kvs[0];
      out.set(
        token,
        kv ? { createRevision: Number(kv.create_revision), holder: holderIn(kv.value.toString()) } : undefined,
      );
    }
    return out;
  }

  /** Closes the etcd client. */
  close(): void {
    this.#client?.close();
    this.#client = undefined;
  }
}

/** The holder a stored lock value names: `{holder: {...}}` or the ids at its top level. */
export function holderIn(value: string): Holder | undefined {
  try {
    const v = JSON.parse(value) as Record<string, unknown>;
    const h = (typeof v.holder === 'object' && v.holder !== null ? v.holder : v) as Record<string, unknown>;
    const pick = (k: string) => (typeof h[k] === 'string' ? { [k]: h[k] as string } : {});
    const holder: Holder = { ...pick('agentId'), ...pick('instanceId') };
    return holder.agentId === undefined && holder.instanceId === undefined ? undefined : holder;
  } catch {
    return undefined;
  }
}
