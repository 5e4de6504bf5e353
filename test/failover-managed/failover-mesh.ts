import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import getPort from 'get-port';
import { ADMIN, READER } from '../harness/admin-api.js';
import { httpRequest } from '../harness/http.js';
import { AGENT_BIN, type ControlPlaneHandle, type Scratch, startControlPlane } from '../harness/mesh.js';
import { Proc } from '../harness/process.js';
import { waitFor } from '../harness/wait.js';

/** The join token the failover tests' control plane accepts from every agent. */
export const JOIN = 'shared-join-token-0123456789abcdef';
const CTL = fileURLToPath(new URL('./fake-db-ctl.mjs', import.meta.url));

/** A control plane with the managed service `pg` (short lease and stagger, so that a test runs in seconds). */
export function startFailoverControlPlane(scratch: Scratch): Promise<ControlPlaneHandle> {
  return startControlPlane(scratch, {
    auth: { adminToken: ADMIN, readOnlyToken: READER, joinToken: JOIN, allowSharedJoinToken: true },
    services: {
      pg: {
        protocol: 'tcp',
        failover: { mode: 'managed', leaseMs: 1000, candidateStaggerMs: 300, switchoverTimeoutMs: 10_000 },
      },
    },
  });
}

/** One fake database instance with its agent. */
export interface DbInstance {
  id: string;
  state: string;
  log: string;
  agent: Proc;
  adminPort: number;
  configFile: string;
  /** The fake database's role and offset, or undefined while it is down. */
  role(): string | undefined;
  set(state: string | undefined): void;
  /** The failover commands its agent ran, in order. */
  commands(): Array<{ action: string; term: number; primary: string }>;
  /** Starts its agent again after a kill (same config, same data dir). */
  restart(): Promise<void>;
}

/** Starts instance `id` of `pg` (its fake database in `state`) and its agent, and waits for it to be ready. */
export async function startDbInstance(
  scratch: Scratch,
  cp: ControlPlaneHandle,
  id: string,
  state: string,
  appPort?: number,
): Promise<DbInstance> {
  const stateFile = join(scratch.dir, `${id}.state`);
  const logFile = join(scratch.dir, `${id}.commands`);
  writeFileSync(stateFile, `${state}\n`);
  writeFileSync(logFile, '');
  const adminPort = await getPort();
  const ctl = (action: string) => ({ command: [process.execPath, CTL, action, stateFile, logFile], timeoutMs: 5000 });
  const configFile = scratch.config(`agent-${id}`, {
    agentId: id,
    listeners: {
      outbound: { enabled: false },
      inbound: { host: '127.0.0.1', port: 0 },
      admin: { host: '127.0.0.1', port: adminPort },
    },
    controlPlane: {
      url: cp.streamUrl,
      joinToken: JOIN,
      heartbeatIntervalMs: 200,
      reconnectInitialDelayMs: 50,
      reconnectMaxDelayMs: 500,
    },
    dataDir: join(scratch.dir, `agent-${id}`),
    log: { level: 'info' },
    instance: {
      service: 'pg',
      id,
      app: { host: '127.0.0.1', port: appPort ?? (await getPort()) },
      healthCheck: {
        kind: 'exec',
        command: ['cat', stateFile],
        intervalMs: 100,
        timeoutMs: 1000,
        healthyThreshold: 1,
        unhealthyThreshold: 2,
      },
      failover: { priority: 1, promote: ctl('promote'), demote: ctl('demote'), rejoin: ctl('rejoin') },
    },
  });
  const start = async () => {
    const proc = new Proc(`agent-${id}`, process.execPath, [AGENT_BIN, '--config', configFile]);
    await waitFor(`agent ${id} ready`, async () => (await httpRequest(adminPort, '/ready')).status === 200);
    return proc;
  };
  const db: DbInstance = {
    id,
    state: stateFile,
    log: logFile,
    agent: await start(),
    adminPort,
    configFile,
    role: () => (existsSync(stateFile) ? readFileSync(stateFile, 'utf8').trim() : undefined),
    set: (s) => (s === undefined ? rmSync(stateFile, { force: true }) : writeFileSync(stateFile, `${s}\n`)),
    commands: () =>
      readFileSync(logFile, 'utf8')
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l)),
    restart: async () => {
      db.agent = await start();
    },
  };
  return db;
}

/** `GET /v1/services/pg/failover` with the read-only token. */
export async function failoverOf(cp: ControlPlaneHandle): Promise<any> {
  const r = await fetch(`${cp.url}/v1/services/pg/failover`, { headers: { authorization: `Bearer ${READER}` } });
  return r.json();
}

/** A client agent of service `writer` whose dedicated port sends to `pg`'s primary (`role: primary`); resolves with the port. */
export async function startWriterAgent(
  scratch: Scratch,
  cp: ControlPlaneHandle,
): Promise<{ agent: Proc; port: number }> {
  const [adminPort, port] = [await getPort(), await getPort()];
  const configFile = scratch.config('agent-writer', {
    agentId: 'writer',
    service: 'writer',
    listeners: { outbound: { enabled: false }, admin: { host: '127.0.0.1', port: adminPort } },
    controlPlane: { url: cp.streamUrl, joinToken: JOIN, heartbeatIntervalMs: 200, reconnectInitialDelayMs: 50 },
    dataDir: join(scratch.dir, 'agent-writer'),
    upstreams: [{ service: 'pg', port, role: 'primary' }],
  });
  const agent = new Proc('agent-writer', process.execPath, [AGENT_BIN, '--config', configFile]);
  await waitFor('the writer agent ready', async () => (await httpRequest(adminPort, '/ready')).status === 200);
  return { agent, port };
}
