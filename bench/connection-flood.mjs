#!/usr/bin/env node
// A connection flood against one real agent (agent/dist) at its default
// limits: the attack of issue 16 ("8000 slow connections raised an agent from
// 87 MB to 200 MB, partial headers were kept 69-88 s"), measured on the
// listener limits that answer it (docs/security.md, "Connection limits").
//
// The agent fronts a tiny app on loopback and has no control plane (its
// stream retries in the background: nothing here needs a table). --connections
// sockets, spread over --addresses loopback source addresses (127.0.0.1,
// 127.0.0.2, ...), each send a request line and one header, and never finish.
// Reported: how many the inbound listener admitted and refused (per address,
// listener full), the agent's VmRSS (/proc/PID/status) before, with the flood
// held, and after it is gone, how long until the last admitted one was closed
// (the headers timeout), whether the admin listener answered a normal request
// meanwhile, and the agent's refusal counters. Figures, not assertions.
//
// usage: node bench/connection-flood.mjs [--connections 8000] [--addresses 16] [--smoke]
//        --smoke: 200 connections from 2 addresses, with a per-address cap of 50
//        and a 1 s headers timeout, so that it ends in seconds.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    connections: { type: 'string', default: '8000' },
    addresses: { type: 'string', default: '16' },
    smoke: { type: 'boolean', default: false },
  },
});
const N = values.smoke ? 200 : Number(values.connections);
const K = values.smoke ? 2 : Number(values.addresses);
if (!Number.isInteger(N) || N < 1 || !Number.isInteger(K) || K < 1 || K > 250) {
  process.stderr.write('usage: connection-flood.mjs [--connections N] [--addresses 1..250] [--smoke]\n');
  process.exit(2);
}
const log = (line) => process.stderr.write(`${line}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const rssMiB = (pid) => {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round(Number(m[1]) / 1024) : NaN;
};
const get = (port, path) =>
  new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false, timeout: 10_000 }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', (e) => resolve({ status: 0, body: e.message }));
    req.end();
  });

const dir = mkdtempSync(join(tmpdir(), 'meshlet-flood-'));
const app = createServer((_q, r) => r.end('ok'));
app.listen(0, '127.0.0.1');
await once(app, 'listening');
const config = {
  agentId: 'flood-1',
  instance: { service: 'flood', app: { port: app.address().port } },
  listeners: { outbound: { enabled: false }, inbound: { host: '127.0.0.1', port: 0 }, admin: { port: 0 } },
  controlPlane: { url: 'ws://127.0.0.1:9/v1/stream', reconnectMaxDelayMs: 5000 },
  dataDir: join(dir, 'data'),
  log: { level: 'info' },
};
writeFileSync(join(dir, 'agent.json'), JSON.stringify(config));
const smokeFlags = values.smoke
  ? ['--listeners.inbound.limits.maxConnectionsPerAddress', '50', '--listeners.inbound.limits.headersTimeoutMs', '1000']
  : [];
const agent = spawn(
  process.execPath,
  [join(ROOT, 'agent/dist/main.js'), '--config', join(dir, 'agent.json'), ...smokeFlags],
  {
    stdio: ['ignore', 'pipe', 'inherit'],
  },
);
const stop = () => {
  agent.kill('SIGKILL');
  app.close();
  rmSync(dir, { recursive: true, force: true });
};
process.on('SIGINT', () => {
  stop();
  process.exit(130);
});

let out = '';
let ports;
agent.stdout.on('data', (c) => {
  out += c;
  for (const line of out.split('\n')) if (line.includes('"agent started"')) ports ??= JSON.parse(line);
});
for (let i = 0; ports === undefined; i++) {
  if (i > 200) throw new Error(`the agent did not start:\n${out.slice(-2000)}`);
  await sleep(50);
}
const inbound = ports.inbound;
const admin = ports.admin;
await sleep(1000);
const before = rssMiB(agent.pid);
log(
  `agent up (inbound ${inbound}, admin ${admin}), VmRSS ${before} MiB; opening ${N} slow connections from ${K} addresses`,
);

const probes = [];
const started = performance.now();
for (let i = 0; i < N; i++) {
  const socket = connect({ port: inbound, host: '127.0.0.1', localAddress: `127.0.0.${(i % K) + 1}` });
  const p = { data: '', closed: false, at: 0 };
  socket.on('connect', () => socket.write('GET / HTTP/1.1\r\nHost: flood\r\nX-Slow: '));
  socket.on('data', (d) => (p.data += d));
  socket.on('error', () => undefined);
  socket.on('close', () => {
    p.closed = true;
    p.at = performance.now();
  });
  probes.push(p);
  if (i % 200 === 199) await sleep(10);
}
await sleep(1000);
const held = rssMiB(agent.pid);
const during = await get(admin, '/metrics');
const openNow = probes.filter((p) => !p.closed).length;
log(`flood held: ${openNow} open, agent VmRSS ${held} MiB, admin /metrics answered ${during.status}`);
for (let i = 0; !probes.every((p) => p.closed); i++) {
  if (i > 1200) throw new Error('the slow connections were not all closed within 120 s');
  await sleep(100);
}
const lastClosed = Math.max(...probes.map((p) => p.at)) - started;
await sleep(1000);
const after = rssMiB(agent.pid);
const metrics = (await get(admin, '/metrics')).body;
const series = (reason) =>
  Number(
    new RegExp(`meshlet_agent_connections_refused_total\\{listener="inbound",reason="${reason}"\\} (\\d+)`).exec(
      metrics,
    )?.[1] ?? 0,
  );
const row = {
  connections: N,
  addresses: K,
  timedOut408: probes.filter((p) => p.data.startsWith('HTTP/1.1 408')).length,
  refusedWithoutAByte: probes.filter((p) => p.data === '').length,
  counted: {
    request_timeout: series('request_timeout'),
    per_address: series('per_address'),
    max_connections: series('max_connections'),
  },
  rssMiB: { before, held, after },
  lastClosedSeconds: Math.round(lastClosed / 100) / 10,
  adminDuringFlood: during.status,
};
console.log(JSON.stringify(row, null, 2));
stop();
const ok = row.timedOut408 + row.refusedWithoutAByte === N && during.status !== 0;
if (!ok) {
  log('connection-flood failed: not every connection was answered or refused, or the admin listener did not answer');
  process.exit(1);
}
if (values.smoke) log('connection-flood smoke: every path answered');
