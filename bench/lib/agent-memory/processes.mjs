// The processes of bench/agent-memory.mjs, on loopback, a free port each:
//
//   control plane   service `hello` in permissive mTLS mode (its agent relays plaintext callers)
//   app             bench/app-1k.mjs, plain HTTP
//   svc-0..svc-N-1  N services of one endpoint each, at the app's port, registered over the
//                   stream protocol without `mtls` (proxy-compare/plaintext-registration.mjs),
//                   so that a caller's table holds N services and svc-0 is served in plaintext
//   inbound agent   service `hello` in front of the app, no upstreams: the issue's "inbound
//                   agent with no table"
//   table agent     service `client`, upstreams svc-0..svc-N-1: an agent holding an N-service
//                   table, loaded through its outbound listener (Host: svc-0)
//   reference       `node -e` with nothing loaded, and `node` importing fastify, undici,
//                   prom-client and pino (what the agent's dependencies cost before any code)

import { getOnce, untilAlive } from '../wait-alive.mjs';
import { join } from 'node:path';
import getPort from 'get-port';
import { stringify } from 'yaml';
import { mintJoinCredentials, writePrivateFile } from '../join-credentials.mjs';
import { registerPlaintextEndpoint } from '../proxy-compare/plaintext-registration.mjs';

/** The reference processes: a name and the module code each runs (it prints `ready` and stays up). */
export const REFERENCES = [
  { name: 'node -e (nothing loaded)', code: "process.stdout.write('ready\\n'); setInterval(() => {}, 1000);" },
  {
    name: 'node + fastify, undici, prom-client, pino',
    code:
      "await Promise.all(['fastify', 'undici', 'prom-client', 'pino'].map((m) => import(m)));" +
      "process.stdout.write('ready\\n'); setInterval(() => {}, 1000);",
  },
];

const get = (url, headers) => getOnce(url, headers);

/**
 * Starts everything in `group` with files under `dir`. `services`: N;
 * `nodeArgs`: extra Node options for the agents (V8 flags to compare);
 * `env`: extra environment for the agents. Resolves to `{ inbound, table,
 * references }`, each `{ name, pid, url?, headers?, adminPort? }`.
 */
export async function startProcesses({ group, dir, root, services, nodeArgs = [], env = {}, log }) {
  const freePort = () => getPort({ host: '127.0.0.1' });
  const yamlFile = (name, value) => writePrivateFile(join(dir, `${name}.yaml`), stringify(value));
  const until = (what, check, timeoutMs = 30_000) => untilAlive(group, what, check, { timeoutMs });
  const serves = (what, url, headers = {}) =>
    until(`${what} to serve ${url}`, async () => {
      const r = await get(url, headers);
      return (r.status === 200 && r.bytes === 1024) || r;
    });

  const cpPort = await freePort();
  group.start('control plane', process.execPath, [
    join(root, 'control-plane/dist/main.js'),
    '--config',
    yamlFile('cp', {
      listen: { host: '127.0.0.1', port: cpPort },
      dataDir: join(dir, 'cp'),
      push: { startupGraceMs: 0 },
      log: { level: 'warn' },
      services: { hello: { mtls: { mode: 'permissive' } } },
    }),
  ]);
  const cpUrl = `http://127.0.0.1:${cpPort}`;
  await until('the control plane to answer', async () => (await fetch(`${cpUrl}/healthz`)).ok);
  const names = Array.from({ length: services }, (_, i) => `svc-${i}`);
  const credentials = await mintJoinCredentials(cpUrl, ['hello', 'client', ...names]);
  const stream = `ws://127.0.0.1:${cpPort}/v1/stream`;

  const appPort = await freePort();
  group.start('app-1k', process.execPath, [join(root, 'bench/app-1k.mjs'), '--port', String(appPort)]);
  await serves('the app', `http://127.0.0.1:${appPort}/`);
  log(`registering ${services} services...`);
  const registrations = [];
  for (const service of names) {
    const id = `${service}-1`;
    registrations.push(
      await registerPlaintextEndpoint({ url: stream, credential: credentials[service], service, id, port: appPort }),
    );
  }

  const agent = (name, agentId, config) => {
    const child = group.start(
      name,
      process.execPath,
      [...nodeArgs, join(root, 'agent/dist/main.js'), '--config', yamlFile(agentId, config)],
      {
        cwd: root,
        env: { ...process.env, ...env },
      },
    );
    return child.pid;
  };
  const base = (agentId, adminPort) => ({
    agentId,
    dataDir: join(dir, agentId),
    log: { level: 'warn' },
    controlPlane: { url: stream, joinToken: credentials[agentId === 'client' ? 'client' : 'hello'] },
    listeners: { admin: { host: '127.0.0.1', port: adminPort } },
  });

  const [inPort, inAdmin] = [await freePort(), await freePort()];
  const inCfg = base('hello-1', inAdmin);
  const inboundPid = agent('inbound agent', 'hello-1', {
    ...inCfg,
    instance: { service: 'hello', app: { port: appPort } },
    listeners: { ...inCfg.listeners, outbound: { enabled: false }, inbound: { host: '127.0.0.1', port: inPort } },
  });
  const [outPort, outAdmin] = [await freePort(), await freePort()];
  const outCfg = base('client', outAdmin);
  const tablePid = agent('table agent', 'client', {
    ...outCfg,
    service: 'client',
    upstreams: names.map((service) => ({ service })),
    listeners: { ...outCfg.listeners, outbound: { host: '127.0.0.1', port: outPort } },
  });
  const inbound = {
    name: 'agent, inbound, no table',
    pid: inboundPid,
    url: `http://127.0.0.1:${inPort}/`,
    headers: {},
    adminPort: inAdmin,
  };
  const table = {
    name: `agent, outbound, ${services}-service table`,
    pid: tablePid,
    url: `http://127.0.0.1:${outPort}/`,
    headers: { host: 'svc-0' },
    adminPort: outAdmin,
  };
  // Permissive mode arrives with the inbound agent's table; the outbound one needs every service.
  await serves('the inbound agent (plaintext, permissive)', inbound.url);
  await until(`the table agent to hold ${services} services`, async () => {
    const body = await (await fetch(`http://127.0.0.1:${outAdmin}/config`)).json();
    const n = Object.keys(body.table?.services ?? {}).filter((s) => s.startsWith('svc-')).length;
    return n === services || { services: n };
  });
  await serves('the table agent (outbound to svc-0)', table.url, table.headers);

  const references = [];
  for (const ref of REFERENCES) {
    const child = group.start(ref.name, process.execPath, ['--input-type=module', '-e', ref.code], {
      cwd: join(root, 'agent'),
    });
    await until(`${ref.name} to start`, async () => child.tail().includes('ready') || child.tail());
    references.push({ name: ref.name, pid: child.pid });
  }
  return { inbound, table, references, close: () => registrations.forEach((r) => r.close()) };
}
