// The two measurements of bench/proxy-compare.mjs over the paths that are
// ready (bench/lib/proxy-compare/paths.mjs), and their report: a markdown
// table with the targets, optionally written into docs/benchmarks.md.
//
// `env` is { app, group, log, root, PATH_DEFS }; `s`, the settings of one
// run: { mode, duration, connections, warmup, amount?, rate, rounds, paths,
// pathsGiven }.
import { Agent } from 'node:http';
import { Agent as TlsAgent } from 'node:https';
import { cpus } from 'node:os';
import { boundedCannon } from '../wait-alive.mjs';
import { fixedRateLoad, percentile } from '../fixed-rate-load.mjs';
import { cpuSeconds } from '../process-group.mjs';
import {
  commandLine,
  cpuCell,
  f0,
  f1,
  f2,
  f3,
  mtlsTarget,
  signed,
  TARGETS,
  verdict,
  versions,
  vsPlain,
} from './report.mjs';

/** CPU seconds used so far by each proxy of a path, and by the app. */
export function cpuSnapshot(proxies, appPid) {
  return {
    proxies: proxies.map((p) => {
      const pids = p.pids();
      return { pids, s: pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0) };
    }),
    app: cpuSeconds(appPid),
  };
}
/** µs of CPU per request between two snapshots (the same pids in both). */
export function cpuPerRequest(proxies, before, appPid, n) {
  const perProxy = proxies.map((p, i) => {
    const s = before.proxies[i].pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0) - before.proxies[i].s;
    return { label: p.label, us: (s / n) * 1e6 };
  });
  return {
    perProxy,
    total: perProxy.reduce((sum, p) => sum + p.us, 0),
    app: ((cpuSeconds(appPid) - before.app) / n) * 1e6,
  };
}

/** A bounded autocannon run (see boundedCannon); `tls`: client TLS options. */
const cannon = (url, headers, connections, { seconds, amount }, tls) =>
  boundedCannon({ url, headers, connections, seconds, amount, tls });

// --- the two modes ---------------------------------------------------------

/**
 * Throughput mode: autocannon at `s.connections` for `s.duration` s (or
 * `s.amount` requests) per path. Returns `{ rows, text }`: a row per path
 * (`n` requests, `errors`), the markdown of the report.
 */
export async function throughputMode(env, ready, skipped, s) {
  const { app, group, log, root, PATH_DEFS } = env;
  const { duration, connections, warmup, amount } = s;
  const load = amount ? { amount } : { seconds: duration };
  const rows = [];
  // A first warm-up of every path, so that no path pays for the first use of a process it shares with another (agent A
  // serves both mesh paths: measured first and cold, the mTLS one cost up to 1.6x the plaintext one, and 1.0-1.4x
  // measured second); each path is warmed up again right before its own measurement.
  if (warmup > 0) {
    for (const p of ready) {
      log(`warm-up ${p.name}: ${warmup} s at ${connections} connections...`);
      await cannon(p.url, p.headers, connections, { seconds: warmup }, p.tls);
    }
  }
  for (const [i, p] of ready.entries()) {
    log(
      `[${i + 1}/${ready.length}] ${p.name}: ${warmup} s warm-up, then ${amount ? `${amount} requests` : `${duration} s`} at ${connections} connections...`,
    );
    if (warmup > 0) await cannon(p.url, p.headers, connections, { seconds: warmup }, p.tls);
    const appPid = p.appPid ?? (await app()).pid;
    const before = cpuSnapshot(p.proxies, appPid);
    const handshakesBefore = await p.handshakes?.();
    const r = await cannon(p.url, p.headers, connections, load, p.tls);
    const handshakes = p.handshakes ? (await p.handshakes()) - handshakesBefore : undefined;
    group.assertAlive();
    const n = r.requests.total;
    if (n === 0) throw new Error(`${p.name}: no request completed (errors ${r.errors}, timeouts ${r.timeouts})`);
    const cpu = cpuPerRequest(p.proxies, before, appPid, n);
    const row = {
      ...p,
      n,
      errors: r.errors + r.timeouts + r.non2xx,
      rps: n / (r.duration || duration),
      p50: r.latency.p50,
      p99: r.latency.p99,
      cpu,
      handshakes,
    };
    rows.push(row);
    log(
      `    ${p.name}: ${f0(row.rps)} req/s, p50 ${row.p50} ms, p99 ${row.p99} ms, proxy CPU ${cpuCell(cpu)} µs/req${row.errors ? `, ${row.errors} errors` : ''}`,
    );
  }
  const by = Object.fromEntries(rows.map((r) => [r.name, r]));
  const ha = by.haproxy;
  const lines = [
    '| path | route | requests | errors | req/s | req/s vs HAProxy | p50 ms | p99 ms | proxy CPU µs/req | CPU/req vs HAProxy | CPU/req vs plaintext | app CPU µs/req |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| ${r.label} | ${r.what} | ${r.n} | ${r.errors} | ${f0(r.rps)} | ${ha ? `${f2(r.rps / ha.rps)}x` : '-'} | ${r.p50} | ${r.p99} | ${cpuCell(r.cpu)} | ${ha && r.cpu.perProxy.length ? `${f2(r.cpu.total / ha.cpu.total)}x` : '-'} | ${vsPlain(by, r, (x) => x.cpu.total)} | ${f1(r.cpu.app)} |`,
    ),
    ...skipped.map((s) => `| ${PATH_DEFS[s.name].label} | skipped: ${s.why} | | | | | | | | | | |`),
  ];
  const agent = by.agent;
  const cpuOk = agent && ha ? agent.cpu.total <= TARGETS.agentCpuVsHaproxy * ha.cpu.total : undefined;
  const fastOk = agent && by.fastify ? agent.cpu.total < by.fastify.cpu.total : undefined;
  const targets = [
    `- One agent hop costs at most ${TARGETS.agentCpuVsHaproxy}x HAProxy's CPU per request: ${agent && ha ? `${f1(agent.cpu.total)} µs vs ${TARGETS.agentCpuVsHaproxy} x ${f1(ha.cpu.total)} = ${f1(TARGETS.agentCpuVsHaproxy * ha.cpu.total)} µs (${f2(agent.cpu.total / ha.cpu.total)}x)` : 'not measured'} — ${verdict(cpuOk)}`,
    `- One agent hop costs less CPU per request than @fastify/http-proxy with defaults: ${agent && by.fastify ? `${f1(agent.cpu.total)} µs vs ${f1(by.fastify.cpu.total)} µs (${f2(agent.cpu.total / by.fastify.cpu.total)}x)` : 'not measured'} — ${verdict(fastOk)}`,
    `- Both: ${verdict(cpuOk === undefined || fastOk === undefined ? undefined : cpuOk && fastOk)}`,
    mtlsTarget(by),
  ];
  const shaken = rows.filter((r) => r.handshakes !== undefined);
  if (shaken.length > 0)
    targets.push(
      '',
      `mTLS handshakes at the callee agent during the measured runs (connections are reused; new ones only replace closed ones): ${shaken.map((r) => `${r.label} ${r.handshakes}`).join(', ')}.`,
    );
  const header = `Throughput: run on ${new Date().toISOString().slice(0, 10)}, ${cpus().length} x ${cpus()[0]?.model ?? 'unknown CPU'}; ${versions(root)}; ${connections} connections, ${duration} s per path after a ${warmup} s warm-up of every path and another of the path; latencies from autocannon (whole ms); command: \`${commandLine(s)}\`.`;
  return { rows, text: `${header}\n\n${lines.join('\n')}\n\nTargets:\n\n${targets.join('\n')}` };
}

/**
 * Rate mode: `s.rate` req/s for `s.duration` s per path in `s.rounds`
 * alternating rounds (bench/lib/fixed-rate-load.mjs). Returns `{ rows, text }`.
 */
export async function rateMode(env, ready, skipped, s) {
  const { app, group, log, root, PATH_DEFS } = env;
  const { rate, duration, rounds, warmup } = s;
  const slice = duration / rounds;
  const acc = new Map(
    ready.map((p) => [p.name, { sent: 0, ok: 0, errors: 0, elapsed: 0, lat: [], cpuSamples: [], handshakes: 0 }]),
  );
  const agents = new Map(
    ready.map((p) => [
      p.name,
      p.tls
        ? new TlsAgent({ keepAlive: true, maxSockets: 64, ...p.tls })
        : new Agent({ keepAlive: true, maxSockets: 64 }),
    ]),
  );
  try {
    if (warmup > 0) {
      for (const p of ready) {
        log(`warm-up ${p.name}: ${rate} req/s for ${warmup} s...`);
        await fixedRateLoad({ url: p.url, headers: p.headers, rate, seconds: warmup, agent: agents.get(p.name) });
      }
    }
    const plainAppPid = (await app()).pid;
    for (let round = 1; round <= rounds; round++) {
      for (const p of ready) {
        log(`round ${round}/${rounds} ${p.name}: ${rate} req/s for ${f2(slice)} s...`);
        const appPid = p.appPid ?? plainAppPid;
        const before = cpuSnapshot(p.proxies, appPid);
        const handshakesBefore = await p.handshakes?.();
        const r = await fixedRateLoad({
          url: p.url,
          headers: p.headers,
          rate,
          seconds: slice,
          agent: agents.get(p.name),
        });
        group.assertAlive();
        const a = acc.get(p.name);
        a.sent += r.sent;
        a.ok += r.ok;
        a.errors += r.errors;
        a.elapsed += r.elapsedS;
        a.lat.push(r.latenciesMs);
        if (p.handshakes) a.handshakes += (await p.handshakes()) - handshakesBefore;
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
    const perProxy = p.proxies.map((px, i) => ({
      label: px.label,
      us: a.cpuSamples.reduce((s, c) => s + c.cpu.perProxy[i].us * c.n, 0) / n,
    }));
    const cpu = { perProxy, total: perProxy.reduce((s, x) => s + x.us, 0) };
    return {
      ...p,
      sent: a.sent,
      errors: a.errors,
      rps: a.sent / a.elapsed,
      p50: percentile(all, 50),
      p90: percentile(all, 90),
      p99: percentile(all, 99),
      max: all[all.length - 1],
      cpu,
      handshakes: p.handshakes ? a.handshakes : undefined,
    };
  });
  for (const r of rows)
    log(
      `    ${r.name}: p50 ${f3(r.p50)} ms, p99 ${f3(r.p99)} ms, proxy CPU ${cpuCell(r.cpu)} µs/req${r.errors ? `, ${r.errors} errors` : ''}`,
    );
  const direct = rows.find((r) => r.name === 'direct');
  const byName = Object.fromEntries(rows.map((r) => [r.name, r]));
  const lines = [
    '| path | route | requests | errors | req/s sent | p50 ms | p90 ms | p99 ms | max ms | p50 over direct ms | p99 over direct ms | p50 vs plaintext | p99 vs plaintext | proxy CPU µs/req | CPU/req vs plaintext |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| ${r.label} | ${r.what} | ${r.sent} | ${r.errors} | ${f0(r.rps)} | ${f3(r.p50)} | ${f3(r.p90)} | ${f3(r.p99)} | ${f3(r.max)} | ${direct && r !== direct ? signed(r.p50 - direct.p50) : '-'} | ${direct && r !== direct ? signed(r.p99 - direct.p99) : '-'} | ${vsPlain(byName, r, (x) => x.p50)} | ${vsPlain(byName, r, (x) => x.p99)} | ${cpuCell(r.cpu)} | ${vsPlain(byName, r, (x) => x.cpu.total)} |`,
    ),
    ...skipped.map((s) => `| ${PATH_DEFS[s.name].label} | skipped: ${s.why} | | | | | | | | | | | | | |`),
  ];
  const mesh = byName.mesh;
  const d50 = mesh && direct ? mesh.p50 - direct.p50 : undefined;
  const d99 = mesh && direct ? mesh.p99 - direct.p99 : undefined;
  const targets = [
    `- At ${rate} req/s the mesh path (mTLS, the default) adds at most ${TARGETS.meshP50AddMs} ms at p50 over direct: ${d50 === undefined ? 'not measured' : `${signed(d50)} ms`} — ${verdict(d50 === undefined ? undefined : d50 <= TARGETS.meshP50AddMs)}`,
    `- At ${rate} req/s the mesh path (mTLS, the default) adds at most ${TARGETS.meshP99AddMs} ms at p99 over direct: ${d99 === undefined ? 'not measured' : `${signed(d99)} ms`} — ${verdict(d99 === undefined ? undefined : d99 <= TARGETS.meshP99AddMs)}`,
    mtlsTarget(byName),
  ];
  const shaken = rows.filter((r) => r.handshakes !== undefined);
  if (shaken.length > 0)
    targets.push(
      '',
      `mTLS handshakes at the callee agent during the measured rounds (a connection idle between rounds may be closed and made again): ${shaken.map((r) => `${r.label} ${r.handshakes}`).join(', ')}.`,
    );
  const header = `Fixed rate: run on ${new Date().toISOString().slice(0, 10)}, ${cpus().length} x ${cpus()[0]?.model ?? 'unknown CPU'}; ${versions(root)}; ${rate} req/s, ${duration} s per path in ${rounds} alternating rounds after a ${warmup} s warm-up; latencies timed with hrtime, write to last body byte; command: \`${commandLine(s)}\`.`;
  return { rows, text: `${header}\n\n${lines.join('\n')}\n\nTargets:\n\n${targets.join('\n')}` };
}
