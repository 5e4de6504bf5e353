#!/usr/bin/env node
// The meshlet agent next to HAProxy, nginx and @fastify/http-proxy, measured
// side by side in one run on this machine, for a 1 KiB response.
//
// Starts on loopback, each on a free port: bench/app-1k.mjs (the app), a
// control plane, the app's agent (B), a client agent (A), HAProxy, nginx and
// bench/fastify-proxy.mjs, and sends the same bounded load down each path:
//
//   direct    client -> app
//   agent     client -> agent B inbound -> app                 (one agent hop)
//   mesh      client -> agent A outbound -> agent B inbound -> app
//   haproxy   client -> HAProxy (http mode, nbthread 1) -> app
//   nginx     client -> nginx (1 worker, upstream keepalive) -> app
//   fastify   client -> @fastify/http-proxy, defaults -> app
//
// Throughput mode (default): autocannon at a fixed connection count; req/s,
// p50/p99, and the proxy processes' CPU time per request (utime + stime from
// /proc/PID/stat before and after, divided by the requests), as ratios to
// HAProxy. Rate mode (--rate N): N req/s for --duration s per path, in rounds
// that alternate the paths, timed with hrtime (bench/lib/fixed-rate-load.mjs)
// because autocannon's latencies are whole milliseconds; reports p50/p99 and
// what the agents add over direct.
//
// usage: node bench/proxy-compare.mjs [--duration 5] [--connections 16] [--warmup 1]
//                                     [--rate 1000 [--rounds 3]] [--paths direct,agent,...]
//                                     [--install] [--write [--doc docs/benchmarks.md]]
// Build first (npm run build): the agents and the control plane run from dist/.
import { createRequire } from 'node:module';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import getPort from 'get-port';
import { stringify } from 'yaml';
import { fixedRateLoad, percentile } from './lib/fixed-rate-load.mjs';
import { ProcessGroup, childPids, cpuSeconds, stopOnExit } from './lib/process-group.mjs';
import { INSTALL_HINT, checkConfig, findBinary, haproxyConfig, installProxies, nginxConfig, versionOf } from './lib/system-proxies.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..');
const log = (s) => process.stderr.write(`${s}\n`);

const ALL_PATHS = ['direct', 'agent', 'mesh', 'haproxy', 'nginx', 'fastify'];
const RATE_PATHS = ['direct', 'agent', 'mesh', 'haproxy'];
const TARGETS = { agentCpuVsHaproxy: 2.5, meshP50AddMs: 1, meshP99AddMs: 3 };

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '5' },
    connections: { type: 'string', default: '16' },
    warmup: { type: 'string', default: '1' },
    rate: { type: 'string' },
    rounds: { type: 'string', default: '3' },
    paths: { type: 'string' },
    install: { type: 'boolean', default: false },
    write: { type: 'boolean', default: false },
    doc: { type: 'string', default: join(root, 'docs', 'benchmarks.md') },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  process.stdout.write(readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').filter((l) => l.startsWith('//')).map((l) => l.slice(3)).join('\n') + '\n');
  process.exit(0);
}
const clampInt = (name, lo, hi) => {
  const n = Number(values[name]);
  if (!Number.isFinite(n)) {
    log(`--${name} must be a number, got "${values[name]}"`);
    process.exit(2);
  }
  return Math.min(hi, Math.max(lo, Math.round(n)));
};
const duration = clampInt('duration', 1, 60);
const connections = clampInt('connections', 1, 256);
const warmup = clampInt('warmup', 0, 10);
const rate = values.rate === undefined ? undefined : clampInt('rate', 1, 20_000);
const rounds = clampInt('rounds', 1, 10);
const mode = rate === undefined ? 'throughput' : 'rate';
const paths = (values.paths ?? (mode === 'rate' ? RATE_PATHS : ALL_PATHS).join(',')).split(',').map((s) => s.trim()).filter(Boolean);
for (const p of paths) {
  if (!ALL_PATHS.includes(p)) {
    log(`--paths: unknown path "${p}"; known: ${ALL_PATHS.join(', ')}`);
    process.exit(2);
  }
}
for (const file of ['agent/dist/main.js', 'control-plane/dist/main.js']) {
  if (!existsSync(join(root, file))) {
    log(`${file} is missing: run \`npm run build\` first`);
    process.exit(2);
  }
}

// --- processes -------------------------------------------------------------

const group = new ProcessGroup();
const dir = mkdtempSync(join(tmpdir(), 'meshlet-proxy-compare-'));
let cleaned = false;
async function cleanup() {
  if (cleaned) return;
  cleaned = true;
  await group.stopAll();
  rmSync(dir, { recursive: true, force: true });
}
const exit = stopOnExit(() => group, dir, log, cleanup);

const node = (name, args) => group.start(name, process.execPath, args, { cwd: root });
const freePort = () => getPort({ host: '127.0.0.1' });
function yamlFile(name, value) {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, stringify(value));
  return file;
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
const serves1k = (what, url, headers) => until(`${what} to serve the 1 KiB body at ${url}`, async () => {
  const r = await get(url, headers);
  return (r.status === 200 && r.bytes === 1024) || r;
});
function once(fn) {
  let p;
  return () => (p ??= fn());
}

const cp = once(async () => {
  const port = await freePort();
  node('control plane', [join(root, 'control-plane/dist/main.js'), '--config', yamlFile('cp', { listen: { host: '127.0.0.1', port }, dataDir: join(dir, 'cp'), push: { startupGraceMs: 0 }, log: { level: 'warn' } })]);
  return { stream: `ws://127.0.0.1:${port}/v1/stream` };
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
  const child = node('agent B', [join(root, 'agent/dist/main.js'), '--config', yamlFile('agent-b', {
    agentId: 'hello-1',
    instance: { service: 'hello', app: { port: a.port } },
    listeners: { outbound: { enabled: false }, inbound: { host: '127.0.0.1', port }, admin: { host: '127.0.0.1', port: adminPort } },
    controlPlane: { url: c.stream },
    dataDir: join(dir, 'b'),
    log: { level: 'warn' },
  })]);
  const url = `http://127.0.0.1:${port}/`;
  await serves1k('agent B (inbound)', url);
  return { pid: child.pid, url };
});
const agentA = once(async () => {
  const [, c, port, adminPort] = [await agentB(), await cp(), await freePort(), await freePort()];
  const child = node('agent A', [join(root, 'agent/dist/main.js'), '--config', yamlFile('agent-a', {
    agentId: 'client',
    // An agent is sent the routes of the services it declares it calls.
    upstreams: [{ service: 'hello' }],
    listeners: { outbound: { host: '127.0.0.1', port }, admin: { host: '127.0.0.1', port: adminPort } },
    controlPlane: { url: c.stream },
    dataDir: join(dir, 'a'),
    log: { level: 'warn' },
  })]);
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
  const child = node('fastify proxy', [join(here, 'fastify-proxy.mjs'), '--port', String(port), '--upstream', `http://127.0.0.1:${a.port}`]);
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
  direct: { label: 'direct', what: 'client -> app', async setup() {
    const a = await app();
    return { url: a.url, headers: {}, proxies: [] };
  } },
  agent: { label: 'agent (1 hop)', what: 'client -> agent inbound -> app', async setup() {
    const b = await agentB();
    return { url: b.url, headers: {}, proxies: [{ label: 'agent', pids: () => [b.pid] }] };
  } },
  mesh: { label: 'mesh (2 agents)', what: 'client -> agent A outbound -> agent B inbound -> app', async setup() {
    const [a, b] = [await agentA(), await agentB()];
    return { url: a.url, headers: { host: 'hello' }, proxies: [{ label: 'A', pids: () => [a.pid] }, { label: 'B', pids: () => [b.pid] }] };
  } },
  haproxy: { label: 'HAProxy', what: 'client -> haproxy -> app', binary: 'haproxy', async setup() {
    const h = await haproxy();
    return { url: h.url, headers: {}, proxies: [{ label: 'haproxy', pids: () => [h.pid] }] };
  } },
  nginx: { label: 'nginx', what: 'client -> nginx -> app', binary: 'nginx', async setup() {
    const n = await nginx();
    return { url: n.url, headers: {}, proxies: [{ label: 'master+worker', pids: () => [n.pid, ...childPids(n.pid)] }] };
  } },
  fastify: { label: '@fastify/http-proxy', what: 'client -> fastify -> app', async setup() {
    const f = await fastify();
    return { url: f.url, headers: {}, proxies: [{ label: 'fastify', pids: () => [f.pid] }] };
  } },
};

/** CPU seconds used so far by each proxy of a path, and by the app. */
function cpuSnapshot(proxies, appPid) {
  return {
    proxies: proxies.map((p) => {
      const pids = p.pids();
      return { pids, s: pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0) };
    }),
    app: cpuSeconds(appPid),
  };
}
/** µs of CPU per request between two snapshots (the same pids in both). */
function cpuPerRequest(proxies, before, appPid, n) {
  const perProxy = proxies.map((p, i) => {
    const s = before.proxies[i].pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0) - before.proxies[i].s;
    return { label: p.label, us: (s / n) * 1e6 };
  });
  return { perProxy, total: perProxy.reduce((sum, p) => sum + p.us, 0), app: ((cpuSeconds(appPid) - before.app) / n) * 1e6 };
}

/** autocannon for `seconds`, stopped by a watchdog if it overruns. */
async function cannon(url, headers, seconds) {
  const inst = autocannon({ url, headers, connections, duration: seconds });
  const watchdog = setTimeout(() => inst.stop(), (seconds + 30) * 1000);
  try {
    return await inst;
  } finally {
    clearTimeout(watchdog);
  }
}

// --- formatting -----------------------------------------------------------

const f0 = (x) => (Number.isFinite(x) ? x.toFixed(0) : '-');
const f1 = (x) => (Number.isFinite(x) ? x.toFixed(1) : '-');
const f2 = (x) => (Number.isFinite(x) ? x.toFixed(2) : '-');
const f3 = (x) => (Number.isFinite(x) ? x.toFixed(3) : '-');
const signed = (x) => (Number.isFinite(x) ? `${x >= 0 ? '+' : ''}${x.toFixed(3)}` : '-');
const verdict = (ok) => (ok === undefined ? 'n/a' : ok ? '**met**' : '**not met**');
const cpuCell = (c) => (c.perProxy.length === 0 ? '-' : c.perProxy.length === 1 ? f1(c.total) : `${f1(c.total)} (${c.perProxy.map((p) => `${p.label} ${f1(p.us)}`).join(' + ')})`);

function versions() {
  const req = createRequire(join(root, 'package.json'));
  const pkgVersion = (name) => {
    try {
      return JSON.parse(readFileSync(req.resolve(`${name}/package.json`), 'utf8')).version;
    } catch {
      return 'unknown';
    }
  };
  const bin = (name) => findBinary(name);
  return [
    `Node ${process.version}`,
    `HAProxy ${bin('haproxy') ? versionOf('haproxy', bin('haproxy')) : 'not installed'}`,
    `nginx ${bin('nginx') ? versionOf('nginx', bin('nginx')) : 'not installed'}`,
    `fastify ${pkgVersion('fastify')} + @fastify/http-proxy ${pkgVersion('@fastify/http-proxy')}`,
    `autocannon ${pkgVersion('autocannon')}`,
  ].join(', ');
}
function commandLine() {
  const args = mode === 'rate' ? [`--rate ${rate}`, `--duration ${duration}`, `--rounds ${rounds}`] : [`--duration ${duration}`, `--connections ${connections}`];
  if (warmup !== 1) args.push(`--warmup ${warmup}`);
  if (values.paths) args.push(`--paths ${paths.join(',')}`);
  return `node bench/proxy-compare.mjs ${args.join(' ')} --write`;
}

// --- the two modes ---------------------------------------------------------

async function throughputMode(ready, skipped) {
  const rows = [];
  for (const [i, p] of ready.entries()) {
    log(`[${i + 1}/${ready.length}] ${p.name}: ${warmup} s warm-up, then ${duration} s at ${connections} connections...`);
    if (warmup > 0) await cannon(p.url, p.headers, warmup);
    const appPid = (await app()).pid;
    const before = cpuSnapshot(p.proxies, appPid);
    const r = await cannon(p.url, p.headers, duration);
    group.assertAlive();
    const n = r.requests.total;
    if (n === 0) throw new Error(`${p.name}: no request completed (errors ${r.errors}, timeouts ${r.timeouts})`);
    const cpu = cpuPerRequest(p.proxies, before, appPid, n);
    const row = { ...p, n, errors: r.errors + r.timeouts + r.non2xx, rps: n / (r.duration || duration), p50: r.latency.p50, p99: r.latency.p99, cpu };
    rows.push(row);
    log(`    ${p.name}: ${f0(row.rps)} req/s, p50 ${row.p50} ms, p99 ${row.p99} ms, proxy CPU ${cpuCell(cpu)} µs/req${row.errors ? `, ${row.errors} errors` : ''}`);
  }
  const by = Object.fromEntries(rows.map((r) => [r.name, r]));
  const ha = by.haproxy;
  const lines = [
    '| path | route | requests | errors | req/s | req/s vs HAProxy | p50 ms | p99 ms | proxy CPU µs/req | CPU/req vs HAProxy | app CPU µs/req |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.label} | ${r.what} | ${r.n} | ${r.errors} | ${f0(r.rps)} | ${ha ? `${f2(r.rps / ha.rps)}x` : '-'} | ${r.p50} | ${r.p99} | ${cpuCell(r.cpu)} | ${ha && r.cpu.perProxy.length ? `${f2(r.cpu.total / ha.cpu.total)}x` : '-'} | ${f1(r.cpu.app)} |`),
    ...skipped.map((s) => `| ${PATH_DEFS[s.name].label} | skipped: ${s.why} | | | | | | | | | |`),
  ];
  const agent = by.agent;
  const cpuOk = agent && ha ? agent.cpu.total <= TARGETS.agentCpuVsHaproxy * ha.cpu.total : undefined;
  const fastOk = agent && by.fastify ? agent.cpu.total < by.fastify.cpu.total : undefined;
  const targets = [
    `- One agent hop costs at most ${TARGETS.agentCpuVsHaproxy}x HAProxy's CPU per request: ${agent && ha ? `${f1(agent.cpu.total)} µs vs ${TARGETS.agentCpuVsHaproxy} x ${f1(ha.cpu.total)} = ${f1(TARGETS.agentCpuVsHaproxy * ha.cpu.total)} µs (${f2(agent.cpu.total / ha.cpu.total)}x)` : 'not measured'} — ${verdict(cpuOk)}`,
    `- One agent hop costs less CPU per request than @fastify/http-proxy with defaults: ${agent && by.fastify ? `${f1(agent.cpu.total)} µs vs ${f1(by.fastify.cpu.total)} µs (${f2(agent.cpu.total / by.fastify.cpu.total)}x)` : 'not measured'} — ${verdict(fastOk)}`,
    `- Both: ${verdict(cpuOk === undefined || fastOk === undefined ? undefined : cpuOk && fastOk)}`,
  ];
  const header = `Throughput: run on ${new Date().toISOString().slice(0, 10)}, ${cpus().length} x ${cpus()[0]?.model ?? 'unknown CPU'}; ${versions()}; ${connections} connections, ${duration} s per path after a ${warmup} s warm-up; latencies from autocannon (whole ms); command: \`${commandLine()}\`.`;
  return `${header}\n\n${lines.join('\n')}\n\nTargets:\n\n${targets.join('\n')}`;
}

async function rateMode(ready, skipped) {
  const slice = duration / rounds;
  const acc = new Map(ready.map((p) => [p.name, { sent: 0, ok: 0, errors: 0, elapsed: 0, lat: [], cpuSamples: [] }]));
  const agents = new Map(ready.map((p) => [p.name, new Agent({ keepAlive: true, maxSockets: 64 })]));
  try {
    if (warmup > 0) {
      for (const p of ready) {
        log(`warm-up ${p.name}: ${rate} req/s for ${warmup} s...`);
        await fixedRateLoad({ url: p.url, headers: p.headers, rate, seconds: warmup, agent: agents.get(p.name) });
      }
    }
    const appPid = (await app()).pid;
    for (let round = 1; round <= rounds; round++) {
      for (const p of ready) {
        log(`round ${round}/${rounds} ${p.name}: ${rate} req/s for ${f2(slice)} s...`);
        const before = cpuSnapshot(p.proxies, appPid);
        const r = await fixedRateLoad({ url: p.url, headers: p.headers, rate, seconds: slice, agent: agents.get(p.name) });
        group.assertAlive();
        const a = acc.get(p.name);
        a.sent += r.sent;
        a.ok += r.ok;
        a.errors += r.errors;
        a.elapsed += r.elapsedS;
        a.lat.push(r.latenciesMs);
        if (r.ok > 0) a.cpuSamples.push({ cpu: cpuPerRequest(p.proxies, before, appPid, r.ok), n: r.ok });
      }
    }
  } finally {
    for (const agent of agents.values()) agent.destroy();
  }
  const rows = ready.map((p) => {
    const a = acc.get(p.name);
    const all = new Float64Array(a.lat.reduce((n, l) => n + l.length, 0));
    let o = 0;
    for (const l of a.lat) {
      all.set(l, o);
      o += l.length;
    }
    all.sort();
    // CPU per request over all rounds: weighted by the requests of each round.
    const n = a.cpuSamples.reduce((s, c) => s + c.n, 0);
    const perProxy = p.proxies.map((px, i) => ({ label: px.label, us: a.cpuSamples.reduce((s, c) => s + c.cpu.perProxy[i].us * c.n, 0) / n }));
    const cpu = { perProxy, total: perProxy.reduce((s, x) => s + x.us, 0) };
    return { ...p, sent: a.sent, errors: a.errors, rps: a.sent / a.elapsed, p50: percentile(all, 50), p90: percentile(all, 90), p99: percentile(all, 99), max: all[all.length - 1], cpu };
  });
  for (const r of rows) log(`    ${r.name}: p50 ${f3(r.p50)} ms, p99 ${f3(r.p99)} ms, proxy CPU ${cpuCell(r.cpu)} µs/req${r.errors ? `, ${r.errors} errors` : ''}`);
  const direct = rows.find((r) => r.name === 'direct');
  const lines = [
    '| path | route | requests | errors | req/s sent | p50 ms | p90 ms | p99 ms | max ms | p50 over direct ms | p99 over direct ms | proxy CPU µs/req |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.label} | ${r.what} | ${r.sent} | ${r.errors} | ${f0(r.rps)} | ${f3(r.p50)} | ${f3(r.p90)} | ${f3(r.p99)} | ${f3(r.max)} | ${direct && r !== direct ? signed(r.p50 - direct.p50) : '-'} | ${direct && r !== direct ? signed(r.p99 - direct.p99) : '-'} | ${cpuCell(r.cpu)} |`),
    ...skipped.map((s) => `| ${PATH_DEFS[s.name].label} | skipped: ${s.why} | | | | | | | | | | |`),
  ];
  const mesh = rows.find((r) => r.name === 'mesh');
  const d50 = mesh && direct ? mesh.p50 - direct.p50 : undefined;
  const d99 = mesh && direct ? mesh.p99 - direct.p99 : undefined;
  const targets = [
    `- At ${rate} req/s the mesh path adds at most ${TARGETS.meshP50AddMs} ms at p50 over direct: ${d50 === undefined ? 'not measured' : `${signed(d50)} ms`} — ${verdict(d50 === undefined ? undefined : d50 <= TARGETS.meshP50AddMs)}`,
    `- At ${rate} req/s the mesh path adds at most ${TARGETS.meshP99AddMs} ms at p99 over direct: ${d99 === undefined ? 'not measured' : `${signed(d99)} ms`} — ${verdict(d99 === undefined ? undefined : d99 <= TARGETS.meshP99AddMs)}`,
  ];
  const header = `Fixed rate: run on ${new Date().toISOString().slice(0, 10)}, ${cpus().length} x ${cpus()[0]?.model ?? 'unknown CPU'}; ${versions()}; ${rate} req/s, ${duration} s per path in ${rounds} alternating rounds after a ${warmup} s warm-up; latencies timed with hrtime, write to last body byte; command: \`${commandLine()}\`.`;
  return `${header}\n\n${lines.join('\n')}\n\nTargets:\n\n${targets.join('\n')}`;
}

/** Replaces this mode's block inside the proxy-compare markers of the doc, keeping the other mode's block. */
function writeDoc(file, text) {
  const begin = '<!-- proxy-compare:begin -->';
  const end = '<!-- proxy-compare:end -->';
  const doc = readFileSync(file, 'utf8');
  const b = doc.indexOf(begin);
  const e = doc.indexOf(end);
  if (b < 0 || e < b) throw new Error(`${file} has no ${begin} ... ${end} section; add it (see the Proxy comparison section) and run again`);
  let inner = doc.slice(b + begin.length, e);
  const sb = `<!-- proxy-compare:${mode}:begin -->`;
  const se = `<!-- proxy-compare:${mode}:end -->`;
  const block = `${sb}\n${text}\n${se}`;
  const ib = inner.indexOf(sb);
  const ie = inner.indexOf(se);
  if (ib >= 0 && ie > ib) inner = inner.slice(0, ib) + block + inner.slice(ie + se.length);
  else inner = mode === 'throughput' ? `\n${block}\n${inner.replace(/^\n/, '')}` : `${inner.replace(/\n$/, '')}\n\n${block}\n`;
  writeFileSync(file, doc.slice(0, b + begin.length) + inner + doc.slice(e));
  log(`wrote the ${mode} results to ${relative(process.cwd(), file) || file}`);
}

// --- main ------------------------------------------------------------------

try {
  const missing = ['haproxy', 'nginx'].filter((b) => !findBinary(b) && paths.some((p) => PATH_DEFS[p].binary === b));
  if (missing.length > 0) {
    if (values.install) installProxies(log, missing);
    else log(`${missing.join(' and ')} not installed: their paths are skipped. To include them: ${INSTALL_HINT} (as root), or run with --install`);
  }
  const ready = [];
  const skipped = [];
  for (const name of paths) {
    const def = PATH_DEFS[name];
    if (def.binary && !findBinary(def.binary)) {
      skipped.push({ name, why: `${def.binary} not installed (\`${INSTALL_HINT}\`)` });
      continue;
    }
    log(`starting ${name} (${def.what})...`);
    ready.push({ name, label: def.label, what: def.what, ...(await def.setup()) });
  }
  if (ready.length === 0) throw new Error('no path to measure');
  const text = mode === 'rate' ? await rateMode(ready, skipped) : await throughputMode(ready, skipped);
  process.stdout.write(`${text}\n`);
  if (values.write) writeDoc(resolve(values.doc), text);
} catch (err) {
  // After SIGINT the processes are being stopped under the run's feet: that error is expected.
  if (!exit.interrupted) log(`proxy-compare failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
} finally {
  await cleanup();
}
