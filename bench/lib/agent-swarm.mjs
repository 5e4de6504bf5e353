#!/usr/bin/env node
// A child process of bench/scale.mjs that plays agents [from, to) of the
// simulated mesh (bench/lib/scale-topology.mjs), each a plain `ws` client on
// the real protocol: hello (with its instance and upstreams), health
// healthy, a heartbeat every --heartbeat-ms and, with --observations on, an
// `observations` report as often; every `routes` is applied (full or delta,
// NACK with MESHLET_DELTA_BASE_MISMATCH when the base is not held) and ACKed
// at once.
//
// The parent drives it over the IPC channel with { id, op } requests and gets
// { re: id, ... } answers: status, watch (start watching one endpoint's
// health in every table), inject (send a health change from one agent),
// unwatch (the watch's result), stop. Times are wall-clock milliseconds with
// a fractional part, performance.timeOrigin + performance.now(), comparable
// across the processes of one machine.
//
// --stream may list several URLs, comma-separated (one per control-plane
// replica): agent i connects to URL i % count, so a fleet spreads evenly
// over the replicas whichever swarm process plays it.
//
// --credentials names a JSON file `{ [service]: join credential }`: each
// agent presents the one of its instance's service in its hello.
//
// usage (by bench/scale.mjs): node bench/lib/agent-swarm.mjs --stream URL[,URL...] --agents N
//         --seed S --from A --to B [--observations on|off] [--concurrency 250] [--heartbeat-ms 1000]
//         [--credentials FILE]
import { readFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { applyRoutes, endpointHealth } from './routes-table.mjs';
import { scaleTopology } from './scale-topology.mjs';

const { values } = parseArgs({
  options: {
    stream: { type: 'string' },
    agents: { type: 'string' },
    seed: { type: 'string', default: '1' },
    from: { type: 'string' },
    to: { type: 'string' },
    observations: { type: 'string', default: 'on' },
    concurrency: { type: 'string', default: '250' },
    'heartbeat-ms': { type: 'string', default: '1000' },
    credentials: { type: 'string' },
  },
});
if (!process.send) {
  process.stderr.write('agent-swarm.mjs is started by bench/scale.mjs (it needs an IPC channel)\n');
  process.exit(2);
}
const now = () => performance.timeOrigin + performance.now();
const topology = scaleTopology({ agents: Number(values.agents), seed: Number(values.seed) });
const from = Number(values.from);
const to = Number(values.to);
const observe = values.observations !== 'off';
const concurrency = Math.max(1, Number(values.concurrency));
const heartbeatMs = Math.max(100, Number(values['heartbeat-ms']));
const CONNECT_ATTEMPTS = 3;
const credentials = values.credentials ? JSON.parse(readFileSync(values.credentials, 'utf8')) : {};
const streamUrls = String(values.stream)
  .split(',')
  .map((u) => u.trim())
  .filter(Boolean);
if (streamUrls.length === 0) {
  process.stderr.write('agent-swarm.mjs: --stream needs at least one URL\n');
  process.exit(2);
}

/** Per simulated agent: its place in the topology, socket, held table and watch state. */
const agents = [];
for (let i = from; i < to; i++)
  agents.push({
    t: topology.agent(i),
    ws: undefined,
    state: 'idle',
    attempts: 0,
    table: undefined,
    acks: 0,
    seq: 0,
    watch: undefined,
  });
const byIndex = new Map(agents.map((a) => [a.t.index, a]));

const stats = {
  opened: 0,
  failed: 0,
  dropped: 0,
  routes: 0,
  fullTables: 0,
  deltaTables: 0,
  routeBytes: 0,
  nacks: 0,
  lastRoutesAt: 0,
  errors: {},
  closeCodes: {},
};
const lag = monitorEventLoopDelay({ resolution: 10 });
lag.enable();

// --- parsing: one JSON.parse per distinct message, not per agent ------------

// Today's control plane sends the same bytes to every agent; parsing them
// once per agent would make this process, not the control plane, the
// bottleneck. A few recent large messages are kept with their parse.
const parsed = [];
function parse(buf) {
  if (buf.length < 4096) return JSON.parse(buf.toString('utf8'));
  for (const c of parsed) if (c.buf.length === buf.length && c.buf.equals(buf)) return c.msg;
  const msg = JSON.parse(buf.toString('utf8'));
  parsed.unshift({ buf, msg });
  if (parsed.length > 4) parsed.pop();
  return msg;
}

// --- watches: when did each affected agent hold the change -----------------

/** The current watch: { key, service, endpointId, expect, affected, converged, stale, lost, lastAckAt, lastRecvAt, done }. */
let watch;

function checkWatch(a, recvAt, ackAt) {
  if (!watch || a.watch !== 'pending') return;
  if (endpointHealth(a.table, watch.service, watch.endpointId) !== watch.expect) return;
  a.watch = 'done';
  watch.converged++;
  watch.lastAckAt = Math.max(watch.lastAckAt, ackAt);
  watch.lastRecvAt = Math.max(watch.lastRecvAt, recvAt);
  maybeDone();
}
function maybeDone() {
  if (watch && !watch.done && watch.converged + watch.lost >= watch.affected) {
    watch.done = true;
    process.send({ event: 'watch-done', key: watch.key });
  }
}

// --- one agent ---------------------------------------------------------------

function send(a, message) {
  if (a.ws?.readyState === WebSocket.OPEN) a.ws.send(JSON.stringify(message));
}

function onMessage(a, data) {
  const recvAt = now();
  let msg;
  try {
    msg = parse(data);
  } catch {
    stats.errors.UNPARSABLE = (stats.errors.UNPARSABLE ?? 0) + 1;
    return;
  }
  if (msg.type === 'error') {
    stats.errors[msg.code] = (stats.errors[msg.code] ?? 0) + 1;
    return;
  }
  if (msg.type !== 'routes') return;
  stats.routes++;
  if (msg.baseVersion === undefined) stats.fullTables++;
  else stats.deltaTables++;
  stats.routeBytes += data.length;
  stats.lastRoutesAt = recvAt;
  const r = applyRoutes(a.table, msg);
  if (!r.ok) {
    stats.nacks++;
    send(a, { type: 'nack', version: msg.version, nonce: msg.nonce, error: r.error, code: r.code });
    return;
  }
  a.table = r.table;
  send(a, { type: 'ack', version: msg.version, nonce: msg.nonce });
  a.acks++;
  checkWatch(a, recvAt, now());
}

function connect(a) {
  a.state = 'connecting';
  a.attempts++;
  inflight++;
  const ws = new WebSocket(streamUrls[a.t.index % streamUrls.length], {
    perMessageDeflate: false,
    handshakeTimeout: 15_000,
    maxPayload: 512 * 1024 * 1024,
  });
  a.ws = ws;
  let opened = false;
  ws.on('open', () => {
    opened = true;
    inflight--;
    a.state = 'open';
    stats.opened++;
    ws.send(
      JSON.stringify({
        type: 'hello',
        protocolVersion: 1,
        agentId: a.t.agentId,
        tableVersion: a.table?.version ?? 0,
        ...(credentials[a.t.instance.service] ? { joinToken: credentials[a.t.instance.service] } : {}),
        instance: a.t.instance,
        upstreams: a.t.upstreams,
      }),
    );
    ws.send(JSON.stringify({ type: 'health', status: 'healthy' }));
    pump();
  });
  ws.on('message', (data) => onMessage(a, data));
  ws.on('error', () => undefined); // 'close' follows and says what matters
  ws.on('close', (code) => {
    if (!opened) {
      inflight--;
      if (a.attempts < CONNECT_ATTEMPTS && !stopping) {
        a.state = 'idle';
        setTimeout(() => {
          queue.push(a);
          pump();
        }, 200 * a.attempts);
      } else {
        a.state = 'failed';
        stats.failed++;
      }
      pump();
      return;
    }
    a.state = 'closed';
    if (stopping) return;
    // A real agent would reconnect; here a drop spoils the run, so it is counted and reported instead.
    stats.dropped++;
    stats.closeCodes[code] = (stats.closeCodes[code] ?? 0) + 1;
    if (a.watch === 'pending') {
      a.watch = 'lost';
      watch.lost++;
      maybeDone();
    }
  });
}

// --- opening connections at a bounded rate ---------------------------------

const queue = [...agents];
let inflight = 0;
let stopping = false;
function pump() {
  while (!stopping && inflight < concurrency && queue.length > 0) connect(queue.shift());
}

// --- heartbeats and observations, spread evenly over the period ------------

const TICK_MS = 50;
const slots = Math.max(1, Math.round(heartbeatMs / TICK_MS));
let tick = 0;
const ticker = setInterval(() => {
  const slot = tick++ % slots;
  for (let i = slot; i < agents.length; i += slots) {
    const a = agents[i];
    if (a.state !== 'open') continue;
    send(a, { type: 'heartbeat', seq: a.seq });
    if (observe) send(a, observationsOf(a));
    a.seq++;
  }
}, TICK_MS);

/** What a busy caller would report: answered calls to two endpoints of one of its upstreams, a different one each time. */
function observationsOf(a) {
  const service = a.t.upstreams[a.seq % a.t.upstreams.length];
  const pool = topology.instancesOf(service);
  const endpoints = [];
  for (let k = 0; k < Math.min(2, pool.length); k++) {
    const e = pool[(a.t.index + a.seq + k) % pool.length];
    endpoints.push({
      service,
      id: e.instance.id,
      ok: 5 + ((a.t.index + k) % 11),
      failed: 0,
      latencyMs: 1 + ((a.seq + k) % 4) * 0.5,
    });
  }
  return { type: 'observations', windowMs: heartbeatMs, endpoints };
}

// --- the parent's requests ---------------------------------------------------

function status() {
  let withTable = 0;
  let missingUpstreams = 0;
  let tableServices = 0;
  let minVersion = Infinity;
  let maxVersion = 0;
  for (const a of agents) {
    if (!a.table || a.acks === 0) continue;
    withTable++;
    const names = a.table.services;
    if (a.t.upstreams.some((u) => !names[u])) missingUpstreams++;
    tableServices += Object.keys(names).length;
    minVersion = Math.min(minVersion, a.table.version);
    maxVersion = Math.max(maxVersion, a.table.version);
  }
  const open = agents.filter((a) => a.state === 'open').length;
  return {
    agents: agents.length,
    open,
    ...stats,
    withTable,
    missingUpstreams,
    meanTableServices: withTable ? tableServices / withTable : 0,
    minVersion: withTable ? minVersion : 0,
    maxVersion,
    lagMaxMs: lag.max / 1e6,
    lagP99Ms: lag.percentile(99) / 1e6,
    rssKiB: Math.round(process.memoryUsage.rss() / 1024),
  };
}

const handlers = {
  start() {
    pump();
    return {};
  },
  status,
  resetLag() {
    lag.reset();
    return {};
  },
  watch({ key, service, endpointId, expect }) {
    watch = {
      key,
      service,
      endpointId,
      expect,
      affected: 0,
      converged: 0,
      stale: 0,
      lost: 0,
      noTable: 0,
      lastAckAt: 0,
      lastRecvAt: 0,
      done: false,
    };
    for (const a of agents) {
      a.watch = undefined;
      if (a.state !== 'open') continue;
      if (!a.table) {
        watch.noTable++;
        continue;
      }
      if (!a.table.services[service]) continue;
      watch.affected++;
      // Already as expected before the change was sent: an earlier change never reached this agent.
      if (endpointHealth(a.table, service, endpointId) === expect) {
        a.watch = 'stale';
        watch.stale++;
      } else {
        a.watch = 'pending';
      }
    }
    watch.affected -= watch.stale;
    const { affected, stale, noTable } = watch;
    maybeDone();
    return { affected, stale, noTable };
  },
  inject({ agentIndex, status: health }) {
    const a = byIndex.get(agentIndex);
    if (!a || a.state !== 'open') throw new Error(`agent ${agentIndex} is not connected here`);
    const at = now();
    a.ws.send(
      JSON.stringify({
        type: 'health',
        status: health,
        ...(health === 'unhealthy' ? { reason: 'scale bench: injected' } : {}),
      }),
    );
    return { at };
  },
  unwatch() {
    const w = watch;
    watch = undefined;
    for (const a of agents) a.watch = undefined;
    if (!w) return {};
    const { key, affected, converged, stale, lost, noTable, lastAckAt, lastRecvAt } = w;
    return { key, affected, converged, stale, lost, noTable, lastAckAt, lastRecvAt };
  },
  stop() {
    stopping = true;
    clearInterval(ticker);
    for (const a of agents) a.ws?.terminate();
    setTimeout(() => process.exit(0), 50);
    return {};
  },
};

process.on('message', (m) => {
  const h = handlers[m.op];
  try {
    if (!h) throw new Error(`unknown op ${m.op}`);
    process.send({ re: m.id, ...h(m) });
  } catch (err) {
    process.send({ re: m.id, error: err instanceof Error ? err.message : String(err) });
  }
});
// The parent is gone (crashed or killed): do not linger with open sockets.
process.on('disconnect', () => process.exit(0));
