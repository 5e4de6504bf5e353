// The HTTP/2 paths of bench/proxy-compare.mjs, measured with h2load
// (h2load.mjs) over cleartext HTTP/2 from the client:
//
//   h2-direct    h2load -> app (h2c)
//   h2-haproxy   h2load -> HAProxy (h2c front, `proto h2` to the app; nbthread 1) -> app (h2c)
//   h2-node      h2load -> a minimal node:http2 relay (h2-node-relay.mjs --fast-bind) -> app (h2c): what Node's http2
//                costs alone
//   h2-agent     h2load -> agent H1 inbound (h2c; service hello-h2-permissive, permissive mTLS, `protocol: http2`)
//                       -> app (h2c): one agent hop, h2 on both sides, as the HTTP/1.1 `agent` path is one inbound hop
//   h2-mesh      h2load -> agent A outbound (h2c, :authority hello-h2)
//                       =h2 over mTLS=> agent H inbound -> app (h2c: the service's policy says `protocol: http2`)
//
// The app is bench/app-1k.mjs --h2c (the same 1 KiB answer). Agent A and the
// control plane are the HTTP/1.1 paths' own (processes.mjs); agent H is the
// h2c app's agent, service hello-h2.
import { connect } from 'node:http2';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { checkConfig, findBinary, haproxyConfig } from '../system-proxies.mjs';

/** The HTTP/2 paths, in the order of their report. */
export const H2_PATHS = ['h2-direct', 'h2-haproxy', 'h2-node', 'h2-agent', 'h2-mesh'];

/** One GET over h2c: `{ status, bytes }`. */
function getH2(url, authority) {
  return new Promise((resolve, reject) => {
    const session = connect(url);
    const done = (err, value) => {
      session.destroy();
      if (err) reject(err);
      else resolve(value);
    };
    session.on('error', (e) => done(e));
    session.setTimeout(2000, () => done(new Error('timed out')));
    const req = session.request({ ':path': '/', ...(authority ? { ':authority': authority } : {}) });
    let status = 0;
    let bytes = 0;
    req.on('response', (h) => (status = h[':status']));
    req.on('data', (c) => (bytes += c.length));
    req.on('end', () => done(undefined, { status, bytes }));
    req.on('error', (e) => done(e));
    req.end();
  });
}

/**
 * The HTTP/2 path definitions over the processes of processes.mjs (`p`, with
 * its `h2` helpers) and of `group`; `dir` holds their files, `bench` is the
 * bench/ folder. Each `setup()` resolves to `{ url, authority?, proxies, appPid }`.
 */
export function h2Paths({ p, group, dir, bench, root }) {
  const { instanceAgent, agentA, until, freePort } = p.h2;
  const one = (label, x) => [{ label, pids: () => [x.pid] }];
  const servesH2 = (what, url, authority) =>
    until(`${what} to serve the 1 KiB body over h2c at ${url}`, async () => {
      const r = await getH2(url, authority);
      return (r.status === 200 && r.bytes === 1024) || r;
    });
  let appP;
  const app = () =>
    (appP ??= (async () => {
      const port = await freePort();
      const child = group.start(
        'app-1k (h2c)',
        process.execPath,
        [join(bench, 'app-1k.mjs'), '--port', String(port), '--h2c'],
        {
          cwd: root,
        },
      );
      const url = `http://127.0.0.1:${port}/`;
      await servesH2('the h2c app', url);
      return { port, pid: child.pid, url };
    })());
  let haP;
  const haproxy = () =>
    (haP ??= (async () => {
      const binary = findBinary('haproxy');
      const [a, port] = [await app(), await freePort()];
      const cfg = join(dir, 'haproxy-h2.cfg');
      writeFileSync(cfg, haproxyConfig({ port, appPort: a.port, h2: true }));
      const bad = checkConfig(binary, ['-c', '-q', '-f', cfg]);
      if (bad) throw new Error(`haproxy rejected its HTTP/2 config:\n${bad}`);
      const child = group.start('haproxy (h2)', binary, ['-db', '-f', cfg]);
      const url = `http://127.0.0.1:${port}/`;
      await servesH2('haproxy (h2)', url);
      return { pid: child.pid, url };
    })());
  let nodeP;
  const nodeRelay = () =>
    (nodeP ??= (async () => {
      const [a, port] = [await app(), await freePort()];
      const child = group.start(
        'node:http2 relay',
        process.execPath,
        [
          join(bench, 'lib', 'proxy-compare', 'h2-node-relay.mjs'),
          '--port',
          String(port),
          '--upstream',
          a.url,
          '--fast-bind',
        ],
        { cwd: root },
      );
      const url = `http://127.0.0.1:${port}/`;
      await servesH2('the node:http2 relay', url);
      return { pid: child.pid, url };
    })());
  let oneP;
  const oneHop = () =>
    (oneP ??= (async () => {
      const h = await instanceAgent('agent H1', 'hello-h2-permissive-1', 'hello-h2-permissive', app);
      // Strict until its table brings its service's permissive mode.
      await servesH2('agent H1 (inbound, permissive, h2c)', h.url);
      return h;
    })());
  let meshP;
  const mesh = () =>
    (meshP ??= (async () => {
      const h = await instanceAgent('agent H', 'hello-h2-1', 'hello-h2', app);
      const a = await agentA();
      await servesH2('agent A (outbound, h2c) via hello-h2', a.url, 'hello-h2');
      return { a, h };
    })());

  const H2_PATH_DEFS = {
    'h2-direct': {
      label: 'h2 direct',
      what: 'h2load -> app (h2c)',
      async setup() {
        const a = await app();
        return { url: a.url, proxies: [], appPid: a.pid };
      },
    },
    'h2-haproxy': {
      label: 'HAProxy (HTTP/2)',
      what: 'h2load -> haproxy (h2c, proto h2 to the app) -> app (h2c)',
      binary: 'haproxy',
      async setup() {
        const [h, a] = [await haproxy(), await app()];
        return { url: h.url, proxies: one('haproxy', h), appPid: a.pid };
      },
    },
    'h2-node': {
      label: 'node:http2 relay',
      what: "h2load -> minimal node:http2 relay (h2c both sides, one shared session to the app, the agent's AsyncResource.bind fix) -> app (h2c)",
      async setup() {
        const [r, a] = [await nodeRelay(), await app()];
        return { url: r.url, proxies: one('relay', r), appPid: a.pid };
      },
    },
    'h2-agent': {
      label: 'agent (1 hop, HTTP/2)',
      what: 'h2load -> agent inbound (h2c, permissive) -> app (h2c)',
      async setup() {
        const [h, a] = [await oneHop(), await app()];
        return { url: h.url, proxies: one('agent', h), appPid: a.pid };
      },
    },
    'h2-mesh': {
      label: 'mesh (2 agents, HTTP/2, mTLS)',
      what: 'h2load -> agent A outbound (h2c) =h2 over mTLS=> agent H inbound -> app (h2c)',
      async setup() {
        const [{ a, h }, app1] = [await mesh(), await app()];
        return {
          url: a.url,
          authority: 'hello-h2',
          proxies: [...one('A', a), ...one('H', h)],
          appPid: app1.pid,
        };
      },
    },
  };
  return H2_PATH_DEFS;
}
