#!/usr/bin/env node
// What an agent costs in memory: RSS and V8 heap, idle and under load.
//
// Starts on loopback (bench/lib/agent-memory/processes.mjs): a control plane,
// bench/app-1k.mjs, --services simulated services of one endpoint each
// (registered over the stream protocol), and two real agent processes
// (agent/dist/main.js): an inbound agent in front of the app with no table
// to speak of, and an outbound agent whose upstreams are all the services,
// so that it holds an N-service table. Beside them, two reference
// processes: `node -e` with nothing loaded, and node importing fastify,
// undici, prom-client and pino (the agent's dependencies before any of its
// code runs).
//
// 1. Idle: once every agent serves (the table agent holding all N
//    services), waits --settle seconds, then reads each process's VmRSS
//    from /proc/PID/status (and the private, anonymous part of it from
//    /proc/PID/smaps_rollup: RSS counts the node binary's ~40 MiB of text,
//    shared by every Node process on the host) and each agent's V8 heap (used / total) from its
//    admin /metrics.
// 2. Load: for each agent in turn, autocannon through it (--connections,
//    --duration; the 1 KiB answer; Host: svc-0 through the outbound agent)
//    while its RSS is sampled every 100 ms; reports the largest RSS seen,
//    VmHWM (the peak since the process started), and the heap after.
//
// --node-args="--max-semi-space-size=1 ..." starts the agents with these
// Node options (to compare V8 settings); --env "NAME=value ..." adds to
// their environment (NODE_OPTIONS, MESHLET_* variables).
//
// usage: node bench/agent-memory.mjs [--services 100] [--settle 5] [--duration 5] [--connections 16]
//                                    [--node-args="..."] [--env "..."] [--json] [--smoke]
//
// --smoke: 5 services, a 1 s settle, 200 requests per agent at 2
// connections; for the test suite and `npm run bench:smoke`. No figure is
// checked; a process that does not start or a request that fails exits 1.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { startProcesses } from './lib/agent-memory/processes.mjs';
import { agentHeap, mib, procMemory, sampleRss } from './lib/agent-memory/readings.mjs';
import { benchScratch } from './lib/process-group.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..');
const log = (s) => process.stderr.write(`${s}\n`);

const { values } = parseArgs({
  options: {
    services: { type: 'string', default: '100' },
    settle: { type: 'string', default: '5' },
    duration: { type: 'string', default: '5' },
    connections: { type: 'string', default: '16' },
    'node-args': { type: 'string', default: '' },
    env: { type: 'string', default: '' },
    json: { type: 'boolean', default: false },
    smoke: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  const lines = readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n');
  process.stdout.write(
    `${lines
      .filter((l) => l.startsWith('//'))
      .map((l) => l.slice(3))
      .join('\n')}\n`,
  );
  process.exit(0);
}
const int = (name, lo, hi) => {
  const n = Number(values[name]);
  if (!Number.isFinite(n)) {
    log(`--${name} must be a number, got "${values[name]}"`);
    process.exit(2);
  }
  return Math.min(hi, Math.max(lo, Math.round(n)));
};
const smoke = values.smoke;
const services = smoke ? 5 : int('services', 1, 2000);
const settle = smoke ? 1 : int('settle', 0, 120);
const duration = int('duration', 1, 60);
const connections = smoke ? 2 : int('connections', 1, 256);
const nodeArgs = values['node-args'].split(/\s+/).filter(Boolean);
const env = Object.fromEntries(
  values.env
    .split(/\s+(?=[A-Z_][A-Z0-9_]*=)/)
    .filter(Boolean)
    .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
);
for (const file of ['agent/dist/main.js', 'control-plane/dist/main.js']) {
  if (!existsSync(join(root, file))) {
    log(`${file} is missing: run \`npm run build\` first`);
    process.exit(2);
  }
}

const { group, dir, cleanup } = benchScratch('meshlet-agent-memory-', log);

async function load(target) {
  const inst = autocannon({
    url: target.url,
    headers: target.headers,
    connections,
    ...(smoke ? { amount: 200, sampleInt: 50 } : { duration }),
  });
  const watchdog = setTimeout(() => inst.stop(), (duration + 30) * 1000);
  try {
    return await inst;
  } finally {
    clearTimeout(watchdog);
  }
}

try {
  const p = await startProcesses({ group, dir, root, services, nodeArgs, env, log });
  const agents = [p.inbound, p.table];
  log(`settling ${settle} s...`);
  await new Promise((r) => setTimeout(r, settle * 1000));
  const rows = [];
  for (const r of p.references) rows.push({ name: r.name, idle: procMemory(r.pid) });
  for (const a of agents) rows.push({ name: a.name, idle: procMemory(a.pid), heapIdle: await agentHeap(a.adminPort) });
  for (const [i, a] of agents.entries()) {
    log(`load through the ${a.name}...`);
    const sampler = sampleRss(a.pid);
    const result = await load(a);
    const loadMax = sampler.stop();
    const failed = result.errors + result.timeouts + result.non2xx;
    if (failed > 0 || result.requests.total === 0) {
      throw new Error(`${a.name}: ${failed} failed requests of ${result.requests.total}`);
    }
    const row = rows[p.references.length + i];
    row.loadMax = loadMax;
    row.hwm = procMemory(a.pid).hwm;
    row.heapAfter = await agentHeap(a.adminPort);
    row.rps = result.requests.average;
  }
  p.close();
  const out = [
    `Agent memory: ${services} services, settle ${settle} s, load ${smoke ? '200 requests' : `${duration} s`} at ${connections} connections` +
      `${nodeArgs.length ? `, agents run with ${nodeArgs.join(' ')}` : ''}${values.env ? `, env ${values.env}` : ''}`,
    '',
    '| process | RSS idle MiB | private (anon) idle MiB | heap used / total idle MiB | RSS under load (max) MiB | peak RSS (VmHWM) MiB | heap used / total after load MiB | req/s |',
    '|---|---|---|---|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| ${r.name} | ${mib(r.idle.rss)} | ${mib(r.idle.anon)} | ${r.heapIdle ? `${mib(r.heapIdle.used)} / ${mib(r.heapIdle.total)}` : '-'} | ` +
        `${mib(r.loadMax)} | ${mib(r.hwm ?? r.idle.hwm)} | ${r.heapAfter ? `${mib(r.heapAfter.used)} / ${mib(r.heapAfter.total)}` : '-'} | ` +
        `${r.rps === undefined ? '-' : Math.round(r.rps)} |`,
    ),
  ];
  process.stdout.write(`${out.join('\n')}\n`);
  if (smoke) log('smoke: every path answered (inbound, table)');
  if (values.json) process.stdout.write(`${JSON.stringify({ services, settle, connections, nodeArgs, rows })}\n`);
  await cleanup();
} catch (err) {
  log(err instanceof Error ? (err.stack ?? err.message) : String(err));
  await cleanup();
  process.exit(1);
}
