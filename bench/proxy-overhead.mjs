#!/usr/bin/env node
// Proxy overhead of the meshlet data path, measured side by side in one run.
//
// Starts (real processes, loopback): a demo app, its agent, a client agent and
// a control plane. Then, for each target in turn, autocannon sends the same
// bounded load (fixed duration and connection count) and the agents' CPU time
// is read from /proc before and after:
//
//   direct    client -> app
//   inbound   client -> agent B inbound -> app          (plaintext)
//   mesh      client -> agent A outbound =mTLS=> agent B inbound -> app
//
// Agents call each other over mutual TLS by default (strict mode), and a
// strict inbound listener refuses a plaintext caller, so the service `hello`
// is in permissive mode here: the load generator's plaintext requests to
// agent B are relayed, while agent A still calls B over mTLS (a caller with a
// certificate always does). bench/proxy-compare.mjs has the mTLS and
// plaintext variants of both paths side by side.
//
// It prints a table and, with --write, replaces the results section of
// docs/benchmarks.md. Ratios matter more than absolute numbers: the load
// generator shares the machine's cores with the processes it measures.
//
// --smoke: 200 requests per path at 2 connections and no warm-up, for the
// test suite and `npm run bench:smoke`; no timing is checked, but a path
// that fails a request (or never starts) exits 1 with the reason.
//
// The processes are a bench/lib/process-group.mjs group: their output tail is
// kept (a process that dies during start-up says why), and they are stopped
// at the end, on an error and on SIGINT or SIGTERM.
//
// usage: node bench/proxy-overhead.mjs [--duration 5] [--connections 16] [--write] [--smoke]
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import getPort from 'get-port';
import { stringify } from 'yaml';
import { mintJoinCredentials, writePrivateFile } from './lib/join-credentials.mjs';
import { benchScratch, cpuSeconds } from './lib/process-group.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '5' },
    connections: { type: 'string', default: '16' },
    write: { type: 'boolean', default: false },
    smoke: { type: 'boolean', default: false },
  },
});
if (values.smoke && values.write) {
  process.stderr.write('--smoke measures nothing worth keeping: leave out --write\n');
  process.exit(2);
}
/** A smoke run's load per path: a number of requests (autocannon's `amount`) instead of a duration. */
const SMOKE = { amount: 200, connections: 2 };
const duration = Math.min(60, Math.max(1, Number(values.duration)));
const connections = values.smoke ? SMOKE.connections : Math.min(256, Math.max(1, Number(values.connections)));
const log = (s) => process.stderr.write(`${s}\n`);
const { group, dir, cleanup, exit } = benchScratch('meshlet-bench-', log);

function start(name, args) {
  return group.start(name, process.execPath, args, { cwd: root });
}
function config(name, value) {
  const file = join(dir, `${name}.yaml`);
  // Agent configs hold join credentials: 0600.
  writePrivateFile(file, stringify(value));
  return file;
}
async function until(what, check, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    group.assertAlive(); // a process that died says why, instead of a timeout
    try {
      if (await check()) return;
    } catch {
      // not yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

// Free ports, so that a run (the test suite's smoke run among them) never meets another on a fixed one.
const freePort = () => getPort({ host: '127.0.0.1' });
const PORTS = {
  cp: await freePort(),
  app: await freePort(),
  inbound: await freePort(),
  agentAdmin: await freePort(),
  outbound: await freePort(),
  clientAdmin: await freePort(),
};
const stream = `ws://127.0.0.1:${PORTS.cp}/v1/stream`;
const quiet = { level: 'warn' };

try {
  log('starting control plane, demo app, its agent and a client agent...');
  start('cp', [
    join(root, 'control-plane/dist/main.js'),
    '--config',
    config('cp', {
      listen: { port: PORTS.cp },
      dataDir: join(dir, 'cp'),
      push: { startupGraceMs: 0 },
      log: quiet,
      // The inbound path's plaintext caller is relayed (see the top of this file).
      services: { hello: { mtls: { mode: 'permissive' } } },
    }),
  ]);
  await until('the control plane to answer', async () => (await fetch(`http://127.0.0.1:${PORTS.cp}/healthz`)).ok);
  const credentials = await mintJoinCredentials(`http://127.0.0.1:${PORTS.cp}`, ['hello', 'client']);
  const app = start('app', [
    join(root, 'deploy/local/demo-app.mjs'),
    '--service',
    'hello',
    '--instance',
    'hello-1',
    '--port',
    String(PORTS.app),
  ]);
  const agentB = start('agent-b', [
    join(root, 'agent/dist/main.js'),
    '--config',
    config('agent-b', {
      agentId: 'hello-1',
      instance: { service: 'hello', app: { port: PORTS.app } },
      listeners: {
        outbound: { enabled: false },
        inbound: { host: '127.0.0.1', port: PORTS.inbound },
        admin: { port: PORTS.agentAdmin },
      },
      controlPlane: { url: stream, joinToken: credentials.hello },
      dataDir: join(dir, 'b'),
      log: quiet,
    }),
  ]);
  const agentA = start('agent-a', [
    join(root, 'agent/dist/main.js'),
    '--config',
    config('agent-a', {
      agentId: 'client',
      service: 'client',
      // An agent is sent the routes of the services it declares it calls.
      upstreams: [{ service: 'hello' }],
      listeners: { outbound: { port: PORTS.outbound }, admin: { port: PORTS.clientAdmin } },
      controlPlane: { url: stream, joinToken: credentials.client },
      dataDir: join(dir, 'a'),
      log: quiet,
    }),
  ]);
  await until('the client agent to route to hello', async () => {
    const r = await fetch(`http://127.0.0.1:${PORTS.clientAdmin}/config`);
    return ((await r.json()).table?.services?.hello?.endpoints?.length ?? 0) === 1;
  });
  // Agent B is strict until its own table brings the service's permissive mode.
  await until(
    'agent B to relay a plaintext request (permissive mode)',
    async () => (await fetch(`http://127.0.0.1:${PORTS.inbound}/`)).ok,
  );

  const targets = [
    { name: 'direct', url: `http://127.0.0.1:${PORTS.app}/`, headers: {} },
    { name: 'inbound', url: `http://127.0.0.1:${PORTS.inbound}/`, headers: {} },
    { name: 'mesh', url: `http://127.0.0.1:${PORTS.outbound}/`, headers: { host: 'hello' } },
  ];
  const rows = [];
  for (const t of targets) {
    // Warm up connection pools and the JIT, then measure.
    if (!values.smoke) await autocannon({ url: t.url, headers: t.headers, connections, duration: 1 });
    const before = { a: cpuSeconds(agentA.pid), b: cpuSeconds(agentB.pid), app: cpuSeconds(app.pid) };
    log(
      `measuring ${t.name} for ${values.smoke ? `${SMOKE.amount} requests` : `${duration} s`} with ${connections} connections...`,
    );
    const r = await autocannon({
      url: t.url,
      headers: t.headers,
      connections,
      ...(values.smoke ? { amount: SMOKE.amount, sampleInt: 50 } : { duration }),
    });
    const n = r.requests.total;
    const cpu = (p) => ((cpuSeconds(p.pid) - before[p === agentA ? 'a' : p === agentB ? 'b' : 'app']) / n) * 1e6;
    rows.push({
      target: t.name,
      requests: n,
      errors: r.errors + r.non2xx,
      rps: r.requests.average,
      p50: r.latency.p50,
      p99: r.latency.p99,
      cpuAgentA: t.name === 'mesh' ? cpu(agentA) : 0,
      cpuAgentB: t.name === 'direct' ? 0 : cpu(agentB),
      cpuApp: cpu(app),
    });
  }

  const direct = rows[0];
  const fmt = (x, d = 0) => x.toFixed(d);
  const lines = [
    '| path | requests | errors | req/s | vs direct | p50 ms | p99 ms | CPU µs/req agent A (outbound) | CPU µs/req agent B (inbound) | CPU µs/req app |',
    '|---|---|---|---|---|---|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| ${r.target} | ${r.requests} | ${r.errors} | ${fmt(r.rps)} | ${fmt(r.rps / direct.rps, 2)}x | ${r.p50} | ${r.p99} | ${r.cpuAgentA ? fmt(r.cpuAgentA) : '-'} | ${r.cpuAgentB ? fmt(r.cpuAgentB) : '-'} | ${fmt(r.cpuApp)} |`,
    ),
  ];
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  const header = `Run on ${new Date().toISOString().slice(0, 10)}, Node ${process.version}, ${cpus().length} x ${cpu}; ${connections} connections, ${values.smoke ? `${SMOKE.amount} requests per path, no warm-up; command: \`node bench/proxy-overhead.mjs --smoke\`` : `${duration} s per path after a 1 s warm-up; command: \`node bench/proxy-overhead.mjs --duration ${duration} --connections ${connections} --write\``}.`;
  process.stdout.write(`${header}\n\n${lines.join('\n')}\n`);
  if (values.smoke) {
    const bad = rows
      .filter((r) => r.errors > 0 || r.requests === 0)
      .map((r) => `${r.target}: ${r.errors} errors in ${r.requests} requests`);
    if (bad.length > 0) throw new Error(`smoke: ${bad.join('; ')}`);
    log(`proxy-overhead smoke: every path answered (${rows.map((r) => r.target).join(', ')})`);
  }
  if (values.write) {
    const file = join(root, 'docs', 'benchmarks.md');
    const doc = readFileSync(file, 'utf8');
    const begin = '<!-- proxy-overhead:begin -->';
    const end = '<!-- proxy-overhead:end -->';
    const next = doc.replace(
      new RegExp(`${begin}[\\s\\S]*${end}`),
      `${begin}\n${header}\n\n${lines.join('\n')}\n${end}`,
    );
    writeFileSync(file, next);
    log(`wrote ${file}`);
  }
} catch (err) {
  // After SIGINT the processes are being stopped under the run's feet: that error is expected.
  if (!exit.interrupted) log(`proxy-overhead failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
} finally {
  await cleanup();
}
