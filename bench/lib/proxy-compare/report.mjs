// The report of bench/proxy-compare.mjs: the targets, number formats, the
// ratios of each TLS path to its plaintext counterpart, the run's header
// facts, and writing a result into docs/benchmarks.md.
import { createRequire } from 'node:module';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { findBinary, versionOf } from '../system-proxies.mjs';

export const f0 = (x) => (Number.isFinite(x) ? x.toFixed(0) : '-');
export const f1 = (x) => (Number.isFinite(x) ? x.toFixed(1) : '-');
export const f2 = (x) => (Number.isFinite(x) ? x.toFixed(2) : '-');
export const f3 = (x) => (Number.isFinite(x) ? x.toFixed(3) : '-');
export const signed = (x) => (Number.isFinite(x) ? `${x >= 0 ? '+' : ''}${x.toFixed(3)}` : '-');
export const verdict = (ok) => (ok === undefined ? 'n/a' : ok ? '**met**' : '**not met**');
export const cpuCell = (c) =>
  c.perProxy.length === 0
    ? '-'
    : c.perProxy.length === 1
      ? f1(c.total)
      : `${f1(c.total)} (${c.perProxy.map((p) => `${p.label} ${f1(p.us)}`).join(' + ')})`;

export function versions(root) {
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
export function commandLine(s) {
  const { mode, rate, duration, rounds, connections, warmup } = s;
  const args =
    mode === 'rate'
      ? [`--rate ${rate}`, `--duration ${duration}`, `--rounds ${rounds}`]
      : [`--duration ${duration}`, `--connections ${connections}`];
  if (warmup !== 1) args.push(`--warmup ${warmup}`);
  if (s.pathsGiven) args.push(`--paths ${s.paths.join(',')}`);
  return `node bench/proxy-compare.mjs ${args.join(' ')} --write`;
}

/** What the issue asks of an agent hop and of the mesh path. */
export const TARGETS = {
  agentCpuVsHaproxy: 2.5,
  meshP50AddMs: 1,
  meshP99AddMs: 3,
  meshMtlsCpuVsPlain: 1.3,
  /** One agent hop with h2 on both sides, against HAProxy in HTTP/2 mode (issue 20). */
  h2AgentCpuVsHaproxy: 2.5,
};

/** Each TLS path's plaintext counterpart, for the "vs plaintext" ratios. */
export const PLAINTEXT_OF = {
  'agent-mtls': 'agent',
  mesh: 'mesh-plain',
  'haproxy-tls': 'haproxy',
  'nginx-tls': 'nginx',
};
/** `a / b` as "1.23x", or "-" when either is missing. */
export const ratio = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${(a / b).toFixed(2)}x` : '-');
/** The ratio of a row's `pick` to its plaintext counterpart's, or "-". */
export function vsPlain(by, r, pick) {
  const plain = by[PLAINTEXT_OF[r.name]];
  return plain ? ratio(pick(r), pick(plain)) : '-';
}
/** The target on the mTLS mesh path's CPU per request, against the plaintext mesh path's, measured in the same run. */
export function mtlsTarget(by) {
  const [m, pl] = [by.mesh, by['mesh-plain']];
  const limit = TARGETS.meshMtlsCpuVsPlain;
  const ok = m && pl ? m.cpu.total <= limit * pl.cpu.total : undefined;
  return `- The mTLS mesh path costs at most ${limit}x the plaintext mesh path's CPU per request: ${m && pl ? `${f1(m.cpu.total)} µs vs ${limit} x ${f1(pl.cpu.total)} = ${f1(limit * pl.cpu.total)} µs (${f2(m.cpu.total / pl.cpu.total)}x)` : 'not measured'} — ${verdict(ok)}`;
}

/** Replaces this mode's block (`mode`: throughput or rate) inside the proxy-compare markers of the doc, keeping the other mode's block. */
export function writeDoc(file, text, mode, log) {
  const begin = '<!-- proxy-compare:begin -->';
  const end = '<!-- proxy-compare:end -->';
  const doc = readFileSync(file, 'utf8');
  const b = doc.indexOf(begin);
  const e = doc.indexOf(end);
  if (b < 0 || e < b)
    throw new Error(
      `${file} has no ${begin} ... ${end} section; add it (see the Proxy comparison section) and run again`,
    );
  let inner = doc.slice(b + begin.length, e);
  const sb = `<!-- proxy-compare:${mode}:begin -->`;
  const se = `<!-- proxy-compare:${mode}:end -->`;
  const block = `${sb}\n${text}\n${se}`;
  const ib = inner.indexOf(sb);
  const ie = inner.indexOf(se);
  if (ib >= 0 && ie > ib) inner = inner.slice(0, ib) + block + inner.slice(ie + se.length);
  else
    inner =
      mode === 'throughput' ? `\n${block}\n${inner.replace(/^\n/, '')}` : `${inner.replace(/\n$/, '')}\n\n${block}\n`;
  writeFileSync(file, doc.slice(0, b + begin.length) + inner + doc.slice(e));
  log(`wrote the ${mode} results to ${relative(process.cwd(), file) || file}`);
}
