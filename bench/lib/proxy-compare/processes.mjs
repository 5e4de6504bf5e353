// The processes behind the paths of bench/proxy-compare.mjs, each started on
// first use on loopback (a free port each), and the checks that they serve:
//
//   app          bench/app-1k.mjs, plain HTTP
//   app (TLS)    bench/app-1k.mjs --tls: HTTPS, client certificate required
//   control plane, with `hello-permissive` in permissive mTLS mode
//   agent B      the app's agent, service `hello`, strict mTLS (the default)
//   agent P      the app's agent, service `hello-permissive` (plaintext callers relayed)
//   hello-plain  an endpoint at agent P's inbound port registered without
//                `mtls` (plaintext-registration.mjs explains why)
//   agent A      the client agent; it calls `hello` (mTLS) and `hello-plain` (plaintext)
//   HAProxy and nginx, plain or with TLS on both sides; @fastify/http-proxy
//
// A process is ready when it serves the app's 1 KiB body end to end.
import { untilAlive } from '../wait-alive.mjs';
import { mkdirSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import getPort from 'get-port';
import { stringify } from 'yaml';
import { mintJoinCredentials, writePrivateFile } from '../join-credentials.mjs';
import { childPids } from '../process-group.mjs';
import { checkConfig, findBinary, haproxyConfig, nginxConfig } from '../system-proxies.mjs';
import { registerPlaintextEndpoint } from './plaintext-registration.mjs';
import { meshClientCertificate, proxyPki } from './tls-material.mjs';

/** One GET with a short timeout: `{ status, bytes, head }` (head: the body's first 200 characters). */
function get(url, headers = {}, tls = undefined) {
  const u = new URL(url);
  const request = u.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolveGet, reject) => {
    const options = { host: u.hostname, port: u.port, path: u.pathname, headers, agent: false, ...tls };
    const req = request(options, (res) => {
      let bytes = 0;
      let head = '';
      res.on('data', (c) => {
        bytes += c.length;
        if (head.length < 200) head += c.toString('utf8', 0, 200 - head.length);
      });
      res.on('end', () => resolveGet({ status: res.statusCode, bytes, head }));
      res.on('error', reject);
    });
    req.setTimeout(2000, () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

/**
 * The TLS handshakes an agent's inbound listener completed so far
 * (`meshlet_agent_mtls_handshakes_total{side="inbound",result="ok"}` on its
 * admin /metrics): how often callers had to set up a connection.
 */
export async function inboundHandshakes(adminPort) {
  const text = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
  const m = /^meshlet_agent_mtls_handshakes_total\{[^}]*side="inbound"[^}]*result="ok"[^}]*\} (\d+)/m.exec(text);
  return m ? Number(m[1]) : 0;
}

function once(fn) {
  let p;
  return () => (p ??= fn());
}

/**
 * The starters over the processes of `group`, with their files under `dir`;
 * `root` is the repository, `bench` the bench/ folder, `connections` sizes
 * nginx's idle upstream pool, `cpuProfDir` (optional) is where the agents
 * write their CPU profiles. Each starter runs its process once and
 * resolves to what a path needs of it (`{ pid, url, ... }`).
 */
export function proxyProcesses({ group, dir, root, bench, connections, cpuProfDir }) {
  const node = (name, args) => group.start(name, process.execPath, args, { cwd: root });
  /** An agent process, with a V8 CPU profile written into `cpuProfDir` at its exit when one is given. */
  const agentProcess = (name, args) =>
    node(name, [
      ...(cpuProfDir
        ? ['--cpu-prof', '--cpu-prof-dir', cpuProfDir, '--cpu-prof-name', `${name.replace(' ', '-')}.cpuprofile`]
        : []),
      join(root, 'agent/dist/main.js'),
      ...args,
    ]);
  const freePort = () => getPort({ host: '127.0.0.1' });
  function yamlFile(name, value) {
    const file = join(dir, `${name}.yaml`);
    // Agent configs hold join credentials: 0600.
    writePrivateFile(file, stringify(value));
    return file;
  }
  /** Polls `check` (true: done) until `timeoutMs`, failing at once if a process died (see untilAlive). */
  const until = (what, check, timeoutMs = 20_000) => untilAlive(group, what, check, { timeoutMs });
  /** Waits until `url` answers 200 with the app's 1024-byte body: the path works end to end. */
  const serves1k = (what, url, headers, tls) =>
    until(`${what} to serve the 1 KiB body at ${url}`, async () => {
      const r = await get(url, headers, tls);
      return (r.status === 200 && r.bytes === 1024) || r;
    });

  const pki = once(async () => proxyPki(dir));
  const cp = once(async () => {
    const port = await freePort();
    node('control plane', [
      join(root, 'control-plane/dist/main.js'),
      '--config',
      yamlFile('cp', {
        listen: { host: '127.0.0.1', port },
        dataDir: join(dir, 'cp'),
        push: { startupGraceMs: 0 },
        log: { level: 'warn' },
        // hello-h2: the HTTP/2 paths' service (h2-paths.mjs), its app spoken to in h2c; hello-h2-permissive: the same,
        // its agent taking h2c callers (the one-hop HTTP/2 path).
        services: {
          'hello-permissive': { mtls: { mode: 'permissive' } },
          'hello-h2': { protocol: 'http2' },
          'hello-h2-permissive': { protocol: 'http2', mtls: { mode: 'permissive' } },
        },
      }),
    ]);
    const url = `http://127.0.0.1:${port}`;
    await until('the control plane to answer', async () => (await fetch(`${url}/healthz`)).ok);
    return {
      stream: `ws://127.0.0.1:${port}/v1/stream`,
      credentials: await mintJoinCredentials(url, [
        'hello',
        'hello-permissive',
        'hello-plain',
        'hello-h2',
        'hello-h2-permissive',
        'client',
      ]),
    };
  });
  /** The load generator's certificate for the one-hop mTLS path, from the mesh's CA; the callee's name is not checked. */
  const meshClient = once(async () => {
    await cp();
    const c = await meshClientCertificate(root, join(dir, 'cp', 'ca'));
    return { ...c, checkServerIdentity: () => undefined };
  });
  const app = once(async () => {
    const port = await freePort();
    const child = node('app-1k', [join(bench, 'app-1k.mjs'), '--port', String(port)]);
    const url = `http://127.0.0.1:${port}/`;
    await serves1k('the app', url);
    return { port, pid: child.pid, url };
  });
  const appTls = once(async () => {
    const [p, port] = [await pki(), await freePort()];
    const tlsArgs = ['--cert', p.app.certFile, '--key', p.app.keyFile, '--ca', p.caFile];
    const child = node('app-1k (TLS)', [join(bench, 'app-1k.mjs'), '--port', String(port), ...tlsArgs]);
    const url = `https://127.0.0.1:${port}/`;
    await serves1k('the TLS app', url, {}, { ca: p.ca, cert: p.client.cert, key: p.client.key });
    return { port, pid: child.pid, url };
  });
  /** An instance agent in front of the app (`appStart`'s): `service`, strict or permissive by the control plane's policy. */
  async function instanceAgent(name, agentId, service, appStart = app) {
    const [a, c, port, adminPort] = [await appStart(), await cp(), await freePort(), await freePort()];
    const child = agentProcess(name, [
      '--config',
      yamlFile(agentId, {
        agentId,
        instance: { service, app: { port: a.port } },
        listeners: {
          outbound: { enabled: false },
          inbound: { host: '127.0.0.1', port },
          admin: { host: '127.0.0.1', port: adminPort },
        },
        controlPlane: { url: c.stream, joinToken: c.credentials[service] },
        dataDir: join(dir, agentId),
        log: { level: 'warn' },
      }),
    ]);
    return { pid: child.pid, port, url: `http://127.0.0.1:${port}/`, adminPort };
  }
  const agentB = once(async () => {
    const b = await instanceAgent('agent B', 'hello-1', 'hello');
    const tls = await meshClient();
    const url = `https://127.0.0.1:${b.port}/`;
    await serves1k('agent B (inbound, mTLS)', url, {}, tls);
    return { ...b, url, tls };
  });
  const agentP = once(async () => {
    const p = await instanceAgent('agent P', 'hello-permissive-1', 'hello-permissive');
    // Strict until its table brings its service's permissive mode.
    await serves1k('agent P (inbound, permissive, plaintext)', p.url);
    return p;
  });
  const plainEndpoint = once(async () => {
    const [p, c] = [await agentP(), await cp()];
    const registration = await registerPlaintextEndpoint({
      url: c.stream,
      credential: c.credentials['hello-plain'],
      service: 'hello-plain',
      id: 'hello-plain-1',
      port: p.port,
    });
    return { ...p, registration };
  });
  const agentA = once(async () => {
    const [c, port, adminPort] = [await cp(), await freePort(), await freePort()];
    const child = agentProcess('agent A', [
      '--config',
      yamlFile('agent-a', {
        agentId: 'client',
        service: 'client',
        // An agent is sent the routes of the services it declares it calls.
        upstreams: [{ service: 'hello' }, { service: 'hello-plain' }, { service: 'hello-h2' }],
        listeners: { outbound: { host: '127.0.0.1', port }, admin: { host: '127.0.0.1', port: adminPort } },
        controlPlane: { url: c.stream, joinToken: c.credentials.client },
        dataDir: join(dir, 'a'),
        log: { level: 'warn' },
      }),
    ]);
    return { pid: child.pid, url: `http://127.0.0.1:${port}/`, adminPort };
  });
  /** Agent A, once its table routes `service` to one endpoint (`mtls` as expected) and the path serves. */
  async function agentARouting(service, mtls) {
    const a = await agentA();
    await until(`the client agent to route to ${service}`, async () => {
      const r = await fetch(`http://127.0.0.1:${a.adminPort}/config`);
      const endpoints = (await r.json()).table?.services?.[service]?.endpoints ?? [];
      return (endpoints.length === 1 && (endpoints[0].mtls === true) === mtls) || { endpoints };
    });
    await serves1k(`agent A (outbound) via ${service}`, a.url, { host: service });
    return a;
  }
  async function haproxy(tls) {
    const binary = findBinary('haproxy');
    const [a, port, p] = [tls ? await appTls() : await app(), await freePort(), tls ? await pki() : undefined];
    const cfg = join(dir, tls ? 'haproxy-tls.cfg' : 'haproxy.cfg');
    writeFileSync(cfg, haproxyConfig({ port, appPort: a.port, tls: p }));
    const bad = checkConfig(binary, ['-c', '-q', '-f', cfg]);
    if (bad) throw new Error(`haproxy rejected its config:\n${bad}`);
    const child = group.start(tls ? 'haproxy (TLS)' : 'haproxy', binary, ['-db', '-f', cfg]);
    const url = `${tls ? 'https' : 'http'}://127.0.0.1:${port}/`;
    const clientTls = p ? { ca: p.ca } : undefined;
    await serves1k(tls ? 'haproxy (TLS)' : 'haproxy', url, {}, clientTls);
    return { pid: child.pid, url, tls: clientTls };
  }
  async function nginx(tls) {
    const binary = findBinary('nginx');
    const [a, port, p] = [tls ? await appTls() : await app(), await freePort(), tls ? await pki() : undefined];
    const prefix = join(dir, tls ? 'nginx-tls' : 'nginx');
    mkdirSync(prefix);
    const conf = join(prefix, 'nginx.conf');
    const idleUpstream = Math.max(32, connections);
    writeFileSync(conf, nginxConfig({ dir: prefix, port, appPort: a.port, idleUpstream, tls: p }));
    const args = ['-p', `${prefix}/`, '-c', conf, '-e', join(prefix, 'error.log')];
    const bad = checkConfig(binary, ['-t', '-q', ...args]);
    if (bad) throw new Error(`nginx rejected its config:\n${bad}`);
    const child = group.start(tls ? 'nginx (TLS)' : 'nginx', binary, args);
    const url = `${tls ? 'https' : 'http'}://127.0.0.1:${port}/`;
    const clientTls = p ? { ca: p.ca } : undefined;
    await serves1k(tls ? 'nginx (TLS)' : 'nginx', url, {}, clientTls);
    for (const pid of childPids(child.pid)) group.adopt(pid, 'nginx');
    return { pid: child.pid, url, tls: clientTls };
  }
  const fastify = once(async () => {
    const [a, port] = [await app(), await freePort()];
    const child = node('fastify proxy', [
      join(bench, 'fastify-proxy.mjs'),
      '--port',
      String(port),
      '--upstream',
      `http://127.0.0.1:${a.port}`,
    ]);
    const url = `http://127.0.0.1:${port}/`;
    await serves1k('@fastify/http-proxy', url);
    return { pid: child.pid, url };
  });

  return {
    // For the HTTP/2 paths (h2-paths.mjs): its own app and agents, over the same control plane and client agent.
    h2: { instanceAgent, agentA, until, freePort },
    app,
    appTls,
    agentB,
    agentP,
    plainEndpoint,
    agentARouting,
    haproxy: once(() => haproxy(false)),
    haproxyTls: once(() => haproxy(true)),
    nginx: once(() => nginx(false)),
    nginxTls: once(() => nginx(true)),
    fastify,
  };
}
