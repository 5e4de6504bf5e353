// The paths bench/proxy-compare.mjs measures, each started on first use on
// loopback (a free port each): the app (bench/app-1k.mjs), a control plane,
// the app's agent (B), a client agent (A), HAProxy, nginx and
// @fastify/http-proxy (bench/fastify-proxy.mjs). A path is ready when it
// serves the app's 1 KiB body end to end.
import { mkdirSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import getPort from 'get-port';
import { stringify } from 'yaml';
import { mintJoinCredentials, writePrivateFile } from '../join-credentials.mjs';
import { childPids } from '../process-group.mjs';
import { checkConfig, findBinary, haproxyConfig, nginxConfig } from '../system-proxies.mjs';

/** Every path, in the order of the report. */
export const ALL_PATHS = ['direct', 'agent', 'mesh', 'haproxy', 'nginx', 'fastify'];
/** The paths of rate mode when --paths does not name them. */
export const RATE_PATHS = ['direct', 'agent', 'mesh', 'haproxy'];

/**
 * The path definitions over the processes of `group`, with their files under
 * `dir`; `root` is the repository, `bench` the bench/ folder, `connections`
 * sizes nginx's idle upstream pool. Returns `{ PATH_DEFS, app }` (`app()`
 * starts the app once and gives its `{ port, pid, url }`).
 */
export function proxyPaths({ group, dir, root, bench, connections }) {
  const here = bench;
  const node = (name, args) => group.start(name, process.execPath, args, { cwd: root });
  const freePort = () => getPort({ host: '127.0.0.1' });
  function yamlFile(name, value) {
    const file = join(dir, `${name}.yaml`);
    return writePrivateFile(file, stringify(value)); // agent configs hold join credentials
  }

  /** One GET with a short timeout: `{ status, bytes, head }` (head: the body's first 200 characters). */
  function get(url, headers = {}) {
    const u = new URL(url);
    return new Promise((resolveGet, reject) => {
      const req = request({ host: u.hostname, port: u.port, path: u.pathname, headers, agent: false }, (res) => {
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
  /** Polls `check` (truthy: done) until `timeoutMs`; the last answer or error is in the timeout message. */
  async function until(what, check, timeoutMs = 20_000) {
    const deadline = Date.now() + timeoutMs;
    let last = 'no answer';
    while (Date.now() < deadline) {
      group.assertAlive();
      try {
        const r = await check();
        if (r === true) return;
        last = JSON.stringify(r);
      } catch (err) {
        last = err instanceof Error ? err.message : String(err);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${last})`);
  }
  /** Waits until `url` answers 200 with the app's 1024-byte body: the path works end to end. */
  const serves1k = (what, url, headers) =>
    until(`${what} to serve the 1 KiB body at ${url}`, async () => {
      const r = await get(url, headers);
      return (r.status === 200 && r.bytes === 1024) || r;
    });
  function once(fn) {
    let p;
    return () => (p ??= fn());
  }

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
      }),
    ]);
    const url = `http://127.0.0.1:${port}`;
    await until('the control plane to answer', async () => (await fetch(`${url}/healthz`)).ok);
    return {
      stream: `ws://127.0.0.1:${port}/v1/stream`,
      credentials: await mintJoinCredentials(url, ['hello', 'client']),
    };
  });
  const app = once(async () => {
    const port = await freePort();
    const child = node('app-1k', [join(here, 'app-1k.mjs'), '--port', String(port)]);
    const url = `http://127.0.0.1:${port}/`;
    await serves1k('the app', url);
    return { port, pid: child.pid, url };
  });
  const agentB = once(async () => {
    const [a, c, port, adminPort] = [await app(), await cp(), await freePort(), await freePort()];
    const child = node('agent B', [
      join(root, 'agent/dist/main.js'),
      '--config',
      yamlFile('agent-b', {
        agentId: 'hello-1',
        instance: { service: 'hello', app: { port: a.port } },
        listeners: {
          outbound: { enabled: false },
          inbound: { host: '127.0.0.1', port },
          admin: { host: '127.0.0.1', port: adminPort },
        },
        controlPlane: { url: c.stream, joinToken: c.credentials.hello },
        dataDir: join(dir, 'b'),
        log: { level: 'warn' },
      }),
    ]);
    const url = `http://127.0.0.1:${port}/`;
    await serves1k('agent B (inbound)', url);
    return { pid: child.pid, url };
  });
  const agentA = once(async () => {
    const [, c, port, adminPort] = [await agentB(), await cp(), await freePort(), await freePort()];
    const child = node('agent A', [
      join(root, 'agent/dist/main.js'),
      '--config',
      yamlFile('agent-a', {
        agentId: 'client',
        service: 'client',
        // An agent is sent the routes of the services it declares it calls.
        upstreams: [{ service: 'hello' }],
        listeners: { outbound: { host: '127.0.0.1', port }, admin: { host: '127.0.0.1', port: adminPort } },
        controlPlane: { url: c.stream, joinToken: c.credentials.client },
        dataDir: join(dir, 'a'),
        log: { level: 'warn' },
      }),
    ]);
    await until('the client agent to route to hello', async () => {
      const r = await fetch(`http://127.0.0.1:${adminPort}/config`);
      const endpoints = (await r.json()).table?.services?.hello?.endpoints ?? [];
      return endpoints.length === 1 || { endpoints };
    });
    const url = `http://127.0.0.1:${port}/`;
    await serves1k('agent A (outbound) via agent B', url, { host: 'hello' });
    return { pid: child.pid, url };
  });
  const haproxy = once(async () => {
    const binary = findBinary('haproxy');
    const [a, port] = [await app(), await freePort()];
    const cfg = join(dir, 'haproxy.cfg');
    writeFileSync(cfg, haproxyConfig({ port, appPort: a.port }));
    const bad = checkConfig(binary, ['-c', '-q', '-f', cfg]);
    if (bad) throw new Error(`haproxy rejected its config:\n${bad}`);
    const child = group.start('haproxy', binary, ['-db', '-f', cfg]);
    const url = `http://127.0.0.1:${port}/`;
    await serves1k('haproxy', url);
    return { pid: child.pid, url };
  });
  const nginx = once(async () => {
    const binary = findBinary('nginx');
    const [a, port] = [await app(), await freePort()];
    const prefix = join(dir, 'nginx');
    mkdirSync(prefix);
    const conf = join(prefix, 'nginx.conf');
    writeFileSync(conf, nginxConfig({ dir: prefix, port, appPort: a.port, idleUpstream: Math.max(32, connections) }));
    const args = ['-p', `${prefix}/`, '-c', conf, '-e', join(prefix, 'error.log')];
    const bad = checkConfig(binary, ['-t', '-q', ...args]);
    if (bad) throw new Error(`nginx rejected its config:\n${bad}`);
    const child = group.start('nginx', binary, args);
    const url = `http://127.0.0.1:${port}/`;
    await serves1k('nginx', url);
    const workers = childPids(child.pid);
    for (const pid of workers) group.adopt(pid, 'nginx');
    return { pid: child.pid, url };
  });
  const fastify = once(async () => {
    const [a, port] = [await app(), await freePort()];
    const child = node('fastify proxy', [
      join(here, 'fastify-proxy.mjs'),
      '--port',
      String(port),
      '--upstream',
      `http://127.0.0.1:${a.port}`,
    ]);
    const url = `http://127.0.0.1:${port}/`;
    await serves1k('@fastify/http-proxy', url);
    return { pid: child.pid, url };
  });

  /**
   * What each path needs: how to start it, where to send, and which processes
   * are its proxy (their CPU is what the path costs). `pids` is read at each
   * measurement, so nginx's workers are found as they are then.
   */
  const PATH_DEFS = {
    direct: {
      label: 'direct',
      what: 'client -> app',
      async setup() {
        const a = await app();
        return { url: a.url, headers: {}, proxies: [] };
      },
    },
    agent: {
      label: 'agent (1 hop)',
      what: 'client -> agent inbound -> app',
      async setup() {
        const b = await agentB();
        return { url: b.url, headers: {}, proxies: [{ label: 'agent', pids: () => [b.pid] }] };
      },
    },
    mesh: {
      label: 'mesh (2 agents)',
      what: 'client -> agent A outbound -> agent B inbound -> app',
      async setup() {
        const [a, b] = [await agentA(), await agentB()];
        return {
          url: a.url,
          headers: { host: 'hello' },
          proxies: [
            { label: 'A', pids: () => [a.pid] },
            { label: 'B', pids: () => [b.pid] },
          ],
        };
      },
    },
    haproxy: {
      label: 'HAProxy',
      what: 'client -> haproxy -> app',
      binary: 'haproxy',
      async setup() {
        const h = await haproxy();
        return { url: h.url, headers: {}, proxies: [{ label: 'haproxy', pids: () => [h.pid] }] };
      },
    },
    nginx: {
      label: 'nginx',
      what: 'client -> nginx -> app',
      binary: 'nginx',
      async setup() {
        const n = await nginx();
        return {
          url: n.url,
          headers: {},
          proxies: [{ label: 'master+worker', pids: () => [n.pid, ...childPids(n.pid)] }],
        };
      },
    },
    fastify: {
      label: '@fastify/http-proxy',
      what: 'client -> fastify -> app',
      async setup() {
        const f = await fastify();
        return { url: f.url, headers: {}, proxies: [{ label: 'fastify', pids: () => [f.pid] }] };
      },
    },
  };

  return { PATH_DEFS, app };
}
