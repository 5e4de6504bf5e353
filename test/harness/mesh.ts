import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import getPort from 'get-port';
import { afterAll, afterEach } from 'vitest';
import { stringify } from 'yaml';
import { endpointIds } from './agent-table.js';
import { httpRequest } from './http.js';
import { withSharedCa } from './mesh-ca.js';
import { mintingTarget, mintJoinCredential } from './join-credential.js';
import { killAll, Proc } from './process.js';
import { startApps } from './start-apps.js';
import { waitFor } from './wait.js';

export { agentTable, endpointIds } from './agent-table.js';

/** Root of the repository. */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The compiled binaries: tests run what production runs. */
export const CP_BIN = join(ROOT, 'control-plane', 'dist', 'main.js');
export const AGENT_BIN = join(ROOT, 'agent', 'dist', 'main.js');
export const DEMO_APP = join(ROOT, 'deploy', 'local', 'demo-app.mjs');

/** A scratch directory removed by {@link Scratch.remove}. */
export class Scratch {
  readonly dir = mkdtempSync(join(tmpdir(), 'meshlet-test-'));

  /** Writes a YAML config and returns its path. */
  config(name: string, value: unknown): string {
    const file = join(this.dir, `${name}.yaml`);
    writeFileSync(file, stringify(value));
    return file;
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A running control plane. */
export interface ControlPlaneHandle {
  proc: Proc;
  port: number;
  url: string;
  streamUrl: string;
  config: Record<string, unknown>;
}

/** Fast timings so detection happens in well under a second in tests. */
export const FAST_CP = {
  heartbeat: { timeoutMs: 1200, checkIntervalMs: 100 },
  push: { debounceMs: 10, maxDelayMs: 100, startupGraceMs: 0 },
};

/**
 * Starts the real control-plane binary on a free loopback port. With
 * `tls.certFile` in `extra`, it serves HTTPS: the URLs are `https://` and
 * `wss://` (waiting for it to listen does not verify its certificate).
 */
export async function startControlPlane(
  scratch: Scratch,
  extra: Record<string, unknown> = {},
  port?: number,
): Promise<ControlPlaneHandle> {
  const p = port ?? (await getPort());
  const config = {
    listen: { host: '127.0.0.1', port: p },
    dataDir: join(scratch.dir, 'cp-data'),
    log: { level: 'info' },
    ...FAST_CP,
    ...withSharedCa(scratch.dir, extra),
  };
  const tls = (extra.tls as { certFile?: string } | undefined)?.certFile !== undefined;
  const proc = new Proc('control-plane', process.execPath, [CP_BIN, '--config', scratch.config(`cp-${p}`, config)]);
  const probe = tls ? { tls: { rejectUnauthorized: false } } : {};
  await waitFor('the control plane to listen', async () => (await httpRequest(p, '/healthz', probe)).status === 200, {
    // Generous: a control plane's first start also makes its CA (keys and certificates), slow on a loaded machine.
    timeoutMs: 30_000,
  });
  const [http, ws] = tls ? ['https', 'wss'] : ['http', 'ws'];
  return { proc, port: p, url: `${http}://127.0.0.1:${p}`, streamUrl: `${ws}://127.0.0.1:${p}/v1/stream`, config };
}

/** A running demo app. */
export interface AppHandle {
  proc: Proc;
  port: number;
  setFault(mode: 'none' | 'unhealthy' | 'error' | 'slow' | 'reset', delayMs?: number): Promise<void>;
}

/** Starts the demo app. */
export async function startDemoApp(service: string, instance: string, port?: number): Promise<AppHandle> {
  const p = port ?? (await getPort());
  const proc = new Proc(`${instance}-app`, process.execPath, [
    DEMO_APP,
    '--service',
    service,
    '--instance',
    instance,
    '--port',
    String(p),
  ]);
  await waitFor(`demo app ${instance}`, async () => (await httpRequest(p, '/healthz')).status === 200);
  return {
    proc,
    port: p,
    async setFault(mode, delayMs) {
      const q = delayMs === undefined ? '' : `&delayMs=${delayMs}`;
      const a = await httpRequest(p, `/_demo/fault?mode=${mode}${q}`, { method: 'POST' });
      if (a.status !== 200) throw new Error(`setting fault ${mode} failed: ${a.body}`);
    },
  };
}

/** A running agent. */
export interface AgentHandle {
  proc: Proc;
  agentId: string;
  configFile: string;
  adminPort: number;
  outboundPort: number | undefined;
  inboundPort: number | undefined;
  /** The port of each dedicated upstream (`upstreams`), by service. */
  upstreamPorts: Record<string, number>;
  dataDir: string;
  /** The join token in its config (minted by the harness unless the test gave one), if any. */
  joinToken: string | undefined;
}

/** Options of {@link startAgent}. */
export interface AgentOptions {
  agentId: string;
  /** The control plane (`controlPlane.url`). Give this or `cps`. */
  cp?: { streamUrl: string };
  /** Several control planes, in this order (`controlPlane.urls`); instead of `cp`. */
  cps?: Array<{ streamUrl: string }>;
  /** Front this demo app as an instance of `service`. */
  instance?: {
    service: string;
    app: Pick<AppHandle, 'port'>;
    /** Over the fast HTTP check (`GET /healthz` every 100 ms): `{ kind: 'grpc' }` for a gRPC app. */
    healthCheck?: Record<string, unknown>;
    zone?: string;
    tier?: number;
    weight?: number;
    labels?: Record<string, string>;
  };
  /**
   * Dedicated upstream ports: `{ service: port }`; `'free'` takes a free
   * port as the agent starts (get-port holds a port back from its later calls
   * for as little as 15 s: one taken before a slow start-up may be handed out again).
   */
  upstreams?: Record<string, number | 'free'>;
  /** Services the agent declares it calls (upstreams without a port); others it learns on the first request. */
  calls?: string[];
  outbound?: boolean;
  /** Reuse the ports and data dir of an earlier run of the same agent. */
  reuse?: AgentHandle;
  /** Wait until /ready answers 200 (needs a table). Default true. */
  waitReady?: boolean;
  /**
   * Join token to present to the control plane. Absent: a credential for the
   * agent's service, minted through the first control plane of `cp`/`cps`
   * the harness started (or the one of `reuse`); `false`: none at all.
   */
  joinToken?: string | false;
  /** The service a client-only agent acts for (`service` in its config): `client` by default. */
  service?: string;
  /** CA file to trust for a `wss://` control plane (`controlPlane.caFile`). */
  caFile?: string;
}

/** Starts the real agent binary with fast health checks and heartbeats. */
export async function startAgent(scratch: Scratch, o: AgentOptions): Promise<AgentHandle> {
  const adminPort = o.reuse?.adminPort ?? (await getPort());
  const outboundPort = o.reuse ? o.reuse.outboundPort : o.outbound ? await getPort() : undefined;
  const inboundPort = o.reuse ? o.reuse.inboundPort : o.instance ? await getPort() : undefined;
  const dataDir = o.reuse?.dataDir ?? join(scratch.dir, `agent-${o.agentId}`);
  if ((o.cp === undefined) === (o.cps === undefined))
    throw new Error(`startAgent ${o.agentId}: give exactly one of cp and cps`);
  const service = o.instance?.service ?? o.service ?? 'client';
  const targets = o.cps ?? (o.cp ? [o.cp] : []);
  const minter = mintingTarget(targets);
  const joinToken =
    o.joinToken === false
      ? undefined
      : (o.joinToken ??
        o.reuse?.joinToken ??
        (minter === undefined ? undefined : await mintJoinCredential(minter, service, targets)));
  const config: Record<string, unknown> = {
    agentId: o.agentId,
    ...(o.instance ? {} : { service }),
    listeners: {
      outbound: outboundPort === undefined ? { enabled: false } : { host: '127.0.0.1', port: outboundPort },
      inbound: { host: '127.0.0.1', port: inboundPort ?? 0 },
      admin: { host: '127.0.0.1', port: adminPort },
    },
    controlPlane: {
      ...(o.cps ? { urls: o.cps.map((c) => c.streamUrl) } : { url: o.cp?.streamUrl }),
      heartbeatIntervalMs: 200,
      reconnectInitialDelayMs: 50,
      reconnectMaxDelayMs: 500,
      ...(joinToken ? { joinToken } : {}),
      ...(o.caFile ? { caFile: o.caFile } : {}),
    },
    dataDir,
    log: { level: 'info' },
  };
  if (o.instance) {
    config.instance = {
      service: o.instance.service,
      ...(o.instance.zone ? { zone: o.instance.zone } : {}),
      ...(o.instance.tier !== undefined ? { tier: o.instance.tier } : {}),
      ...(o.instance.weight !== undefined ? { weight: o.instance.weight } : {}),
      ...(o.instance.labels ? { labels: o.instance.labels } : {}),
      app: { host: '127.0.0.1', port: o.instance.app.port },
      healthCheck: {
        ...{ path: '/healthz', intervalMs: 100, timeoutMs: 200, healthyThreshold: 2, unhealthyThreshold: 2 },
        ...o.instance.healthCheck,
      },
    };
  }
  const upstreamPorts: Record<string, number> = {};
  for (const [service, port] of Object.entries(o.upstreams ?? {}))
    upstreamPorts[service] = port === 'free' ? (o.reuse?.upstreamPorts[service] ?? (await getPort())) : port;
  const upstreams: Array<{ service: string; port?: number }> = Object.entries(upstreamPorts).map(([service, port]) => ({
    service,
    port,
  }));
  for (const service of o.calls ?? []) if (!o.upstreams?.[service]) upstreams.push({ service });
  if (upstreams.length > 0) config.upstreams = upstreams;
  const configFile = scratch.config(`agent-${o.agentId}`, config);
  const proc = new Proc(`agent-${o.agentId}`, process.execPath, [AGENT_BIN, '--config', configFile]);
  const handle: AgentHandle = {
    proc,
    agentId: o.agentId,
    configFile,
    adminPort,
    outboundPort,
    inboundPort,
    upstreamPorts,
    dataDir,
    joinToken,
  };
  if (o.waitReady ?? true) {
    await waitFor(
      `agent ${o.agentId} to be ready`,
      async () => (await httpRequest(adminPort, '/ready')).status === 200,
    );
  }
  return handle;
}

/** One instance of a {@link MeshSpec}: its id (the demo app's instance name and its agent's id) and where it stands. */
export interface InstanceSpec {
  id: string;
  tier?: number;
  zone?: string;
  weight?: number;
  labels?: Record<string, string>;
}

/** The control plane agents connect to, or several in this order (`controlPlane.urls`): the first running, the others maybe only planned. */
export type CpTarget = ControlPlaneHandle | [ControlPlaneHandle, ...Array<{ streamUrl: string }>];

/** What a test's mesh is made of; everything left out is not started. */
export interface MeshSpec {
  /** Settings of the control plane to start, over {@link FAST_CP}. Ignored with `connectTo`. */
  controlPlane?: Record<string, unknown>;
  /** Control planes already started (or planned) to connect the agents to, instead of starting one. */
  connectTo?: CpTarget;
  /** Instances by service, a demo app and its agent each: the apps at once, the agents one after another in this order. */
  instances?: Record<string, Array<string | InstanceSpec>>;
  /** A client agent `client` with an outbound listener; started last, then waited on until it sees every instance of what it calls. */
  client?: { calls?: string[]; upstreams?: Record<string, number | 'free'> };
  /** The join token every agent presents, instead of a credential minted for its service (see {@link AgentOptions.joinToken}). */
  joinToken?: string;
}

/** The handles of a started {@link MeshSpec}, instances by id. */
export interface StartedMesh {
  cp: ControlPlaneHandle;
  apps: Record<string, AppHandle>;
  agents: Record<string, AgentHandle>;
}

/**
 * The real processes of a test on loopback, in one scratch directory:
 * what {@link withMesh} hands a test file. Each test file states only what
 * differs (settings, instances, the client's calls); the mesh starts them,
 * waits on conditions with deadlines, and stops everything.
 */
export class Mesh {
  #scratch: Scratch | undefined;

  /** The scratch directory of this mesh, made on first use and removed by {@link stop}. */
  get scratch(): Scratch {
    this.#scratch ??= new Scratch();
    return this.#scratch;
  }

  /** Starts the control-plane binary (see {@link startControlPlane}). */
  controlPlane(extra: Record<string, unknown> = {}, port?: number): Promise<ControlPlaneHandle> {
    return startControlPlane(this.scratch, extra, port);
  }

  /** Starts an agent (see {@link startAgent}). */
  agent(o: AgentOptions): Promise<AgentHandle> {
    return startAgent(this.scratch, o);
  }

  /** Starts a demo app (unless `started`) and the agent that fronts it as an instance of `service`, connected to `target`. */
  async instance(
    target: CpTarget,
    service: string,
    spec: string | InstanceSpec,
    joinToken?: string,
    started?: AppHandle,
  ): Promise<{ app: AppHandle; agent: AgentHandle }> {
    const { id, ...where } = typeof spec === 'string' ? { id: spec } : spec;
    const app = started ?? (await startDemoApp(service, id));
    const agent = await this.agent({
      agentId: id,
      ...connect(target),
      instance: { service, app, ...where },
      ...(joinToken === undefined ? {} : { joinToken }),
    });
    return { app, agent };
  }

  /** Starts what `spec` names, in order: the control plane, the instances, the client; resolves once the client sees them. */
  async start<S extends MeshSpec>(
    spec: S,
  ): Promise<StartedMesh & (S extends { client: object } ? { client: AgentHandle } : unknown)> {
    const target = spec.connectTo ?? (await this.controlPlane(spec.controlPlane));
    const started: StartedMesh & { client?: AgentHandle } = {
      cp: Array.isArray(target) ? target[0] : target,
      apps: {},
      agents: {},
    };
    const ids = new Map<string, string[]>();
    const apps = await startApps(spec.instances, startDemoApp);
    for (const [service, list] of Object.entries(spec.instances ?? {})) {
      for (const one of list) {
        const { app, agent } = await this.instance(target, service, one, spec.joinToken, apps.shift());
        started.apps[agent.agentId] = app;
        started.agents[agent.agentId] = agent;
      }
      ids.set(service, list.map((one) => (typeof one === 'string' ? one : one.id)).sort());
    }
    if (spec.client) {
      const { calls = [], upstreams } = spec.client;
      const client = await this.agent({
        agentId: 'client',
        ...connect(target),
        outbound: true,
        calls,
        ...(upstreams ? { upstreams } : {}),
        ...(spec.joinToken === undefined ? {} : { joinToken: spec.joinToken }),
      });
      for (const service of new Set([...calls, ...Object.keys(upstreams ?? {})])) {
        const want = (ids.get(service) ?? []).join();
        if (want)
          await waitFor(
            `the client to see exactly ${service} instance(s) ${want}`,
            async () => (await endpointIds(client, service)).join() === want,
          );
      }
      started.client = client;
    }
    return started as StartedMesh & (S extends { client: object } ? { client: AgentHandle } : unknown);
  }

  /** Kills every process the test file started and has not stopped, and removes the scratch directory. */
  async stop(): Promise<void> {
    await killAll();
    this.#scratch?.remove();
    this.#scratch = undefined;
  }
}

/**
 * A {@link Mesh} stopped after the suite it is called in (a `describe`, or
 * the file), or after each of its tests with `each`. Call it where the
 * `afterAll` would go: hooks the file registers later (closing a browser, a
 * stub server) run before it, as vitest runs after-hooks in reverse.
 */
export function withMesh({ each = false }: { each?: boolean } = {}): Mesh {
  const mesh = new Mesh();
  (each ? afterEach : afterAll)(() => mesh.stop());
  return mesh;
}

function connect(target: CpTarget): Pick<AgentOptions, 'cp' | 'cps'> {
  return Array.isArray(target) ? { cps: target } : { cp: target };
}
