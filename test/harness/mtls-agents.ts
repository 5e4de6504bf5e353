import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, request, type Server } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  Agent,
  type AgentAddresses,
  StaticWorkloadIdentity,
  type WorkloadCertificate,
  WorkloadKey,
} from '@meshlet/agent';
import { CertificateAuthority } from '@meshlet/control-plane';
import {
  AgentConfig,
  compileValidator,
  createLogger,
  type Endpoint,
  type Routes,
  type ServiceRoutes,
  resolvePolicy,
} from '@meshlet/shared';
import { type WebSocket, WebSocketServer } from 'ws';
import { waitFor } from './wait.js';

// Two real agents in process, each with a static workload identity issued
// by a real CertificateAuthority: a caller for "orders" and a callee
// fronting "hello" (an app that answers with the headers it got), under a
// scripted control plane (a bare WebSocket server) that pushes the tables,
// so that a test sets the callee's mTLS mode and the endpoints itself.

export const TRUST_DOMAIN = 'meshlet.local';

/** What the identity manager will hold: a key, the leaf and issuers the CA signed for it, the bundle. */
export async function issueWorkloadCertificate(
  authority: CertificateAuthority,
  service: string,
  instanceId: string,
): Promise<WorkloadCertificate> {
  const key = await WorkloadKey.generate();
  const csr = await key.certificateRequest({ spiffeId: { trustDomain: TRUST_DOMAIN, service }, instanceId });
  const issued = await authority.sign(csr, { service, instanceId });
  return {
    spiffeId: `spiffe://${TRUST_DOMAIN}/svc/${service}`,
    trustDomain: TRUST_DOMAIN,
    service,
    instanceId,
    keyPem: await key.privateKeyPem(),
    certChainPem: issued.certificateChainPem,
    trustBundlePem: authority.trustBundle().join('\n'),
    notAfterMs: issued.notAfter.getTime(),
  };
}

/** The app behind the callee: answers with the request headers it got, as JSON. */
export interface App {
  server: Server;
  port: number;
  seen: IncomingHttpHeaders[];
}

export async function echoApp(): Promise<App> {
  const app: App = { server: createServer(), port: 0, seen: [] };
  app.server.on('request', (req, res) => {
    app.seen.push(req.headers);
    req.resume();
    req.on('end', () => res.end(JSON.stringify(req.headers)));
  });
  app.server.on('upgrade', (req, socket) => {
    app.seen.push(req.headers);
    socket.end(
      `HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: test\r\nx-caller: ${String(req.headers['x-meshlet-caller'])}\r\n\r\n`,
    );
  });
  app.server.listen(0, '127.0.0.1');
  await once(app.server, 'listening');
  app.port = (app.server.address() as AddressInfo).port;
  return app;
}

export interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

export function call(port: number, service: string, path = '/', headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { host: service, ...headers } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const validate = compileValidator(AgentConfig, { useDefaults: true });

/** The running pair and what a test does with it. */
export interface MtlsPair {
  ca: CertificateAuthority;
  /** Where `ca` was generated: another CertificateAuthority opened on it signs with the same root and issuer. */
  caDir: string;
  /** Another mesh's CA, for forgeries. */
  otherCa: CertificateAuthority;
  app: App;
  caller: Agent;
  callerAddr: AgentAddresses;
  callee: Agent;
  calleeAddr: AgentAddresses;
  calleeIdentity: StaticWorkloadIdentity;
  /** Every hello the agents sent. */
  hellos: Array<Record<string, any>>;
  /** Pushes a full table to both agents and waits until both hold it. */
  table(services: Routes['services']): Promise<void>;
  /** The callee's endpoint, as its hello advertised it (`mtls: true`). */
  calleeEndpoint(): Endpoint;
  /** The "hello" service: the callee's endpoint, and a policy with this mTLS mode. */
  hello(mode: 'strict' | 'permissive'): ServiceRoutes;
  /** The value of the first metric line of an agent that starts with `line` (0 when none). */
  metric(agent: AgentAddresses, line: string): Promise<number>;
  close(): Promise<void>;
}

/** Starts the pair; `close()` stops everything and removes its files. */
export async function startMtlsPair(): Promise<MtlsPair> {
  const dir = await mkdtemp(join(tmpdir(), 'meshlet-mtls-listeners-'));
  const caDir = join(dir, 'ca');
  const ca = await CertificateAuthority.open({ source: { kind: 'generated', dir: caDir }, clock: Date.now });
  const otherCa = await CertificateAuthority.open({
    source: { kind: 'generated', dir: join(dir, 'other-ca') },
    clock: Date.now,
  });
  const streams: WebSocket[] = [];
  const hellos: Array<Record<string, any>> = [];
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await once(wss, 'listening');
  wss.on('connection', (ws) => {
    streams.push(ws);
    ws.on('message', (d) => {
      const m = JSON.parse(String(d)) as Record<string, any>;
      if (m.type === 'hello') hellos.push(m);
    });
  });
  const cpUrl = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/v1/stream`;
  const app = await echoApp();
  const log = createLogger('test', 'silent');
  const common = (agentId: string) => ({
    agentId,
    controlPlane: { url: cpUrl, reconnectInitialDelayMs: 10 },
    dataDir: join(dir, agentId),
  });
  const calleeConfig = validate({
    ...common('hello-1'),
    instance: { service: 'hello', app: { host: '127.0.0.1', port: app.port }, healthCheck: { intervalMs: 60_000 } },
    listeners: { inbound: { host: '127.0.0.1', port: 0 }, outbound: { enabled: false }, admin: { port: 0 } },
  });
  const callerConfig = validate({
    ...common('orders-1'),
    upstreams: [{ service: 'hello' }],
    listeners: { outbound: { port: 0 }, admin: { port: 0 } },
  });
  if (!calleeConfig.ok || !callerConfig.ok) throw new Error('bad test config');
  const calleeIdentity = new StaticWorkloadIdentity(await issueWorkloadCertificate(ca, 'hello', 'hello-1'));
  const callee = new Agent(calleeConfig.value, log, { identity: calleeIdentity });
  const calleeAddr = await callee.start();
  const caller = new Agent(callerConfig.value, log, {
    identity: new StaticWorkloadIdentity(await issueWorkloadCertificate(ca, 'orders', 'orders-1')),
  });
  const callerAddr = await caller.start();
  await waitFor('both agents connected', () => streams.length >= 2);

  let version = 0;
  const calleeEndpoint = (): Endpoint => ({
    id: 'hello-1',
    host: '127.0.0.1',
    port: calleeAddr.inbound as number,
    tier: 0,
    weight: 1,
    labels: {},
    mtls: true,
  });
  return {
    ca,
    caDir,
    otherCa,
    app,
    caller,
    callerAddr,
    callee,
    calleeAddr,
    calleeIdentity,
    hellos,
    async table(services) {
      version += 1;
      const routes: Routes = { type: 'routes', version, nonce: `n${version}`, services };
      for (const ws of streams) ws.send(JSON.stringify(routes));
      await waitFor('both agents to hold the table', () => [caller, callee].every((a) => a.table?.version === version));
    },
    calleeEndpoint,
    hello: (mode) => ({ endpoints: [calleeEndpoint()], policy: resolvePolicy({ mtls: { mode } }) }),
    async metric(agent, line) {
      const text = await (await fetch(`http://127.0.0.1:${agent.admin}/metrics`)).text();
      const found = text.split('\n').find((l) => l.startsWith(line));
      return found === undefined ? 0 : Number(found.slice(found.lastIndexOf(' ') + 1));
    },
    async close() {
      await caller.stop();
      await callee.stop();
      for (const ws of streams) ws.terminate();
      wss.close();
      app.server.close();
      app.server.closeAllConnections();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
