// Part (a) of bench/growth.mjs: the CPU a request costs an agent's outbound
// listener with a small routing table against a large one, side by side in
// one run, on real processes over loopback.
//
//   app     bench/app-1k.mjs on 0.0.0.0 (1 KiB answers)
//   small   an agent whose table holds `hello` with 3 endpoints
//   large   an agent whose table holds 1000 services, `hello` with 300 endpoints
//
// Each called endpoint is the app at a loopback alias of its own (127.0.x.y,
// see tables.mjs): the agent keeps an origin, a pool and connections per
// endpoint, as with that many instances; the run checks, with `ss`, how many
// distinct endpoints the app saw connections to. The tables are given as
// the agent's persisted table (dataDir/routing-table.json, which it serves
// while its control plane, here a port nobody listens on, is away: static
// stability), so the install is the agent's own code and nothing else
// differs between the two agents. Load: autocannon through each agent's
// outbound listener (Host: hello), in rounds that alternate the agents; CPU
// per request = utime + stime of the agent from /proc/PID/stat over the
// requests answered.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { boundedCannon, getOnce, untilAlive } from '../wait-alive.mjs';
import getPort from 'get-port';
import { stringify } from 'yaml';
import { cpuSeconds } from '../process-group.mjs';
import { growthTable } from './tables.mjs';

const until = (group, what, check, timeoutMs = 30_000) => untilAlive(group, what, check, { timeoutMs, pollMs: 100 });

/** Endpoints of the app (port `port`) that process `pid` holds an established connection to now. */
function endpointsSeen(port, pid) {
  const out = execFileSync('ss', ['-Htnp', 'state', 'established', `( dport = :${port} )`], { encoding: 'utf8' });
  const seen = new Set();
  for (const line of out.split('\n')) {
    if (!line.includes(`pid=${pid},`)) continue;
    const peer = line.trim().split(/\s+/)[3];
    if (peer) seen.add(peer);
  }
  return seen.size;
}

/** GET `url` with Host: hello (fetch cannot set Host): `{ status, bytes }`. */
const getHello = (url) => getOnce(url, { host: 'hello' });

const cannon = (url, connections, { seconds, amount }) =>
  boundedCannon({ url, headers: { host: 'hello' }, connections, seconds, amount });

/**
 * Starts the app and the two agents in `group` (files under `dir`), loads
 * each in `rounds` alternating rounds, and returns per agent `{ us: [...],
 * rps: [...], errors, seen }` (µs of agent CPU per request per round, req/s,
 * non-2xx or errors, endpoints the app saw connections to). `cpuProfDir`:
 * each agent writes a V8 CPU profile there when it stops.
 */
export async function requestCost({
  group,
  dir,
  root,
  sizes,
  connections,
  seconds,
  amount,
  warmup,
  rounds,
  cpuProfDir,
}) {
  const appPort = await getPort({ host: '127.0.0.1' });
  group.start('app-1k', process.execPath, [
    join(root, 'bench/app-1k.mjs'),
    '--port',
    String(appPort),
    '--host',
    '0.0.0.0',
  ]);
  const agents = [];
  for (const size of sizes) {
    const [port, adminPort, nobody] = [await getPort(), await getPort(), await getPort()];
    const dataDir = join(dir, size.name);
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const table = growthTable({ services: size.services, calledEndpoints: size.endpoints, appPort });
    writeFileSync(join(dataDir, 'routing-table.json'), JSON.stringify(table));
    const config = join(dir, `${size.name}.yaml`);
    writeFileSync(
      config,
      stringify({
        agentId: `growth-${size.name}`,
        service: 'client',
        upstreams: [{ service: 'hello' }],
        listeners: { outbound: { host: '127.0.0.1', port }, admin: { host: '127.0.0.1', port: adminPort } },
        controlPlane: { url: `ws://127.0.0.1:${nobody}/v1/stream` },
        dataDir,
        log: { level: 'error' },
      }),
      { mode: 0o600 },
    );
    const prof = cpuProfDir
      ? ['--cpu-prof', '--cpu-prof-dir', cpuProfDir, '--cpu-prof-name', `agent-${size.name}.cpuprofile`]
      : [];
    const child = group.start(`agent ${size.name}`, process.execPath, [
      ...prof,
      join(root, 'agent/dist/main.js'),
      '--config',
      config,
    ]);
    agents.push({ ...size, pid: child.pid, url: `http://127.0.0.1:${port}/`, us: [], rps: [], errors: 0, seen: 0 });
  }
  for (const a of agents)
    await until(group, `agent ${a.name} to serve hello from its persisted table`, async () => {
      const r = await getHello(a.url);
      return (r.status === 200 && r.bytes === 1024) || r;
    });
  if (warmup > 0) for (const a of agents) await cannon(a.url, connections, { seconds: warmup });
  for (let round = 0; round < rounds; round++) {
    for (const a of round % 2 === 0 ? agents : [...agents].reverse()) {
      const before = cpuSeconds(a.pid);
      const r = await cannon(a.url, connections, { seconds, amount });
      const cpu = cpuSeconds(a.pid) - before;
      const n = r.requests.total;
      a.errors += r.errors + r.timeouts + r.non2xx;
      a.us.push((cpu / Math.max(1, n)) * 1e6);
      a.rps.push(r.requests.average);
      a.seen = Math.max(a.seen, endpointsSeen(appPort, a.pid));
    }
  }
  return agents;
}
