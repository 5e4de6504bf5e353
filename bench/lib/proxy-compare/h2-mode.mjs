// The HTTP/2 measurement of bench/proxy-compare.mjs over the HTTP/2 paths
// that are ready (h2-paths.mjs): h2load per path (h2load.mjs), the proxy
// processes' CPU time per request from /proc as for the HTTP/1.1 paths, and
// ratios to HAProxy in HTTP/2 mode measured in the same run (and, when the
// HTTP/1.1 mesh path ran too, of the HTTP/2 mesh path to it).
//
// Load: `s.connections` concurrent streams, as h2load clients of 4 streams
// each (so 16 connections of HTTP/1.1 compare with 4 HTTP/2 connections of 4
// streams: the same number of requests in flight). A warm-up of `s.warmup` s
// per path is a run of its own, so its requests are not counted in the CPU.
import { cpus } from 'node:os';
import { join } from 'node:path';
import { cpuPerRequest, cpuSnapshot } from './modes.mjs';
import { h2loadVersion, runH2load } from './h2load.mjs';
import { commandLine, cpuCell, f0, f1, f3, ratio, TARGETS, verdict } from './report.mjs';
import { findBinary, versionOf } from '../system-proxies.mjs';

const STREAMS = 4;

/**
 * Measures each ready HTTP/2 path. `env` is { group, log, dir, H2_PATH_DEFS };
 * `s` the run's settings ({ duration, connections, warmup, amount?, h1Rows? }).
 * Returns `{ rows, text }` like the other modes.
 */
export async function h2Mode(env, ready, skipped, s) {
  const { group, log, dir, H2_PATH_DEFS } = env;
  const { duration, connections, warmup, amount } = s;
  const streams = Math.min(STREAMS, connections);
  const clients = Math.max(1, Math.round(connections / streams));
  const rows = [];
  for (const [i, p] of ready.entries()) {
    const base = { url: p.url, authority: p.authority, clients, streams, logFile: join(dir, `h2load-${p.name}.log`) };
    log(
      `[h2 ${i + 1}/${ready.length}] ${p.name}: ${warmup} s warm-up, then ${amount ? `${amount} requests` : `${duration} s`} at ${clients} x ${streams} streams...`,
    );
    if (warmup > 0) await runH2load({ ...base, seconds: warmup });
    const before = cpuSnapshot(p.proxies, p.appPid);
    const r = await runH2load({ ...base, ...(amount ? { amount } : { seconds: duration }) });
    group.assertAlive();
    if (r.n === 0) throw new Error(`${p.name}: no request completed`);
    const row = { ...p, ...r, cpu: cpuPerRequest(p.proxies, before, p.appPid, r.n) };
    rows.push(row);
    log(
      `    ${p.name}: ${f0(row.rps)} req/s, p50 ${f3(row.p50)} ms, p99 ${f3(row.p99)} ms, proxy CPU ${cpuCell(row.cpu)} µs/req${row.errors ? `, ${row.errors} errors` : ''}`,
    );
  }
  const by = Object.fromEntries(rows.map((r) => [r.name, r]));
  const ha = by['h2-haproxy'];
  const vsHa = (r, pick) => (ha && r.cpu.perProxy.length && r !== ha ? ratio(pick(r), pick(ha)) : '-');
  const lines = [
    '| path | route | requests | errors | req/s | req/s vs HAProxy h2 | p50 ms | p99 ms | proxy CPU µs/req | CPU/req vs HAProxy h2 | app CPU µs/req |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| ${r.label} | ${r.what} | ${r.n} | ${r.errors} | ${f0(r.rps)} | ${ha ? ratio(r.rps, ha.rps) : '-'} | ${f3(r.p50)} | ${f3(r.p99)} | ${cpuCell(r.cpu)} | ${vsHa(r, (x) => x.cpu.total)} | ${f1(r.cpu.app)} |`,
    ),
    ...skipped.map((x) => `| ${H2_PATH_DEFS[x.name].label} | skipped: ${x.why} | | | | | | | | | |`),
  ];
  const notes = [];
  const mesh = by['h2-mesh'];
  if (mesh && ha)
    notes.push(
      `- The HTTP/2 mesh path (two agents) costs ${ratio(mesh.cpu.total, ha.cpu.total)} HAProxy's HTTP/2 hop in CPU per request (${f1(mesh.cpu.total)} µs vs ${f1(ha.cpu.total)} µs); per agent: ${mesh.cpu.perProxy.map((x) => `${x.label} ${ratio(x.us, ha.cpu.total)}`).join(', ')}.`,
    );
  const one = by['h2-agent'];
  if (one) {
    const limit = TARGETS.h2AgentCpuVsHaproxy;
    // A smoke run's few requests may count no clock tick for HAProxy: then there is no verdict.
    const ok = ha && ha.cpu.total > 0 ? one.cpu.total <= limit * ha.cpu.total : undefined;
    notes.push(
      `- One agent hop with h2 on both sides costs at most ${limit}x HAProxy's HTTP/2 hop in CPU per request: ${ha ? `${f1(one.cpu.total)} µs vs ${limit} x ${f1(ha.cpu.total)} = ${f1(limit * ha.cpu.total)} µs (${ratio(one.cpu.total, ha.cpu.total)})` : 'not measured (no h2-haproxy in this run)'} — ${verdict(ok)}`,
    );
  }
  const node = by['h2-node'];
  if (node)
    notes.push(
      `- Node's http2 module alone (a minimal node:http2 relay, h2c both sides) costs ${f1(node.cpu.total)} µs per request${ha ? ` (${ratio(node.cpu.total, ha.cpu.total)} HAProxy's HTTP/2 hop)` : ''}${one ? `; the one-hop agent costs ${ratio(one.cpu.total, node.cpu.total)} that (${f1(one.cpu.total - node.cpu.total)} µs of its own)` : ''}.`,
    );
  const h1Mesh = s.h1Rows?.find((r) => r.name === 'mesh');
  if (mesh && h1Mesh)
    notes.push(
      `- The HTTP/2 mesh path against the HTTP/1.1 mesh path (mTLS, autocannon, same run): ${ratio(mesh.cpu.total, h1Mesh.cpu.total)} the CPU per request (${f1(mesh.cpu.total)} µs vs ${f1(h1Mesh.cpu.total)} µs).`,
    );
  const haBin = findBinary('haproxy');
  const header = `HTTP/2: run on ${new Date().toISOString().slice(0, 10)}, ${cpus().length} x ${cpus()[0]?.model ?? 'unknown CPU'}; Node ${process.version}, HAProxy ${haBin ? versionOf('haproxy', haBin) : 'not installed'}, h2load (nghttp2) ${h2loadVersion()}; ${clients} h2load clients x ${streams} streams, ${amount ? `${amount} requests` : `${duration} s`} per path after a ${warmup} s warm-up; latencies from h2load's per-request log (request start to the end of the response); command: \`${commandLine({ ...s, mode: 'throughput' }).replace(/ --write$/, '')}\`.`;
  return { rows, text: `${header}\n\n${lines.join('\n')}${notes.length ? `\n\n${notes.join('\n')}` : ''}` };
}
