// The paths bench/proxy-compare.mjs measures, over the processes of
// processes.mjs (each started on first use). A path is where the load goes
// (`url`, `headers`, and `tls`, the client's TLS options, for an https
// `url`), which processes are its proxy (their CPU is what the path costs),
// which app process answers it and, for an mTLS path, how many handshakes its
// callee agent has completed (read before and after each measured run).
import { childPids } from '../process-group.mjs';
import { inboundHandshakes, proxyProcesses } from './processes.mjs';

/** Every path, in the order of the report. */
export const ALL_PATHS = [
  'direct',
  'agent',
  'agent-mtls',
  'mesh',
  'mesh-plain',
  'haproxy',
  'haproxy-tls',
  'nginx',
  'nginx-tls',
  'fastify',
];
/** The paths of rate mode when --paths does not name them. */
export const RATE_PATHS = ['direct', 'agent', 'agent-mtls', 'mesh', 'mesh-plain', 'haproxy', 'haproxy-tls'];

/**
 * The path definitions over the processes of `group`, with their files under
 * `dir`; `root` is the repository, `bench` the bench/ folder, `connections`
 * sizes nginx's idle upstream pool. Returns `{ PATH_DEFS, app }` (`app()`
 * starts the plain app once and gives its `{ port, pid, url }`).
 */
export function proxyPaths(options) {
  const p = proxyProcesses(options);
  const one = (label, x) => [{ label, pids: () => [x.pid] }];

  /**
   * What each path needs: how to start it, where to send, and which processes
   * are its proxy. `pids` is read at each measurement, so nginx's workers are
   * found as they are then.
   */
  const PATH_DEFS = {
    direct: {
      label: 'direct',
      what: 'client -> app',
      async setup() {
        const a = await p.app();
        return { url: a.url, headers: {}, proxies: [], appPid: a.pid };
      },
    },
    agent: {
      label: 'agent (1 hop, plaintext)',
      what: 'client -> agent inbound (permissive) -> app',
      async setup() {
        const [b, a] = [await p.agentP(), await p.app()];
        return { url: b.url, headers: {}, proxies: one('agent', b), appPid: a.pid };
      },
    },
    'agent-mtls': {
      label: 'agent (1 hop, mTLS)',
      what: 'client with a mesh certificate =mTLS=> agent inbound -> app',
      async setup() {
        const [b, a] = [await p.agentB(), await p.app()];
        return {
          url: b.url,
          headers: {},
          tls: b.tls,
          proxies: one('agent', b),
          appPid: a.pid,
          handshakes: () => inboundHandshakes(b.adminPort),
        };
      },
    },
    mesh: {
      label: 'mesh (2 agents, mTLS)',
      what: 'client -> agent A outbound =mTLS=> agent B inbound -> app',
      async setup() {
        const [b, a] = [await p.agentB(), await p.agentARouting('hello', true)];
        return {
          url: a.url,
          headers: { host: 'hello' },
          proxies: [...one('A', a), ...one('B', b)],
          appPid: (await p.app()).pid,
          handshakes: () => inboundHandshakes(b.adminPort),
        };
      },
    },
    'mesh-plain': {
      label: 'mesh (2 agents, plaintext)',
      what: 'client -> agent A outbound -> agent P inbound (permissive) -> app',
      async setup() {
        const b = await p.plainEndpoint();
        const a = await p.agentARouting('hello-plain', false);
        return {
          url: a.url,
          headers: { host: 'hello-plain' },
          proxies: [...one('A', a), ...one('P', b)],
          appPid: (await p.app()).pid,
        };
      },
    },
    haproxy: {
      label: 'HAProxy',
      what: 'client -> haproxy -> app',
      binary: 'haproxy',
      async setup() {
        const [h, a] = [await p.haproxy(), await p.app()];
        return { url: h.url, headers: {}, proxies: one('haproxy', h), appPid: a.pid };
      },
    },
    'haproxy-tls': {
      label: 'HAProxy (TLS both sides)',
      what: 'client =TLS=> haproxy =mTLS=> app (TLS)',
      binary: 'haproxy',
      async setup() {
        const [h, a] = [await p.haproxyTls(), await p.appTls()];
        return { url: h.url, headers: {}, tls: h.tls, proxies: one('haproxy', h), appPid: a.pid };
      },
    },
    nginx: {
      label: 'nginx',
      what: 'client -> nginx -> app',
      binary: 'nginx',
      async setup() {
        const [n, a] = [await p.nginx(), await p.app()];
        return {
          url: n.url,
          headers: {},
          proxies: [{ label: 'master+worker', pids: () => [n.pid, ...childPids(n.pid)] }],
          appPid: a.pid,
        };
      },
    },
    'nginx-tls': {
      label: 'nginx (TLS both sides)',
      what: 'client =TLS=> nginx =mTLS=> app (TLS)',
      binary: 'nginx',
      async setup() {
        const [n, a] = [await p.nginxTls(), await p.appTls()];
        return {
          url: n.url,
          headers: {},
          tls: n.tls,
          proxies: [{ label: 'master+worker', pids: () => [n.pid, ...childPids(n.pid)] }],
          appPid: a.pid,
        };
      },
    },
    fastify: {
      label: '@fastify/http-proxy',
      what: 'client -> fastify -> app',
      async setup() {
        const [f, a] = [await p.fastify(), await p.app()];
        return { url: f.url, headers: {}, proxies: one('fastify', f), appPid: a.pid };
      },
    },
  };

  return { PATH_DEFS, app: p.app, processes: p };
}
