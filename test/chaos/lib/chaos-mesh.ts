import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeCa, makeCert } from '../../harness/certs.js';
import { type Answer, httpRequest } from '../../harness/http.js';
import { withSharedCa } from '../../harness/mesh-ca.js';
import { AGENT_BIN, CP_BIN, DEMO_APP, FAST_CP, type Scratch } from '../../harness/mesh.js';
import { Proc } from '../../harness/process.js';
import { waitFor } from '../../harness/wait.js';
import type { ChaosHost } from './chaos-net.js';

/** Ports are the same on every host: each namespace has its own. */
export const PORTS = { controlPlane: 15010, app: 8080, admin: 15000, outbound: 15001, inbound: 15006 } as const;

/** A process on a chaos host. */
export interface Node {
  host: ChaosHost;
  proc: Proc;
  /** Starts it again with the same config and data (after a kill), and waits until it is up. */
  restart(): Promise<void>;
}

/** A control plane on a chaos host, serving HTTPS and `wss://` on {@link PORTS.controlPlane}. */
export interface CpNode extends Node {
  url: string;
  streamUrl: string;
  config: Record<string, unknown>;
}

/** An agent on a chaos host; its admin listener is on the host's address. */
export interface AgentNode extends Node {
  agentId: string;
}

/**
 * The real meshlet processes of a chaos scenario, each on its chaos host,
 * secure as a user runs them: control planes serve TLS (a certificate for
 * their host's address, from a test CA the agents trust) with an admin
 * token, agents join with a per-service credential and talk to each other
 * over mutual TLS (strict, the default).
 */
export class ChaosMesh {
  readonly adminToken = randomBytes(24).toString('base64url');
  readonly #scratch: Scratch;
  readonly #caFile: string;

  constructor(scratch: Scratch) {
    this.#scratch = scratch;
    this.#caFile = makeCa(scratch.dir, 'chaos-ca');
  }

  /**
   * Starts a control plane on `host` (settings over fast test timings), and waits until it answers.
   * With `start: false` it is only made ready: its URLs are known (agents may list it) and `restart()` starts it.
   */
  async controlPlane(
    host: ChaosHost,
    extra: Record<string, unknown> = {},
    o: { start?: boolean } = {},
  ): Promise<CpNode> {
    const cert = makeCert(this.#scratch.dir, 'chaos-ca', `cp-${host.name}`, { ips: [host.ip] });
    const config = {
      listen: { host: host.ip, port: PORTS.controlPlane },
      dataDir: join(this.#scratch.dir, `cp-${host.name}`),
      log: { level: 'info' },
      ...FAST_CP,
      tls: cert,
      auth: { adminToken: this.adminToken },
      ...withSharedCa(this.#scratch.dir, extra),
    };
    const file = this.#scratch.config(`cp-${host.name}`, config);
    const url = `https://${host.ip}:${PORTS.controlPlane}`;
    const start = async () => {
      node.proc = spawn(host, `cp-${host.name}`, [CP_BIN, '--config', file]);
      await waitFor(
        `the control plane on ${host.name} to answer`,
        async () => (await this.admin(node, '/healthz')).status === 200,
        {
          timeoutMs: 30_000,
        },
      );
    };
    const node: CpNode = {
      host,
      proc: undefined as unknown as Proc,
      url,
      streamUrl: `wss://${host.ip}:${PORTS.controlPlane}/v1/stream`,
      config,
      restart: start,
    };
    if (o.start !== false) await start();
    return node;
  }

  /** A request to a control plane's admin API, with the admin token, over TLS trusting the test CA. */
  admin(cp: CpNode, path: string, o: { method?: string; body?: unknown } = {}): Promise<Answer> {
    return httpRequest(PORTS.controlPlane, path, {
      host: cp.host.ip,
      method: o.method ?? 'GET',
      headers: {
        authorization: `Bearer ${this.adminToken}`,
        ...(o.body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(o.body === undefined ? {} : { body: JSON.stringify(o.body) }),
      tls: { ca: readFileSync(this.#caFile) },
      timeoutMs: 5_000,
    });
  }

  /** Mints a join credential for `service` through `cps[0]`, and waits until every running one lists it. */
  async credential(cps: readonly CpNode[], service: string): Promise<string> {
    const [first] = cps;
    if (!first) throw new Error('credential: no control plane');
    const a = await this.admin(first, '/v1/join-credentials', { method: 'POST', body: { service } });
    if (a.status !== 201) throw new Error(`minting a join credential for ${service} answered ${a.status}: ${a.body}`);
    const { id, credential } = a.json() as { id: string; credential: string };
    for (const cp of cps)
      if (cp.proc?.running)
        await waitFor(`${cp.host.name} to list join credential ${id}`, async () => {
          const l = await this.admin(cp, '/v1/join-credentials');
          return l.status === 200 && (l.json().items as Array<{ id: string }>).some((c) => c.id === id);
        });
    return credential;
  }

  /** Starts the demo app on `host` (on the host's address, port {@link PORTS.app}), and waits until it answers. */
  async app(host: ChaosHost, service: string, id: string): Promise<Node> {
    const args = [DEMO_APP, '--service', service, '--instance', id, '--port', String(PORTS.app), '--host', host.ip];
    const start = async () => {
      node.proc = spawn(host, `app-${id}`, args);
      await waitFor(
        `demo app ${id}`,
        async () => (await httpRequest(PORTS.app, '/healthz', { host: host.ip })).status === 200,
      );
    };
    const node: Node = { host, proc: undefined as unknown as Proc, restart: start };
    await start();
    return node;
  }

  /** Sets the demo app's fault mode (`POST /_demo/fault`). */
  async fault(app: Node, mode: 'none' | 'unhealthy' | 'error' | 'slow' | 'reset', delayMs?: number): Promise<void> {
    const q = delayMs === undefined ? '' : `&delayMs=${delayMs}`;
    const a = await httpRequest(PORTS.app, `/_demo/fault?mode=${mode}${q}`, { host: app.host.ip, method: 'POST' });
    if (a.status !== 200) throw new Error(`setting fault ${mode} failed: ${a.body}`);
  }

  /**
   * Starts an agent on `host`: fronting the demo app there as an instance of
   * `instance` (health-checked fast), and/or a caller of `calls` with an
   * outbound listener on the host's address. Waits until it is ready.
   */
  async agent(
    host: ChaosHost,
    cps: readonly CpNode[],
    o: { agentId: string; instance?: string; calls?: string[]; service?: string },
  ): Promise<AgentNode> {
    const service = o.instance ?? o.service ?? 'client';
    const joinToken = await this.credential(cps, service);
    const config: Record<string, unknown> = {
      agentId: o.agentId,
      ...(o.instance ? {} : { service }),
      listeners: {
        outbound: o.calls ? { host: host.ip, port: PORTS.outbound } : { enabled: false },
        inbound: { host: host.ip, port: PORTS.inbound },
        admin: { host: host.ip, port: PORTS.admin },
      },
      controlPlane: {
        urls: cps.map((c) => c.streamUrl),
        heartbeatIntervalMs: 200,
        reconnectInitialDelayMs: 50,
        reconnectMaxDelayMs: 500,
        joinToken,
        caFile: this.#caFile,
      },
      dataDir: join(this.#scratch.dir, `agent-${o.agentId}`),
      log: { level: 'info' },
      ...(o.calls ? { upstreams: o.calls.map((s) => ({ service: s })) } : {}),
      ...(o.instance
        ? {
            instance: {
              service: o.instance,
              app: { host: host.ip, port: PORTS.app },
              healthCheck: {
                path: '/healthz',
                intervalMs: 100,
                timeoutMs: 200,
                healthyThreshold: 2,
                unhealthyThreshold: 2,
              },
            },
          }
        : {}),
    };
    const file = this.#scratch.config(`agent-${o.agentId}`, config);
    const start = async () => {
      node.proc = spawn(host, `agent-${o.agentId}`, [AGENT_BIN, '--config', file]);
      await waitFor(`agent ${o.agentId} to be ready`, async () => (await agentGet(node, '/ready')).status === 200, {
        timeoutMs: 30_000,
      });
    };
    const node: AgentNode = { host, agentId: o.agentId, proc: undefined as unknown as Proc, restart: start };
    await start();
    return node;
  }
}

/** A GET on an agent's admin listener. */
export const agentGet = (agent: AgentNode, path: string): Promise<Answer> =>
  httpRequest(PORTS.admin, path, { host: agent.host.ip, timeoutMs: 5_000 });

/** Ids of the healthy endpoints of `service` in `agent`'s table. */
export async function healthyIds(agent: AgentNode, service: string): Promise<string[]> {
  const a = await agentGet(agent, '/config');
  if (a.status !== 200) throw new Error(`GET /config on ${agent.agentId} answered ${a.status}`);
  const eps = (a.json().table?.services?.[service]?.endpoints ?? []) as Array<{ id: string; health?: string }>;
  return eps
    .filter((e) => (e.health ?? 'healthy') === 'healthy')
    .map((e) => e.id)
    .sort();
}

/** A process's resident memory in MB (`/proc/PID/status`), and its open file descriptors. */
export function footprint(proc: Proc): { rssMb: number; fds: number } {
  const status = readFileSync(`/proc/${proc.pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return { rssMb: Math.round(kb / 102.4) / 10, fds: readdirSync(`/proc/${proc.pid}/fd`).length };
}

function spawn(host: ChaosHost, name: string, args: string[]): Proc {
  const [command, wrapped] = host.wrap(process.execPath, args);
  return new Proc(name, command, wrapped);
}
